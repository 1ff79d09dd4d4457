import { describe, expect, it } from 'vitest';
import {
  type CounterfactualColumn,
  counterfactuals,
  type Row,
} from '../../../functions/core/explain/counterfactual.ts';

/** A nonlinear score with an interaction, a categorical effect and a protected attribute. */
const scoreRow = (r: Row) => {
  const z =
    -2 +
    0.8 * (r.income as number) -
    0.6 * (r.debt as number) +
    0.3 * (r.income as number) * (r.tenure as number) +
    (r.employment === 'salaried' ? 1 : 0) +
    (r.group === 'a' ? 0.5 : 0);
  return 1 / (1 + Math.exp(-z));
};
const score = async (rows: readonly Row[]) => Float64Array.from(rows, scoreRow);
const row: Row = { income: 0, debt: 2, tenure: 1, employment: 'other', group: 'b' };
const grid = [-2, -1, 0, 0.5, 1, 1.5, 2, 3];
const columns: CounterfactualColumn[] = [
  { name: 'income', candidates: grid, spread: 1 },
  { name: 'debt', candidates: grid, spread: 2 },
  { name: 'tenure', candidates: grid, spread: 0.5, direction: 'increase' },
  { name: 'employment', candidates: ['other', 'salaried', 'retired'], changeCost: 1.2 },
  { name: 'group', candidates: ['a', 'b'], immutable: true },
];

/** Every combination of kept or candidate values: the cheapest that reaches the decision. */
function bruteForce(cols: readonly CounterfactualColumn[]): number {
  let best = Number.POSITIVE_INFINITY;
  const walk = (k: number, current: Record<string, Row[string]>, cost: number) => {
    if (cost >= best) return;
    if (k === cols.length) {
      if (scoreRow(current) >= 0.5) best = cost;
      return;
    }
    const c = cols[k] as CounterfactualColumn;
    walk(k + 1, current, cost);
    if (c.immutable) return;
    const from = row[c.name] ?? null;
    for (const to of c.candidates) {
      if (to === from) continue;
      if (c.direction === 'increase' && typeof to === 'number' && to < (from as number)) continue;
      const step =
        typeof to === 'number' ? Math.abs(to - (from as number)) / (c.spread ?? 1) : (c.changeCost ?? 1);
      walk(k + 1, { ...current, [c.name]: to }, cost + step);
    }
  };
  walk(0, { ...row }, 0);
  return best;
}

describe('counterfactuals', () => {
  it('finds the cheapest flip there is on the grid, as brute force does', async () => {
    // Act
    const result = await counterfactuals(score, row, columns, { desired: 1, maxChanges: 4 });

    // Assess
    expect(result.originalScore).toBeLessThan(0.5);
    const best = result.counterfactuals[0];
    expect(best?.cost).toBeCloseTo(bruteForce(columns), 12);
    expect(best?.score).toBeGreaterThanOrEqual(0.5);
    expect(
      scoreRow({
        ...row,
        ...Object.fromEntries(Object.entries(best?.changes ?? {}).map(([k, v]) => [k, v.to])),
      }),
    ).toBeGreaterThanOrEqual(0.5);
  });

  it('never touches an immutable column, nor moves one against its direction (DiCE users report both)', async () => {
    const result = await counterfactuals(score, row, columns, { desired: 1, maxChanges: 4, count: 10 });
    expect(result.counterfactuals.length).toBeGreaterThan(1);
    for (const c of result.counterfactuals) {
      expect(c.changes).not.toHaveProperty('group');
      const tenure = c.changes.tenure;
      if (tenure) expect(tenure.to as number).toBeGreaterThan(tenure.from as number);
    }
  });

  it('gives diverse answers: none contains a cheaper one’s changed columns', async () => {
    const result = await counterfactuals(score, row, columns, { desired: 1, maxChanges: 3, count: 4 });
    const sets = result.counterfactuals.map((c) => Object.keys(c.changes));
    sets.forEach((a, i) => {
      sets.forEach((b, j) => {
        if (i !== j && j < i) expect(b.every((k) => a.includes(k))).toBe(false);
      });
    });
    const costs = result.counterfactuals.map((c) => c.cost);
    expect([...costs].sort((a, b) => a - b)).toEqual(costs);
  });

  it('ends, and says why, when no counterfactual exists or the budget runs out (no hang)', async () => {
    // Prepare: only the immutable column could help, and income is capped.
    const capped = columns.map((c) =>
      c.name === 'group'
        ? c
        : { ...c, candidates: c.name === 'employment' ? ['other'] : [row[c.name] as number] },
    );
    // Act
    const none = await counterfactuals(score, row, capped, { desired: 1 });
    const small = await counterfactuals(score, row, columns, {
      desired: 1,
      maxChanges: 4,
      maxEvaluations: 10,
    });
    const already = await counterfactuals(score, row, columns, { desired: 0 });
    // Assess
    expect(none.counterfactuals).toEqual([]);
    expect(none.reason).toMatch(/no change of at most 3 column/);
    expect(small.evaluated).toBeLessThanOrEqual(10);
    expect(small.reason).toMatch(/budget \(10 rows\) ran out/);
    expect(already.reason).toMatch(/already has the desired decision/);
  });

  it('with a beam, still flips the decision, at a cost no lower than the exact one', async () => {
    const exact = bruteForce(columns);
    const beamed = await counterfactuals(score, row, columns, { desired: 1, maxChanges: 4, beam: 3 });
    expect(beamed.counterfactuals[0]?.score).toBeGreaterThanOrEqual(0.5);
    expect(beamed.counterfactuals[0]?.cost).toBeGreaterThanOrEqual(exact - 1e-12);
  });
});
