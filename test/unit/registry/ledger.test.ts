import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { mechanismCurve } from '../../../functions/core/privacy/mechanisms.ts';
import { calibrateNoise, DEFAULT_ORDERS, epsilonOf } from '../../../functions/core/privacy/rdp.ts';
import { ValidationError } from '../../../functions/kernel/errors.ts';
import type { KeelEvent } from '../../../functions/ports/event-bus.ts';
import {
  decideSpend,
  EMPTY_LEDGER,
  ledgerEpsilon,
  PrivacyBudgetExceededError,
  PrivacyLedger,
} from '../../../functions/registry/ledger.ts';
import { checkSpends, spendArbitrary } from '../../support/ledger-property.ts';
import { MemoryLedgerStore } from '../../support/memory-ledger-store.ts';

const budget = { epsilon: 3, delta: 1e-5 };
const who = { actor: 'alice', reason: 'retrain credit' };
const purpose = { kind: 'training', model: 'credit' };

/** DP-SGD calibrated to ε = 1 at δ = 1e-5 (q = 0.01, 1,000 steps). */
const run = () => {
  const { noiseMultiplier } = calibrateNoise({ epsilon: 1, delta: 1e-5, sampleRate: 0.01, steps: 1000 });
  return { kind: 'sampled-gaussian' as const, noiseMultiplier, sampleRate: 0.01, steps: 1000 };
};

describe('decideSpend', () => {
  it('composes curves, not ε: eight runs of ε = 1 reach about ε = 3, and a ninth is refused at budget 3', () => {
    // Prepare
    let state = EMPTY_LEDGER;
    const decisions = [];
    // Act
    for (let i = 0; i < 9; i++) {
      const decision = decideSpend(state, { mechanism: run(), budget, purpose });
      if (!('type' in decision)) throw new Error('unexpected replay');
      decisions.push(decision);
      state = decision.state;
    }
    // Assess
    expect(decisions.slice(0, 8).every((d) => d.type === 'spent')).toBe(true);
    expect(decisions[7]?.epsilonAfter).toBeGreaterThan(2.9);
    expect(decisions[7]?.epsilonAfter).toBeLessThan(3);
    expect(decisions[8]).toMatchObject({ type: 'refused' });
    expect(state.spends).toBe(8);
    expect(state.refusals).toBe(1);
  });

  it('leaves the curve alone when it refuses', () => {
    const first = decideSpend(EMPTY_LEDGER, { mechanism: run(), budget, purpose });
    if (!('type' in first)) throw new Error('unexpected replay');
    const refused = decideSpend(first.state, {
      mechanism: { kind: 'pure', epsilon: 5, count: 1 },
      budget,
      purpose,
    });
    expect(refused).toMatchObject({ type: 'refused' });
    if (!('type' in refused)) throw new Error('unexpected replay');
    expect(refused.state.rdp).toEqual(first.state.rdp);
    expect(refused.epsilonBefore).toBeCloseTo(first.epsilonAfter, 12);
  });

  it('replays a key it has spent for, and refuses an unbounded release', () => {
    const first = decideSpend(EMPTY_LEDGER, {
      mechanism: run(),
      budget,
      purpose,
      idempotencyKey: 'exec-1/train',
    });
    if (!('type' in first)) throw new Error('unexpected replay');
    expect(
      decideSpend(first.state, { mechanism: run(), budget, purpose, idempotencyKey: 'exec-1/train' }),
    ).toEqual({
      replay: 1,
    });
    expect(() =>
      decideSpend(EMPTY_LEDGER, {
        mechanism: { kind: 'sampled-gaussian', noiseMultiplier: 0, sampleRate: 0.1, steps: 1 },
        budget,
        purpose,
      }),
    ).toThrow(ValidationError);
  });
});

describe('mechanismCurve', () => {
  it.each([
    ['gaussian', { kind: 'gaussian' as const, noiseMultiplier: 2, count: 3 }, (a: number) => (3 * a) / 8],
    [
      'discrete-gaussian',
      { kind: 'discrete-gaussian' as const, sigma: 4, sensitivity: 2, count: 5 },
      (a: number) => (5 * a * 4) / 32,
    ],
    ['pure', { kind: 'pure' as const, epsilon: 0.5, count: 2 }, (a: number) => 2 * Math.min(0.5, a / 8)],
  ])('%s: the published closed form at every order', (_, mechanism, expected) => {
    const curve = mechanismCurve(mechanism);
    DEFAULT_ORDERS.forEach((a, i) => {
      expect(curve[i]).toBeCloseTo(expected(a), 12);
    });
  });

  it('pure ε-DP: RDP alone converts one release to more than its ε, which the ledger does not charge', () => {
    const mechanism = { kind: 'pure' as const, epsilon: 0.3, count: 1 };
    const decision = decideSpend(EMPTY_LEDGER, { mechanism, budget: { epsilon: 1, delta: 1e-6 }, purpose });
    expect(epsilonOf(mechanismCurve(mechanism), 1e-6).epsilon).toBeGreaterThan(0.4);
    expect(decision).toMatchObject({ type: 'spent' });
    expect('type' in decision && decision.epsilonAfter).toBeCloseTo(0.3, 12);
  });

  it('pure ε-DP: many small releases compose tighter in RDP than by adding ε', () => {
    let state = EMPTY_LEDGER;
    for (let i = 0; i < 100; i++) {
      const d = decideSpend(state, {
        mechanism: { kind: 'pure', epsilon: 0.05, count: 1 },
        budget: { epsilon: 10, delta: 1e-6 },
        purpose,
      });
      if (!('type' in d)) throw new Error('unexpected replay');
      state = d.state;
    }
    expect(state.pureEpsilon).toBeCloseTo(5, 9);
    expect(ledgerEpsilon(state, 1e-6).epsilon).toBeLessThan(4);
  });
});

