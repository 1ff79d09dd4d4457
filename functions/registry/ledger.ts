/**
 * The privacy budget ledger: what every private release (a DP training run, a DP statistic, a
 * noisy monitoring count) has spent of each data source's budget, and the refusals.
 *
 * Design, as the model registry's: one append-only log per data source, with a conditional
 * write on the next sequence number as the only commit point. Each entry carries the source's
 * accounting state after it, so the next spender decides against exactly what it appends
 * after and a lost race is retried; two runs racing for the last of a budget cannot both get it.
 *
 * - **What is kept is an RDP curve**, not a sum of ε: every mechanism's Rényi DP over Opacus's
 *   orders adds order by order, and converting the composed curve to (ε, δ) once is far tighter
 *   than adding each release's ε: eight DP-SGD runs calibrated to ε = 1 at δ = 10⁻⁵ (q = 0.01,
 *   1,000 steps) compose to ε ≈ 3.0, not 8.
 * - **A spend is granted before the data is touched** and stays spent if the run then fails: the
 *   ledger may overstate what was spent, never understate it.
 * - **A refused spend is appended too**, with the ε it would have reached, so the audit shows who
 *   asked for what. It changes nothing but the refusal count.
 * - **Idempotency keys** make a repeated request spend once, for a caller whose repeat releases
 *   nothing new. Keel's own releases do not use them: a retried training or check draws new
 *   noise, a second release, and spends again.
 * - The budget is the caller's (the config's `data.privacy`); each entry records the one in force.
 */
import {
  type LedgerEntry,
  type LedgerState,
  ledgerNameSchema,
  mechanismSchema,
  PRIVACY_REFUSED_EVENT,
  PRIVACY_SPENT_EVENT,
  type PrivacyBudget,
  privacyBudgetSchema,
  type SpendPurpose,
} from '../contracts/privacy.ts';
import type { Attribution } from '../contracts/registry.ts';
import { type Mechanism, mechanismCurve } from '../core/privacy/mechanisms.ts';
import { composeRdp, DEFAULT_ORDERS, epsilonOf } from '../core/privacy/rdp.ts';
import { ConflictError, type SchemaIssues, ValidationError } from '../kernel/errors.ts';
import { appendOptimistically } from '../kernel/optimistic.ts';
import type { EventBus } from '../ports/event-bus.ts';
import type { LedgerStore } from '../ports/ledger-store.ts';
import type { Page } from '../ports/registry-store.ts';

export const LEDGER_EVENT_SOURCE = 'keel.privacy';
/** Idempotency keys remembered per ledger. */
export const LEDGER_IDEMPOTENCY_LIMIT = 200;

export const EMPTY_LEDGER: LedgerState = {
  orders: 'opacus-default',
  rdp: DEFAULT_ORDERS.map(() => 0),
  gaussianRdp: DEFAULT_ORDERS.map(() => 0),
  pureEpsilon: 0,
  spends: 0,
  refusals: 0,
  idempotency: {},
};

/** A spend the budget cannot carry; the refusal is in the ledger's log. */
export class PrivacyBudgetExceededError extends ConflictError {
  readonly ledger: string;
  readonly entry: LedgerEntry;

  constructor(entry: LedgerEntry) {
    super(
      `${entry.ledger}: this release would bring the data source to ε = ${entry.epsilonAfter.toFixed(3)} at δ = ${entry.budget.delta}, over its budget of ε = ${entry.budget.epsilon} (ε = ${entry.epsilonBefore.toFixed(3)} spent before it); the refusal is recorded as entry ${entry.seq}`,
    );
    this.ledger = entry.ledger;
    this.entry = entry;
  }
}

/** What a spend asks of the ledger. */
export interface SpendRequest {
  readonly mechanism: Mechanism;
  readonly budget: PrivacyBudget;
  readonly purpose: SpendPurpose;
  /** The same key spends once; a retry gets the first spend back. @default none */
  readonly idempotencyKey?: string;
}

export type SpendDecision =
  | { readonly replay: number }
  | {
      readonly type: 'spent' | 'refused';
      readonly state: LedgerState;
      readonly epsilonBefore: number;
      readonly epsilonAfter: number;
      readonly order?: number;
    };

/** ε of a curve at δ; 0 for a curve of nothing. */
function curveEpsilon(rdp: readonly number[], delta: number): { epsilon: number; order?: number } {
  if (rdp.every((v) => v === 0)) return { epsilon: 0 };
  return epsilonOf(rdp, delta);
}

