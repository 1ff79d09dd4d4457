import { describe, expect, it } from 'vitest';
import { auc } from '../../../functions/core/metrics/classification.ts';
import {
  type BucketOutcomes,
  costMoments,
  decisionCost,
  impactFromDrift,
  impactFromOutcomes,
  type OutcomeBaseline,
} from '../../../functions/core/monitoring/impact.ts';
import {
  decisionConfusion,
  outcomeBaseline,
  outcomeMetrics,
} from '../../../functions/core/monitoring/outcomes.ts';
import { Rng } from '../../../functions/core/random.ts';
import { bucketOf } from '../../../functions/core/search.ts';

const COSTS = { falsePositive: 150, falseNegative: 2500, truePositiveBenefit: 40 };
const SETTINGS = { costs: COSTS, decisionsPerDay: 1000, dailyBudget: 5000 };
const Z95 = 1.959963984540054;

/** A seeded population: scores, served decisions at 0.5 and outcomes drawn from the score. */
function population(n: number, seed: number, shift = 0) {
  const rng = new Rng(seed);
  const scores: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = 1 / (1 + Math.exp(-rng.normal(-1.5 + shift, 1.2)));
    scores.push(p);
    labels.push(rng.bernoulli(p) ? 1 : 0);
  }
  return { scores, labels };
}

describe('decision costs', () => {
  it.each([
    [1, 1, -40],
    [1, 0, 150],
    [0, 1, 2500],
    [0, 0, 0],
  ] as const)('decision %i with outcome %i costs %i', (decision, outcome, cost) => {
    expect(decisionCost(decision, outcome, COSTS)).toBe(cost);
  });

  it('gives the mean and population variance of a confusion table', () => {
    // Prepare: tp 2, fp 3, fn 1, tn 4 → costs [-40,-40,150,150,150,2500,0,0,0,0]
    const values = [-40, -40, 150, 150, 150, 2500, 0, 0, 0, 0];
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;

    // Act
    const m = costMoments({ tp: 2, fp: 3, fn: 1, tn: 4 }, COSTS);

    // Assess
    expect(m.n).toBe(10);
    expect(m.mean).toBeCloseTo(mean, 10);
    expect(m.variance).toBeCloseTo(variance, 6);
  });
});

describe('outcome metrics', () => {
  it('counts only labelled decisions: pending ones are neither positives nor negatives', () => {
    // Prepare: 10 served, 4 labelled.
    const rows = [
      { probability: 0.9, decision: 1, outcome: 1 },
      { probability: 0.7, decision: 1, outcome: 0 },
      { probability: 0.4, decision: 0, outcome: 1 },
      { probability: 0.1, decision: 0, outcome: 0 },
    ] as const;

    // Act
    const m = outcomeMetrics(rows, 10);

    // Assess
    expect(m).toMatchObject({ predictions: 10, labelled: 4, pending: 6, coverage: 0.4 });
    expect(m.confusion).toEqual({ tp: 1, fp: 1, fn: 1, tn: 1 });
    expect(m.precision).toBeCloseTo(0.5, 12);
    expect(m.recall).toBeCloseTo(0.5, 12);
    expect(m.auc).toBeCloseTo(auc([1, 0, 1, 0], [0.9, 0.7, 0.4, 0.1]), 12);
    expect(m.positiveRate).toBeCloseTo(0.5, 12);
  });

  it('reports undefined metrics as null, not as zeros', () => {
    const none = outcomeMetrics([], 5);
    expect(none).toMatchObject({
      labelled: 0,
      pending: 5,
      auc: null,
      precision: null,
      recall: null,
      ece: null,
    });
    const oneClass = outcomeMetrics([{ probability: 0.3, decision: 0, outcome: 0 }], 1);
    expect(oneClass.auc).toBeNull();
    expect(oneClass.precision).toBeNull();
  });

  it('records the holdout per score bucket, with the serving threshold as an edge (p = 0.5 is declined)', () => {
    // Prepare
    const { scores, labels } = population(2000, 3);
    scores[0] = 0.5;

    // Act
    const base = outcomeBaseline(labels, scores);

    // Assess
    expect(base.edges).toContain(0.5);
    expect(base.buckets).toHaveLength(base.edges.length + 1);
    const total = base.buckets.reduce((s, b) => s + b.tp + b.fp + b.tn + b.fn, 0);
    expect(total).toBe(2000);
    // Decisions match the served label p > 0.5 in every bucket.
    const cut = base.edges.indexOf(0.5);
    base.buckets.forEach((b, k) => {
      if (k <= cut) expect(b.tp + b.fp).toBe(0);
      else expect(b.tn + b.fn).toBe(0);
    });
    const rows = scores.map((p, i) => ({
      probability: p,
      decision: (p > 0.5 ? 1 : 0) as 0 | 1,
      outcome: labels[i] as 0 | 1,
    }));
    expect(base.metrics.auc).toBeCloseTo(auc(labels, scores), 12);
    expect(decisionConfusion(rows)).toEqual(
      base.buckets.reduce((a, b) => ({ tp: a.tp + b.tp, fp: a.fp + b.fp, tn: a.tn + b.tn, fn: a.fn + b.fn })),
    );
  });
});

