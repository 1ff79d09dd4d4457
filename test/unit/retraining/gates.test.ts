import { describe, expect, it } from 'vitest';
import { percentileInterval } from '../../../functions/core/metrics/bootstrap.ts';
import { auc } from '../../../functions/core/metrics/classification.ts';
import { Rng } from '../../../functions/core/random.ts';
import {
  fairnessGate,
  type PerformanceComparison,
  pairedAucDifference,
  performanceGate,
  safetyGate,
} from '../../../functions/retraining/gates.ts';

function scores(n: number, seed: number, signal: number) {
  const rng = new Rng(seed);
  const y = Float64Array.from({ length: n }, () => (rng.bernoulli(0.3) ? 1 : 0));
  const noisy = (s: number) =>
    Float64Array.from(y, (label) => 1 / (1 + Math.exp(-(s * (label - 0.5) + rng.normal()))));
  return { y, a: noisy(signal), b: noisy(signal / 2) };
}

describe('pairedAucDifference', () => {
  it('matches resampling the rows themselves, draw for draw', () => {
    // Prepare
    const { y, a, b } = scores(150, 1, 2);

    // Act
    const result = pairedAucDifference(y, a, b, { samples: 200, seed: 7 });

    // Assess: the same draws, as expanded samples through the plain AUC
    const rng = new Rng(7);
    const differences: number[] = [];
    for (let s = 0; s < 200; s++) {
      const rows = Array.from({ length: y.length }, () => rng.int(0, y.length - 1));
      const ys = rows.map((r) => y[r] as number);
      const d =
        auc(
          ys,
          rows.map((r) => a[r] as number),
        ) -
        auc(
          ys,
          rows.map((r) => b[r] as number),
        );
      if (Number.isFinite(d)) differences.push(d);
    }
    const expected = percentileInterval(differences, 0.05);
    expect(result.difference).toBeCloseTo(auc(y, a) - auc(y, b), 12);
    expect(result.lower).toBeCloseTo(expected.lower, 12);
    expect(result.upper).toBeCloseTo(expected.upper, 12);
    expect(result.samples).toBe(differences.length);
  });

  it('gives a zero-width interval for a model compared with itself', () => {
    const { y, a } = scores(100, 2, 2);
    expect(pairedAucDifference(y, a, a, { samples: 100 })).toMatchObject({
      difference: 0,
      lower: 0,
      upper: 0,
    });
  });

  it('brackets a real improvement above zero with enough rows', () => {
    const { y, a, b } = scores(3000, 3, 3);
    const result = pairedAucDifference(y, a, b, { samples: 300 });
    expect(result.lower).toBeGreaterThan(0);
    expect(result.upper).toBeGreaterThan(result.lower);
  });

  it('refuses scores of another length', () => {
    expect(() => pairedAucDifference([0, 1], [0.1, 0.9], [0.5])).toThrow(RangeError);
  });
});

