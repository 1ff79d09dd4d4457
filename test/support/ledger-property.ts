import fc from 'fast-check';
import { expect } from 'vitest';
import type { PrivacyBudget } from '../../functions/contracts/privacy.ts';
import { type Mechanism, mechanismCurve } from '../../functions/core/privacy/mechanisms.ts';
import { composeRdp, DEFAULT_ORDERS, epsilonOf } from '../../functions/core/privacy/rdp.ts';
import { PrivacyBudgetExceededError, type PrivacyLedger } from '../../functions/registry/ledger.ts';

/**
 * Model-based property of the privacy ledger: any sequence of spends is granted or refused as a
 * reference written from the rule (compose every granted curve, convert once, compare with the
 * budget) decides, and the log always recomposes to its state.
 */
export interface SpendOp {
  readonly mechanism: Mechanism;
  readonly budget: PrivacyBudget;
  readonly key?: string;
}

const mechanismArbitrary: fc.Arbitrary<Mechanism> = fc.oneof(
  fc.record({
    kind: fc.constant('sampled-gaussian' as const),
    noiseMultiplier: fc.double({ min: 0.6, max: 4, noNaN: true }),
    sampleRate: fc.double({ min: 0.001, max: 0.05, noNaN: true }),
    steps: fc.integer({ min: 1, max: 1500 }),
  }),
  fc.record({
    kind: fc.constant('gaussian' as const),
    noiseMultiplier: fc.double({ min: 1, max: 20, noNaN: true }),
    count: fc.integer({ min: 1, max: 20 }),
  }),
  fc.record({
    kind: fc.constant('discrete-gaussian' as const),
    sigma: fc.double({ min: 2, max: 50, noNaN: true }),
    sensitivity: fc.constantFrom(1, 2),
    count: fc.integer({ min: 1, max: 30 }),
  }),
  fc.record({
    kind: fc.constant('pure' as const),
    epsilon: fc.double({ min: 0.01, max: 1.5, noNaN: true }),
    count: fc.integer({ min: 1, max: 4 }),
  }),
);

export const spendArbitrary: fc.Arbitrary<SpendOp> = fc.record(
  {
    mechanism: mechanismArbitrary,
    budget: fc.record({ epsilon: fc.constantFrom(1, 3, 8), delta: fc.constantFrom(1e-5, 1e-6) }),
    key: fc.constantFrom('run-1', 'run-2', 'run-3'),
  },
  { requiredKeys: ['mechanism', 'budget'] },
);

const ZERO = DEFAULT_ORDERS.map(() => 0);
const epsilon = (rdp: readonly number[], delta: number) =>
  rdp.every((v) => v === 0) ? 0 : epsilonOf(rdp, delta).epsilon;

/** The reference: the tighter of "all in RDP" and "Gaussian ones in RDP, plus the pure ε summed". */
function reference(granted: readonly Mechanism[], delta: number): number {
  const all = granted.reduce((rdp, m) => composeRdp(rdp, mechanismCurve(m)), ZERO);
  const gaussian = granted
    .filter((m) => m.kind !== 'pure')
    .reduce((rdp, m) => composeRdp(rdp, mechanismCurve(m)), ZERO);
  const pure = granted.reduce((sum, m) => sum + (m.kind === 'pure' ? m.epsilon * m.count : 0), 0);
  return Math.min(epsilon(all, delta), epsilon(gaussian, delta) + pure);
}

export async function checkSpends(
  ledger: PrivacyLedger,
  name: string,
  ops: readonly SpendOp[],
): Promise<void> {
  let granted: Mechanism[] = [];
  const keys = new Map<string, number>();
  let seq = 0;
  let refusals = 0;
  for (const op of ops) {
    const request = {
      mechanism: op.mechanism,
      budget: op.budget,
      purpose: { kind: 'training' },
      ...(op.key ? { idempotencyKey: op.key } : {}),
    };
    const who = { actor: 'property', reason: 'a spend' };
    const replay = op.key === undefined ? undefined : keys.get(op.key);
    if (replay !== undefined) {
      const entry = await ledger.spend(name, request, who);
      expect(entry.seq).toBe(replay);
      continue;
    }
    const after = [...granted, op.mechanism];
    const expected = reference(after, op.budget.delta);
    seq += 1;
    if (expected > op.budget.epsilon) {
      const error = await ledger.spend(name, request, who).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PrivacyBudgetExceededError);
      const entry = (error as PrivacyBudgetExceededError).entry;
      expect(entry).toMatchObject({ seq, type: 'refused' });
      expect(entry.epsilonAfter).toBeCloseTo(expected, 9);
      refusals += 1;
    } else {
      const entry = await ledger.spend(name, request, who);
      expect(entry).toMatchObject({ seq, type: 'spent' });
      expect(entry.epsilonAfter).toBeLessThanOrEqual(op.budget.epsilon);
      expect(entry.epsilonAfter).toBeCloseTo(expected, 9);
      granted = after;
      if (op.key) keys.set(op.key, seq);
    }
  }
  const log = (await ledger.entries(name)).items;
  expect(log.map((e) => e.seq)).toEqual(Array.from({ length: seq }, (_, i) => i + 1));
  const recomposed = log
    .filter((e) => e.type === 'spent')
    .reduce((rdp, e) => composeRdp(rdp, mechanismCurve(e.mechanism)), ZERO);
  const state = log.at(-1)?.state;
  if (state === undefined) return;
  state.rdp.forEach((v, i) => {
    expect(Math.abs(v - (recomposed[i] as number))).toBeLessThanOrEqual(1e-9 * Math.max(1, v));
  });
  expect(state.refusals).toBe(refusals);
  expect(state.spends).toBe(seq - refusals);
}