/**
 * ε of the ledger at δ, the tighter of two valid bounds: every release composed in RDP and
 * converted once; or the Gaussian releases so, plus the pure releases' ε by basic composition.
 * The second matters for pure ε-DP (discrete Laplace) releases, whose RDP converts to more than
 * their ε at any finite order (one ε = 0.3 release converts to 0.44 at δ = 10⁻⁶).
 */
export function ledgerEpsilon(state: LedgerState, delta: number): { epsilon: number; order?: number } {
  const all = curveEpsilon(state.rdp, delta);
  const split = curveEpsilon(state.gaussianRdp, delta);
  const basic = split.epsilon + state.pureEpsilon;
  // The order is that of the RDP part of the bound; none when only pure releases were made.
  return basic < all.epsilon ? { epsilon: basic, ...(split.order ? { order: split.order } : {}) } : all;
}

/**
 * The rule, pure: grant the spend when the source's composed RDP, with it, converts to at most
 * the budget's ε at its δ; refuse it otherwise; replay a key already spent.
 */
export function decideSpend(state: LedgerState, request: SpendRequest): SpendDecision {
  const key = request.idempotencyKey;
  const replay = key === undefined ? undefined : state.idempotency[key];
  if (replay !== undefined) return { replay };
  const curve = mechanismCurve(request.mechanism);
  if (curve.some((v) => !Number.isFinite(v)))
    throw new ValidationError('The release is not private', [
      { path: 'mechanism', message: 'its Rényi divergence is unbounded at some order: add noise' },
    ]);
  const m = request.mechanism;
  const after: LedgerState = {
    ...state,
    rdp: composeRdp(state.rdp, curve),
    gaussianRdp: m.kind === 'pure' ? state.gaussianRdp : composeRdp(state.gaussianRdp, curve),
    pureEpsilon: state.pureEpsilon + (m.kind === 'pure' ? m.epsilon * m.count : 0),
  };
  const before = ledgerEpsilon(state, request.budget.delta);
  const reached = ledgerEpsilon(after, request.budget.delta);
  const common = {
    epsilonBefore: before.epsilon,
    epsilonAfter: reached.epsilon,
    ...(reached.order ? { order: reached.order } : {}),
  };
  if (reached.epsilon > request.budget.epsilon)
    return { type: 'refused', state: { ...state, refusals: state.refusals + 1 }, ...common };
  let idempotency = state.idempotency;
  if (key !== undefined) {
    const kept = Object.entries(state.idempotency).slice(-(LEDGER_IDEMPOTENCY_LIMIT - 1));
    // Every entry is a spend or a refusal, so this one's seq is their count plus one.
    idempotency = Object.fromEntries([...kept, [key, state.spends + state.refusals + 1]]);
  }
  return {
    type: 'spent',
    state: { ...after, spends: state.spends + 1, idempotency },
    ...common,
  };
}

export interface PrivacyLedgerOptions {
  readonly store: LedgerStore;
  /** Where spends and refusals are announced (EventBridge in AWS). @default none */
  readonly eventBus?: EventBus;
  /** @default `() => new Date()` */
  readonly now?: () => Date;
  /** Appends tried before giving up under contention. @default 50 */
  readonly maxAttempts?: number;
  /** Called when announcing fails after the entry was committed. @default ignore */
  readonly onPublishError?: (error: unknown, entry: LedgerEntry) => void;
}

/** Where a data source stands against a budget. */
export interface LedgerBalance {
  readonly ledger: string;
  readonly budget: PrivacyBudget;
  readonly epsilon: number;
  readonly order?: number;
  readonly remaining: number;
  readonly spends: number;
  readonly refusals: number;
  readonly lastSeq: number;
}

function validate<T>(
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: SchemaIssues } },
  value: unknown,
  path: string,
  what: string,
): T {
  const result = schema.safeParse(value);
  if (!result.success) throw ValidationError.fromZod(`Invalid ${what}`, result.error, { prefix: path });
  return result.data;
}

export class PrivacyLedger {
  readonly #store: LedgerStore;
  readonly #eventBus: EventBus | undefined;
  readonly #now: () => Date;
  readonly #maxAttempts: number;
  readonly #onPublishError: (error: unknown, entry: LedgerEntry) => void;

  constructor(options: PrivacyLedgerOptions) {
    this.#store = options.store;
    this.#eventBus = options.eventBus;
    this.#now = options.now ?? (() => new Date());
    this.#maxAttempts = options.maxAttempts ?? 50;
    this.#onPublishError = options.onPublishError ?? (() => undefined);
  }