describe('performanceGate', () => {
  const compare = (difference: number, lower: number, upper: number): PerformanceComparison => ({
    dataset: 'holdout',
    candidateAuc: 0.8 + difference,
    productionAuc: 0.8,
    paired: { difference, lower, upper, level: 0.95, samples: 1000 },
  });
  const settings = { tolerance: 0.01, driftMargin: 0.005, drift: false };

  it.each([
    ['better', compare(0.02, 0.01, 0.03), true],
    ['a bit worse, within the tolerance', compare(-0.005, -0.02, 0.01), true],
    ['worse beyond the tolerance, but the interval reaches 0', compare(-0.02, -0.05, 0.001), true],
    ['worse beyond the tolerance, and surely so', compare(-0.03, -0.05, -0.01), false],
  ] as const)('%s → passed %s', (_, comparison, passed) => {
    expect(performanceGate([comparison], settings).passed).toBe(passed);
  });

  it('asks for the drift margin on the production sample after drift', () => {
    // Prepare
    const holdout = compare(0.02, 0.01, 0.03);
    const production = { ...compare(0.002, -0.01, 0.015), dataset: 'production' as const };

    // Act
    const result = performanceGate([holdout, production], { ...settings, drift: true });

    // Assess
    expect(result.passed).toBe(false);
    expect(result.reason).toMatch(
      /after drift the candidate must beat production by 0.005 AUC on production; it gains 0.0020/,
    );
    expect(result.rows.at(-1)).toMatchObject({
      check: 'AUC gain on production (drift retraining) [95 % CI -0.0100, 0.0150]',
      threshold: '≥ 0.005, CI above 0',
      passed: false,
    });
  });

  it('after drift, refuses a gain past the margin that is within noise', () => {
    // Prepare: the point estimate clears the margin, the interval reaches below 0.
    const production = { ...compare(0.008, -0.002, 0.018), dataset: 'production' as const };

    // Act
    const noisy = performanceGate([production], { ...settings, drift: true });
    const real = performanceGate([{ ...compare(0.008, 0.001, 0.015), dataset: 'production' as const }], {
      ...settings,
      drift: true,
    });

    // Assess
    expect(noisy.passed).toBe(false);
    expect(noisy.reason).toMatch(/beyond noise; it gains 0\.0080 AUC but the 95 % CI reaches -0\.0020/);
    expect(real.passed).toBe(true);
  });

  it('after drift, judges on production rows and keeps the old holdout as a wider guard', () => {
    // Prepare: learnt the new world (gains on production), rightly worse on the old labels.
    const holdout = compare(-0.015, -0.025, -0.006);
    const production = { ...compare(0.068, 0.04, 0.09), dataset: 'production' as const };

    // Act
    const plain = performanceGate([holdout, production], { ...settings, drift: true });
    const guarded = performanceGate([holdout, production], {
      ...settings,
      drift: true,
      driftHoldoutTolerance: 0.05,
    });

    // Assess
    expect(plain.passed).toBe(false);
    expect(guarded.passed).toBe(true);
    expect(guarded.rows.find((r) => r.check.startsWith('AUC difference on holdout'))).toMatchObject({
      check: expect.stringContaining('(guard after drift: labels from before it)'),
      threshold: '≥ -0.05 or CI reaching 0',
      passed: true,
    });
  });

  it.each([
    ['a collapse on the old holdout after drift', compare(-0.08, -0.1, -0.06), true, false],
    ['the holdout without a production sample after drift', compare(-0.03, -0.05, -0.01), false, false],
  ] as const)('still rejects %s', (_, holdout, withProduction, passed) => {
    const comparisons = withProduction
      ? [holdout, { ...compare(0.05, 0.03, 0.07), dataset: 'production' as const }]
      : [holdout];
    const result = performanceGate(comparisons, { ...settings, drift: true, driftHoldoutTolerance: 0.05 });
    expect(result.passed).toBe(passed);
  });

  it('does not widen the holdout tolerance when retraining was not triggered by drift', () => {
    const holdout = compare(-0.03, -0.05, -0.01);
    const production = { ...compare(0.05, 0.03, 0.07), dataset: 'production' as const };
    const result = performanceGate([holdout, production], { ...settings, driftHoldoutTolerance: 0.05 });
    expect(result.passed).toBe(false);
  });

  it('passes without a production model, and says so', () => {
    const result = performanceGate(
      [{ dataset: 'holdout', candidateAuc: 0.7, productionAuc: null, paired: null }],
      settings,
    );
    expect(result).toMatchObject({ passed: true, reason: 'no production model to compare with' });
  });

  it('fails a candidate without a finite AUC', () => {
    const result = performanceGate(
      [{ dataset: 'holdout', candidateAuc: Number.NaN, productionAuc: null, paired: null }],
      settings,
    );
    expect(result.passed).toBe(false);
  });
});

describe('fairnessGate', () => {
  const thresholds = { minDemographicParityRatio: 0.8, maxEqualizedOddsDifference: 0.1 };

  it.each([
    [0.9, 0.05, true],
    [0.79, 0.05, false],
    [0.9, 0.11, false],
  ])('ratio %d, odds difference %d → passed %s', (ratio, odds, passed) => {
    const result = fairnessGate(
      [
        {
          attribute: 'sex',
          dataset: 'holdout',
          candidate: { demographicParityRatio: ratio, equalizedOddsDifference: odds },
          production: null,
        },
      ],
      thresholds,
    );
    expect(result.passed).toBe(passed);
    expect(result.rows).toHaveLength(2);
  });

  it('names every failing attribute and dataset', () => {
    const result = fairnessGate(
      [
        {
          attribute: 'sex',
          dataset: 'holdout',
          candidate: { demographicParityRatio: 0.5, equalizedOddsDifference: 0 },
          production: null,
        },
        {
          attribute: 'age_band',
          dataset: 'production',
          candidate: { demographicParityRatio: 1, equalizedOddsDifference: 0.3 },
          production: null,
        },
      ],
      thresholds,
    );
    expect(result.reason).toBe(
      'sex on holdout: demographic-parity ratio 0.500 < 0.8; age_band on production: equalised-odds difference 0.300 > 0.1',
    );
  });
});

describe('safetyGate', () => {
  it('fails with every failed check named', () => {
    const result = safetyGate([
      { check: 'a', value: 0, threshold: '= 0', passed: true, detail: 'fine' },
      { check: 'b', value: 3, threshold: '= 0', passed: false, detail: '3 rows NaN' },
    ]);
    expect(result).toMatchObject({ passed: false, reason: 'b: 3 rows NaN' });
    expect(result.rows.map((r) => r.passed)).toEqual([true, false]);
  });
});
