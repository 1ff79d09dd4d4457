import { describe, expect, it } from 'vitest';
import { CategoricalBuilder, NumericBuilder } from '../../../functions/core/data/table.ts';
import { ks2ExactPValue, kstwoSf, smirnov } from '../../../functions/core/drift/kolmogorov.ts';
import {
  bucketCounts,
  chiSquare,
  columnShift,
  jensenShannon,
  kolmogorovSurvival,
  ks2,
  psi,
  quantileEdges,
  wasserstein,
} from '../../../functions/core/drift/statistics.ts';
import { driftReference, logisticSequence } from '../../support/drift-reference.ts';

const reference = driftReference;

const values = (xs: (number | null)[]) => Float64Array.from(xs, (v) => v ?? Number.NaN);

describe('ks2', () => {
  it.each(reference.numeric)(
    '$name: statistic and p-value equal scipy ks_2samp (exact or asymptotic)',
    (c) => {
      // Act
      const result = ks2(values(c.reference), values(c.current));

      // Assess
      expect(result.statistic).toBeCloseTo(c.ksStatistic, 10);
      expect(result.pValue).toBeCloseTo(c.ksPValue, 6);
      expect(Math.abs(result.pValue - c.ksPValue)).toBeLessThanOrEqual(
        1e-6 * Math.max(c.ksPValue, 1e-300) + 1e-12,
      );
    },
  );

  it('is NaN without values to compare', () => {
    expect(ks2([Number.NaN], [1, 2]).statistic).toBeNaN();
  });
});

describe('kstwoSf', () => {
  it.each(reference.kstwo)('n=$n x=$x equals scipy.stats.kstwo.sf', ({ n, x, sf }) => {
    expect(kstwoSf(n, x)).toBeCloseTo(sf, 9);
    // Relative agreement in the far tail too, where absolute closeness says little.
    if (sf > 1e-300) expect(Math.abs(kstwoSf(n, x) - sf) / sf).toBeLessThan(1e-6);
  });
});

describe('smirnov', () => {
  it.each(reference.smirnov)('n=$n x=$x equals scipy.special.smirnov', ({ n, x, sf }) => {
    expect(smirnov(n, x)).toBeCloseTo(sf, 9);
    if (sf > 1e-300) expect(Math.abs(smirnov(n, x) - sf) / sf).toBeLessThan(1e-9);
  });
});

describe('ks2ExactPValue', () => {
  it('is 1 when the statistic rounds to no lattice step', () => {
    expect(ks2ExactPValue(10, 7, 0)).toBe(1);
  });
});

describe('wasserstein', () => {
  it.each(reference.numeric)('$name: raw equals scipy wasserstein_distance', (c) => {
    expect(wasserstein(values(c.reference), values(c.current))).toBeCloseTo(c.wasserstein, 10);
  });

  it('is the shift between a sample and itself moved', () => {
    expect(wasserstein([1, 2, 3, 4], [3, 4, 5, 6])).toBeCloseTo(2, 15);
  });
});

describe('jensenShannon', () => {
  it.each(reference.categorical)('$name: on category counts equals scipy jensenshannon(base=2)', (c) => {
    expect(jensenShannon(c.reference, c.current)).toBeCloseTo(c.jensenShannon, 12);
  });

  it.each([
    [[1, 0], [0, 1], 1],
    [[3, 3], [1, 1], 0],
  ])('%j vs %j is %d', (p, q, expected) => {
    expect(jensenShannon(p, q)).toBeCloseTo(expected, 15);
  });
});

describe('kolmogorovSurvival', () => {
  it.each(reference.kolmogorov)('Q($lambda) equals scipy.special.kolmogorov', ({ lambda, survival }) => {
    expect(kolmogorovSurvival(lambda)).toBeCloseTo(survival, 12);
  });
});