  /**
   * Spends from `ledger`'s budget, or refuses: the refusal is appended and then thrown as a
   * {@link PrivacyBudgetExceededError}. Returns the entry that granted it (the first one, for a
   * replayed idempotency key).
   */
  async spend(ledger: string, request: SpendRequest, attribution: Attribution): Promise<LedgerEntry> {
    validate(ledgerNameSchema, ledger, 'ledger', 'ledger name');
    validate(mechanismSchema, request.mechanism, 'mechanism', 'mechanism');
    validate(privacyBudgetSchema, request.budget, 'budget', 'privacy budget');
    if (!attribution.actor?.trim() || !attribution.reason?.trim())
      throw new ValidationError('Attribution is incomplete', [
        { path: 'attribution', message: 'say who spends and why; it goes into the ledger' },
      ]);
    const { entry, replayed } = await appendOptimistically<{ entry: LedgerEntry; replayed: boolean }>(
      async () => {
        const last = await this.#store.last(ledger);
        const decision = decideSpend(last?.state ?? EMPTY_LEDGER, request);
        if ('replay' in decision)
          return { value: { entry: await this.#entry(ledger, decision.replay), replayed: true } };
        const next: LedgerEntry = {
          ledger,
          seq: (last?.seq ?? 0) + 1,
          at: this.#now().toISOString(),
          actor: attribution.actor,
          reason: attribution.reason,
          type: decision.type,
          mechanism: request.mechanism,
          purpose: request.purpose,
          budget: request.budget,
          epsilonBefore: decision.epsilonBefore,
          epsilonAfter: decision.epsilonAfter,
          ...(decision.order ? { order: decision.order } : {}),
          ...(request.idempotencyKey !== undefined ? { idempotencyKey: request.idempotencyKey } : {}),
          state: decision.state,
        };
        return (await this.#store.append(next)) ? { value: { entry: next, replayed: false } } : 'lost';
      },
      {
        maxAttempts: this.#maxAttempts,
        baseBackoffMs: 10,
        maxBackoffMs: 1000,
        gaveUp: () =>
          new ConflictError(`${ledger}: gave up after ${this.#maxAttempts} attempts under contention`),
      },
    );
    if (replayed) return entry;
    await this.#publish(entry);
    if (entry.type === 'refused') throw new PrivacyBudgetExceededError(entry);
    return entry;
  }

  /** Where `ledger` stands against `budget` (ε composed over every granted spend). */
  async balance(ledger: string, budget: PrivacyBudget): Promise<LedgerBalance> {
    validate(ledgerNameSchema, ledger, 'ledger', 'ledger name');
    validate(privacyBudgetSchema, budget, 'budget', 'privacy budget');
    const last = await this.#store.last(ledger);
    const state = last?.state ?? EMPTY_LEDGER;
    const { epsilon, order } = ledgerEpsilon(state, budget.delta);
    return {
      ledger,
      budget,
      epsilon,
      ...(order ? { order } : {}),
      remaining: Math.max(0, budget.epsilon - epsilon),
      spends: state.spends,
      refusals: state.refusals,
      lastSeq: last?.seq ?? 0,
    };
  }

  /** The ledger's entries, oldest first. */
  async entries(
    ledger: string,
    options: { cursor?: string; limit?: number } = {},
  ): Promise<Page<LedgerEntry>> {
    validate(ledgerNameSchema, ledger, 'ledger', 'ledger name');
    const afterSeq = options.cursor === undefined ? 0 : Number(options.cursor);
    return this.#store.entries(ledger, { afterSeq, ...(options.limit ? { limit: options.limit } : {}) });
  }

  async #entry(ledger: string, seq: number): Promise<LedgerEntry> {
    const page = await this.#store.entries(ledger, { afterSeq: seq - 1, limit: 1 });
    const entry = page.items[0];
    if (entry?.seq !== seq) throw new ConflictError(`${ledger}: entry ${seq} is missing from the log`);
    return entry;
  }

  async #publish(entry: LedgerEntry): Promise<void> {
    if (!this.#eventBus) return;
    try {
      await this.#eventBus.publish([
        {
          source: LEDGER_EVENT_SOURCE,
          detailType: entry.type === 'spent' ? PRIVACY_SPENT_EVENT : PRIVACY_REFUSED_EVENT,
          detail: {
            ledger: entry.ledger,
            seq: entry.seq,
            type: entry.type,
            purpose: entry.purpose,
            budget: entry.budget,
            epsilonBefore: entry.epsilonBefore,
            epsilonAfter: entry.epsilonAfter,
            actor: entry.actor,
          },
        },
      ]);
    } catch (error) {
      this.#onPublishError(error, entry);
    }
  }
}
