import { describe, expect, it } from 'vitest';
import { attributeDrift } from '../../../functions/core/explain/drift-attribution.ts';
import type { Explanation } from '../../../functions/core/explain/explainer.ts';
import { Rng } from '../../../functions/core/random.ts';

const BASE = -1.5;

/** An explanation of `n` rows whose contributions come from `draw`. */
function explained(n: number, draw: (rng: Rng) => Record<string, number>, seed: number): Explanation {
  const rng = new Rng(seed);
  return {
    method: 'tree',
    featurePerturbation: 'interventional',
    outputSpace: 'log-odds',
    baseValue: BASE,
    derived: [],
    rows: Array.from({ length: n }, () => {
      const contributions = draw(rng);
      const margin = BASE + Object.values(contributions).reduce((a, b) => a + b, 0);
      return { prediction: 1 / (1 + Math.exp(-margin)), margin, contributions };
    }),
  };
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

describe('attributeDrift', () => {
  it('splits the change in mean log-odds exactly into column shifts, and the money additively', () => {
    // Prepare: income's contributions rise by 0.4 on average; region's do not move.
    const baseline = explained(2000, (r) => ({ income: r.normal() * 0.5, region: r.normal() * 0.05 }), 1);
    const current = explained(
      2000,
      (r) => ({ income: 0.4 + r.normal() * 0.5, region: r.normal() * 0.05 }),
      2,
    );
    // Money: a smooth cost of the mean probability.
    const moneyOf = (p: ArrayLike<number>) => 1e6 * (Array.from(p).reduce((a, b) => a + b, 0) / p.length);

    // Act
    const a = attributeDrift(baseline, current, { moneyOf, currency: 'USD' });

    // Assess
    const total = a.inputs.reduce((s, c) => s + c.shift, 0);
    expect(total).toBeCloseTo(a.margin.change, 12);
    expect(a.inputsMoved).toBe(true);
    expect(a.inputs[0]).toMatchObject({ column: 'income', significant: true });
    expect(a.inputs[0]?.shift).toBeCloseTo(0.4, 1);
    expect(a.inputs.find((c) => c.column === 'region')?.significant).toBe(false);
    const money = a.inputs.reduce((s, c) => s + (c.moneyPerDay ?? 0), 0);
    expect(money).toBeCloseTo((a.moneyPerLogOdds as number) * a.margin.change, 6);
    expect(a.moneyPerLogOdds).toBeGreaterThan(0);
    // Along the shift: the columns' money is what undoing the mean shift saves, the rest is left over.
    const undone = moneyOf(current.rows.map((r) => sigmoid(r.margin - a.margin.change)));
    expect(money).toBeCloseTo((a.moneyPerDay as number) - undone, 6);
    expect(money + (a.moneyUnattributed as number)).toBeCloseTo(a.moneyPerDay as number, 6);
    expect(a.summary).toMatch(
      /^inputs moved the mean log-odds by \+0\.\d+: income \+0\.\d+ \(USD [\d,]+\/day\)/,
    );
  });

  it('says the inputs did not move the predictions when the mean log-odds stays within its noise', () => {
    // Prepare: the same population twice.
    const draw = (r: Rng) => ({ income: r.normal() * 0.5, debt: r.normal() * 0.3 });

    // Act
    const a = attributeDrift(explained(1000, draw, 3), explained(1000, draw, 4));

    // Assess
    expect(a.inputsMoved).toBe(false);
    expect(a.margin.interval.lower).toBeLessThan(0);
    expect(a.margin.interval.upper).toBeGreaterThan(0);
    expect(a.summary).toMatch(/^the inputs did not move the predictions/);
    expect(a.outcomes).toBeNull();
    expect(a.outcomesReason).toMatch(/needs 200/);
  });

  it('finds, on labelled decisions, the column that now weighs more in the outcomes than in the model', () => {
    // Prepare: outcomes drawn with late payments' contribution counting twice, income's once.
    const draw = (r: Rng) => ({ income: r.normal() * 0.6, late_payments: r.normal() * 0.6 });
    const labelled = explained(6000, draw, 5);
    const rng = new Rng(6);
    const outcomes = labelled.rows.map((row) =>
      rng.uniform() <
      sigmoid(BASE + (row.contributions.income as number) + 2 * (row.contributions.late_payments as number))
        ? 1
        : 0,
    );

    // Act
    const a = attributeDrift(explained(500, draw, 7), explained(500, draw, 8), {
      labelled: { explanation: labelled, outcomes },
    });

    // Assess
    const [top, other] = a.outcomes?.columns ?? [];
    expect(top).toMatchObject({ column: 'late_payments', changed: true });
    expect(top?.weight).toBeGreaterThan(1.7);
    expect(top?.weight).toBeLessThan(2.3);
    expect(top?.interval.lower).toBeLessThan(top?.weight as number);
    expect(other).toMatchObject({ column: 'income', changed: false });
    expect(a.summary).toMatch(/outcomes weigh late_payments ×[12]\.\d\d against the model's ×1$/);
  });
});