describe('psi', () => {
  it.each(reference.numeric)('$name: decile-bucket PSI with a missing bucket equals numpy', (c) => {
    // Prepare
    const ref = values(c.reference);
    const edges = quantileEdges(ref);

    // Act
    const value = psi(bucketCounts(ref, edges), bucketCounts(values(c.current), edges));

    // Assess
    expect(edges).toHaveLength(c.edges.length);
    edges.forEach((e, k) => {
      expect(e).toBeCloseTo(c.edges[k] as number, 12);
    });
    expect(value).toBeCloseTo(c.psi, 12);
  });

  it('is zero for identical distributions and grows with the shift', () => {
    expect(psi([10, 20, 30], [1, 2, 3])).toBeCloseTo(0, 15);
    expect(psi([10, 20, 30], [30, 20, 10])).toBeGreaterThan(psi([10, 20, 30], [15, 20, 25]));
  });
});

describe('chiSquare', () => {
  it.each(reference.categorical)('$name: equals scipy chi2_contingency without correction', (c) => {
    // Act
    const result = chiSquare(c.reference, c.current);

    // Assess
    expect(result.df).toBe(c.df);
    expect(result.statistic).toBeCloseTo(c.statistic, 10);
    expect(result.pValue).toBeCloseTo(c.pValue, 12);
  });

  it('has nothing to test with one category', () => {
    expect(chiSquare([5, 0], [7, 0])).toEqual({ statistic: 0, pValue: 1, df: 0 });
  });
});

describe('columnShift', () => {
  it('reports missing rates, means and the tests for numeric columns', () => {
    // Prepare
    const c = reference.numeric.find((x) => x.name === 'missing');
    const build = (xs: (number | null)[]) => {
      const b = new NumericBuilder();
      for (const v of xs) b.push(v ?? Number.NaN);
      return b.build();
    };

    // Act
    const shift = columnShift(build(c?.reference ?? []), build(c?.current ?? []));

    // Assess
    expect(shift.kind).toBe('numeric');
    if (shift.kind !== 'numeric') return;
    expect(shift.psi).toBeCloseTo(c?.psi as number, 12);
    expect(shift.ks.statistic).toBeCloseTo(c?.ksStatistic as number, 12);
    expect(shift.ks.pValue).toBeCloseTo(c?.ksPValue as number, 9);
    expect(shift.wasserstein.raw).toBeCloseTo(c?.wasserstein as number, 10);
    expect(shift.wasserstein.normalized).toBeCloseTo(c?.wassersteinNormalized as number, 10);
    expect(shift.jensenShannon).toBeCloseTo(c?.jensenShannon as number, 12);
    expect(shift.missingRate.reference).toBeCloseTo(
      (c?.reference.filter((v) => v === null).length as number) / (c?.reference.length as number),
      12,
    );
  });

  it('compares categories by name across dictionaries and lists unseen ones', () => {
    // Prepare: the same categories coded differently in the two tables.
    const ref = new CategoricalBuilder();
    const cur = new CategoricalBuilder();
    for (const v of ['a', 'b', 'a', 'c', null]) ref.push(v);
    for (const v of ['c', 'b', 'a', 'a', 'z']) cur.push(v);

    // Act
    const shift = columnShift(ref.build(), cur.build());

    // Assess
    expect(shift.kind).toBe('categorical');
    if (shift.kind !== 'categorical') return;
    expect(shift.unseen).toEqual(['z']);
    expect(shift.missingRate).toEqual({ reference: 0.2, current: 0 });
    const expected = chiSquare([2, 1, 1, 0], [2, 1, 1, 1]);
    expect(shift.chiSquare.statistic).toBeCloseTo(expected.statistic, 12);
  });

  it('refuses columns of different kinds', () => {
    const n = new NumericBuilder();
    n.push(1);
    const c = new CategoricalBuilder();
    c.push('a');
    expect(() => columnShift(n.build(), c.build())).toThrow(TypeError);
  });
});
