/**
 * A private training run's spend, asked of its data source's ledger before a row is touched:
 * the one path the pipeline, the bootstrap's fallback and `keel train --ledger` share.
 */
import type { PrivacyBudget, SpendPurpose } from '../contracts/privacy.ts';
import type { Attribution } from '../contracts/registry.ts';
import type { Table } from '../core/data/table.ts';
import { privateTrainingPlan, type TrainOptions } from '../core/training/train.ts';
import { ValidationError } from '../kernel/errors.ts';
import type { PrivacyLedger } from './ledger.ts';

export interface TrainingSpend {
  readonly ledger: string;
  readonly budget: PrivacyBudget;
  readonly purpose: SpendPurpose;
  /** The same key spends once (a retried step gets its grant back). @default none */
  readonly idempotencyKey?: string;
  /** Who spends; the reason is completed with what the run spends. */
  readonly attribution: Attribution;
}

/**
 * Plans `options`' DP-SGD run on `table`, has the ledger grant it (or refuse it: the refusal is
 * recorded and thrown), and returns the options that train exactly the granted mechanism.
 */
export async function grantPrivateTraining(
  ledger: PrivacyLedger,
  table: Table,
  options: TrainOptions,
  spend: TrainingSpend,
): Promise<TrainOptions> {
  const privacy = options.privacy;
  if (!privacy)
    throw new ValidationError('Not a private training run', [
      { path: 'privacy', message: 'give the budget' },
    ]);
  const plan = privateTrainingPlan(table, options);
  const mechanism = {
    kind: 'sampled-gaussian' as const,
    noiseMultiplier: plan.noiseMultiplier,
    sampleRate: plan.sampleRate,
    steps: plan.steps,
  };
  const entry = await ledger.spend(
    spend.ledger,
    {
      mechanism,
      budget: spend.budget,
      purpose: spend.purpose,
      ...(spend.idempotencyKey !== undefined ? { idempotencyKey: spend.idempotencyKey } : {}),
    },
    {
      actor: spend.attribution.actor,
      reason: `${spend.attribution.reason}: DP-SGD, ε = ${plan.epsilon.toFixed(3)} at δ = ${privacy.delta} on ${plan.rows} rows`,
    },
  );
  return {
    ...options,
    privacy: { ...privacy, granted: { ledger: spend.ledger, seq: entry.seq, mechanism } },
  };
}
