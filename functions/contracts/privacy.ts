/**
 * What the privacy budget ledger stores: one append-only log per data source, each entry a spend
 * (or a refused one) that carries the source's whole accounting state after it.
 */
import type { Mechanism } from '../core/privacy/mechanisms.ts';
import * as z from './zod.ts';

/**
 * A ledger's name: the data source it accounts for (a config's `data.source`, such as
 * `s3://bucket/credit/` or `synthetic:credit?rows=20000&seed=42`, or a name of your own).
 */
export const ledgerNameSchema = z
  .string()
  .check(z.minLength(1), z.maxLength(512), z.regex(/^[^\s#]+$/, 'no spaces or "#"'));

const positive = () => z.number().check(z.positive());
const whole = () => z.int().check(z.nonnegative());

export const mechanismSchema: z.ZodMiniType<Mechanism> = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('sampled-gaussian'),
    noiseMultiplier: positive(),
    sampleRate: z.number().check(z.positive(), z.lte(1)),
    steps: whole(),
  }),
  z.object({ kind: z.literal('gaussian'), noiseMultiplier: positive(), count: whole() }),
  z.object({
    kind: z.literal('discrete-gaussian'),
    sigma: positive(),
    sensitivity: positive(),
    count: whole(),
  }),
  z.object({ kind: z.literal('pure'), epsilon: positive(), count: whole() }),
]);

/** A data source's total: ε at δ, over every private release ever made from it. */
export const privacyBudgetSchema = z.object({
  epsilon: positive(),
  delta: z.number().check(z.positive(), z.lt(1)),
});
export type PrivacyBudget = z.infer<typeof privacyBudgetSchema>;

/** What a spend was for, so the audit can answer "who spent what on this data". */
export interface SpendPurpose {
  /** e.g. `training`, `pipeline-statistics`, `monitoring`. */
  readonly kind: string;
  readonly model?: string;
  readonly version?: number;
  /** The run that spent (a pipeline execution, a CLI run). */
  readonly run?: string;
}

/** The accounting state after an entry: the RDP of every granted spend, composed. */
export interface LedgerState {
  /** Which orders the curve is over; Opacus's defaults. */
  readonly orders: 'opacus-default';
  /** Every granted release's RDP, composed. */
  readonly rdp: readonly number[];
  /** The same without the pure-ε releases, and their ε summed: a second bound (see the ledger). */
  readonly gaussianRdp: readonly number[];
  readonly pureEpsilon: number;
  readonly spends: number;
  readonly refusals: number;
  /** Recent idempotency keys → the seq of the spend they made, so a retried step spends once. */
  readonly idempotency: Readonly<Record<string, number>>;
}

export interface LedgerEntry {
  readonly ledger: string;
  readonly seq: number;
  readonly at: string;
  readonly actor: string;
  readonly reason: string;
  readonly type: 'spent' | 'refused';
  readonly mechanism: Mechanism;
  readonly purpose: SpendPurpose;
  /** The budget in force when the entry was decided. */
  readonly budget: PrivacyBudget;
  /** ε of the source at the budget's δ before this entry, and after it (as it would be, if refused). */
  readonly epsilonBefore: number;
  readonly epsilonAfter: number;
  /** The best order of `epsilonAfter`'s RDP part; absent when only pure-ε releases were made. */
  readonly order?: number;
  readonly idempotencyKey?: string;
  readonly state: LedgerState;
}

export const PRIVACY_SPENT_EVENT = 'keel.privacy.spent';
export const PRIVACY_REFUSED_EVENT = 'keel.privacy.refused';