describe('PrivacyLedger', () => {
  const events: KeelEvent[] = [];
  const eventBus = { publish: async (e: readonly KeelEvent[]) => void events.push(...e) };
  afterEach(() => {
    events.length = 0;
  });

  it('appends the refusal, throws it with the numbers, and announces both kinds', async () => {
    // Prepare
    const store = new MemoryLedgerStore();
    const ledger = new PrivacyLedger({ store, eventBus });
    await ledger.spend(
      'synthetic:credit',
      { mechanism: run(), budget: { epsilon: 1.2, delta: 1e-5 }, purpose },
      who,
    );
    // Act
    const error = await ledger
      .spend('synthetic:credit', { mechanism: run(), budget: { epsilon: 1.2, delta: 1e-5 }, purpose }, who)
      .catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(PrivacyBudgetExceededError);
    expect((error as Error).message).toMatch(/over its budget of ε = 1\.2 \(ε = 0\.99\d spent before it\)/);
    expect((await ledger.entries('synthetic:credit')).items.map((e) => e.type)).toEqual(['spent', 'refused']);
    expect(events.map((e) => e.detailType)).toEqual(['keel.privacy.spent', 'keel.privacy.refused']);
    const balance = await ledger.balance('synthetic:credit', { epsilon: 1.2, delta: 1e-5 });
    expect(balance).toMatchObject({ spends: 1, refusals: 1, lastSeq: 2 });
    expect(balance.remaining).toBeCloseTo(1.2 - balance.epsilon, 12);
  });

  it('names every bad field of a spend', async () => {
    const ledger = new PrivacyLedger({ store: new MemoryLedgerStore() });
    const error = await ledger
      .spend(
        'has space',
        {
          mechanism: { kind: 'gaussian', noiseMultiplier: -1, count: 1 },
          budget: { epsilon: 1, delta: 1e-5 },
          purpose,
        },
        who,
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.path)).toEqual(['ledger']);
    const second = await ledger
      .spend(
        'ok',
        {
          mechanism: { kind: 'gaussian', noiseMultiplier: -1, count: 1 },
          budget: { epsilon: 0, delta: 2 },
          purpose,
        },
        who,
      )
      .catch((e: unknown) => e);
    expect((second as ValidationError).issues.map((i) => i.path)).toEqual(['mechanism.noiseMultiplier']);
  });

  it('grants racing spends no more than the budget carries', async () => {
    // Prepare: how many ε = 0.4 releases fit in ε = 1 at δ = 1e-5, decided one at a time.
    const mechanism = { kind: 'pure' as const, epsilon: 0.4, count: 1 };
    const tight = { epsilon: 1, delta: 1e-5 };
    let state = EMPTY_LEDGER;
    let fits = 0;
    for (;;) {
      const d = decideSpend(state, { mechanism, budget: tight, purpose });
      if (!('type' in d) || d.type === 'refused') break;
      state = d.state;
      fits += 1;
    }
    const ledger = new PrivacyLedger({ store: new MemoryLedgerStore() });
    // Act
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () =>
        ledger.spend('s3://data/credit/', { mechanism, budget: tight, purpose }, who),
      ),
    );
    // Assess
    expect(fits).toBeGreaterThan(1);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(fits);
    expect(
      results
        .filter((r) => r.status === 'rejected')
        .every((r) => r.reason instanceof PrivacyBudgetExceededError),
    ).toBe(true);
    expect((await ledger.balance('s3://data/credit/', tight)).epsilon).toBeLessThanOrEqual(1);
  });

  it('keeps its rule for any sequence of spends (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(spendArbitrary, { maxLength: 25 }), async (ops) => {
        await checkSpends(new PrivacyLedger({ store: new MemoryLedgerStore() }), 'synthetic:credit', ops);
      }),
      { numRuns: 150 },
    );
  });
});