describe('impactFromOutcomes', () => {
  it('is the change of mean cost per decision times the volume, with the standard error of a difference of means', () => {
    // Prepare
    const baseline: OutcomeBaseline = outcomeBaseline(
      ...(Object.values(population(4000, 5)).reverse() as [number[], number[]]),
    );
    const observed: BucketOutcomes = { tp: 300, fp: 200, tn: 1100, fn: 400 };
    const now = costMoments(observed, COSTS);
    const before = costMoments(
      baseline.buckets.reduce((a, b) => ({
        tp: a.tp + b.tp,
        fp: a.fp + b.fp,
        tn: a.tn + b.tn,
        fn: a.fn + b.fn,
      })),
      COSTS,
    );
    const se = Math.sqrt(now.variance / now.n + before.variance / before.n);

    // Act
    const impact = impactFromOutcomes(observed, baseline, SETTINGS);

    // Assess
    expect(impact.basis).toBe('outcomes');
    expect(impact.costChangePerDay).toBeCloseTo((now.mean - before.mean) * 1000, 6);
    expect(impact.interval.lower).toBeCloseTo((now.mean - before.mean - Z95 * se) * 1000, 6);
    expect(impact.interval.upper).toBeCloseTo((now.mean - before.mean + Z95 * se) * 1000, 6);
    expect(impact.moneyAtRisk).toBeCloseTo(Math.max(0, impact.costChangePerDay), 6);
    expect(impact.overBudget).toBe(impact.interval.lower > 5000);
  });

  it('never reports a saving as money at risk', () => {
    const baseline = outcomeBaseline(
      ...(Object.values(population(4000, 5)).reverse() as [number[], number[]]),
    );
    const perfect = impactFromOutcomes({ tp: 500, fp: 0, tn: 1500, fn: 0 }, baseline, SETTINGS);
    expect(perfect.costChangePerDay).toBeLessThan(0);
    expect(perfect.moneyAtRisk).toBe(0);
    expect(perfect.overBudget).toBe(false);
  });
});

describe('impactFromDrift', () => {
  const { scores, labels } = population(5000, 11);
  const baseline = outcomeBaseline(labels, scores);
  const counts = (values: readonly number[]) => {
    const c = new Array<number>(baseline.edges.length + 1).fill(0);
    for (const v of values) c[bucketOf(baseline.edges, v)] = (c[bucketOf(baseline.edges, v)] as number) + 1;
    return c;
  };

  it('is the holdout reweighted to the current score distribution (weights = current share / holdout share)', () => {
    // Prepare: a riskier population, and the importance-weighted holdout cost computed row by row.
    const current = population(3000, 12, 0.8).scores;
    const q = counts(current).map((v) => v / current.length);
    const p = counts(scores).map((v) => v / scores.length);
    let weighted = 0;
    let weights = 0;
    scores.forEach((s, i) => {
      const k = bucketOf(baseline.edges, s);
      const w = (q[k] as number) / (p[k] as number);
      weighted += w * decisionCost(s > 0.5 ? 1 : 0, labels[i] as 0 | 1, COSTS);
      weights += w;
    });

    // Act
    const impact = impactFromDrift(counts(current), baseline, SETTINGS);

    // Assess
    expect(impact.basis).toBe('drift');
    expect(impact.costPerDecision.current).toBeCloseTo(weighted / weights, 6);
    expect(impact.costChangePerDay).toBeGreaterThan(0);
  });

  it('sees no change when the scores are distributed as on the holdout', () => {
    const impact = impactFromDrift(counts(scores), baseline, SETTINGS);
    expect(impact.costChangePerDay).toBeCloseTo(0, 6);
    expect(impact.interval.lower).toBeLessThan(0);
    expect(impact.interval.upper).toBeGreaterThan(0);
  });

  it('covers the true change about 95 % of the time when nothing drifted (noise of both samples counted)', () => {
    // Prepare: 300 pairs of holdout and current samples from one population.
    let covered = 0;
    const runs = 300;
    for (let r = 0; r < runs; r++) {
      const h = population(1000, 1000 + r);
      const base = outcomeBaseline(h.labels, h.scores);
      const current = population(2000, 5000 + r).scores;
      const c = new Array<number>(base.edges.length + 1).fill(0);
      for (const v of current) c[bucketOf(base.edges, v)] = (c[bucketOf(base.edges, v)] as number) + 1;

      // Act
      const impact = impactFromDrift(c, base, SETTINGS);
      if (impact.interval.lower <= 0 && impact.interval.upper >= 0) covered++;
    }

    // Assess
    expect(covered / runs).toBeGreaterThan(0.9);
    expect(covered / runs).toBeLessThan(0.995);
  });
});
