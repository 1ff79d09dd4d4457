import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CategoricalBuilder, cell, NumericBuilder, type Table } from '../../../functions/core/data/table.ts';
import {
  addRow,
  addTable,
  dkwEpsilon,
  emptyProfileLike,
  finish,
  mergeProfiles,
  type Profile,
  profileTable,
} from '../../../functions/core/drift/profile.ts';
import { driftReport } from '../../../functions/core/drift/report.ts';
import { ks2 } from '../../../functions/core/drift/statistics.ts';
import { generateCredit } from '../../../functions/core/synthetic/credit.ts';
import { canonicalJson } from '../../../functions/kernel/canonical-json.ts';
import { driftReference, logisticSequence } from '../../support/drift-reference.ts';

const fixture = driftReference;
const sample = (xs: (number | null)[]) => xs;

function numericTable(values: (number | null)[]): Table {
  const b = new NumericBuilder();
  for (const v of values) b.push(v ?? Number.NaN);
  return { rowCount: values.length, columns: new Map([['x', b.build()]]) };
}

/** Baseline and current profiles of one column, exact (samples hold every value). */
function profiles(reference: (number | null)[], current: (number | null)[]) {
  const sampleSize = Math.max(reference.length, current.length);
  const baseline = profileTable(numericTable(reference), { sampleSize });
  const now = emptyProfileLike(baseline);
  for (const [i, v] of current.entries()) addRow(now, { x: v }, `current:${i}`);
  return { baseline, current: finish(now) };
}

describe('driftReport on exact profiles', () => {
  it.each(fixture.numeric)('$name: PSI, KS, Wasserstein and Jensen-Shannon equal scipy', (c) => {
    // Prepare
    const { baseline, current } = profiles(sample(c.reference), sample(c.current));

    // Act
    const feature = driftReport(baseline, current).features.x;

    // Assess
    expect(feature?.psi).toBeCloseTo(c.psi, 12);
    expect(feature?.jensenShannon).toBeCloseTo(c.jensenShannon, 12);
    expect(feature?.ks?.statistic).toBeCloseTo(c.ksStatistic, 10);
    expect(feature?.ks?.pValue).toBeCloseTo(c.ksPValue, 6);
    expect(feature?.ks?.exact).toBe(true);
    expect(feature?.wasserstein?.raw).toBeCloseTo(c.wasserstein, 9);
    if (c.wassersteinNormalized !== null)
      expect(feature?.wasserstein?.normalized).toBeCloseTo(c.wassersteinNormalized, 8);
  });

  it.each(fixture.categorical)(
    '$name: chi-square, PSI and Jensen-Shannon on category counts equal scipy',
    (c) => {
      // Prepare: the counts as rows, categories named by index
      const rows = (counts: number[]) => counts.flatMap((n, k) => Array.from({ length: n }, () => `c${k}`));
      const build = (values: string[]) => {
        const b = new CategoricalBuilder();
        for (const v of values) b.push(v);
        return { rowCount: values.length, columns: new Map([['x', b.build()]]) } as Table;
      };
      const baseline = profileTable(build(rows(c.reference)));
      const current = profileTable(build(rows(c.current)));

      // Act
      const feature = driftReport(baseline, current).features.x;

      // Assess
      expect(feature?.chi2?.statistic).toBeCloseTo(c.statistic, 10);
      expect(feature?.chi2?.pValue).toBeCloseTo(c.pValue, 12);
      expect(feature?.chi2?.dof).toBe(c.df);
      expect(feature?.jensenShannon).toBeCloseTo(c.jensenShannon, 12);
    },
  );

  it('counts unseen categories and a single category', () => {
    const build = (values: string[]) => {
      const b = new CategoricalBuilder();
      for (const v of values) b.push(v);
      return { rowCount: values.length, columns: new Map([['x', b.build()]]) } as Table;
    };
    const same = driftReport(profileTable(build(['a', 'a'])), profileTable(build(['a', 'a', 'a']))).features
      .x;
    expect(same).toMatchObject({
      psi: 0,
      jensenShannon: 0,
      chi2: { statistic: 0, pValue: 1, dof: 0 },
      drifted: false,
    });
    const unseen = driftReport(profileTable(build(['a', 'b'])), profileTable(build(['a', 'z', 'z']))).features
      .x;
    expect(unseen?.unseen).toEqual(['z']);
    expect(unseen?.psi).toBeGreaterThan(0.2);
  });
});

describe('drift flags', () => {
  it('flags a material shift, warns on a significant immaterial one, and sums the dataset', () => {
    // Prepare: 20,000 rows; f1 moves a little (significant, immaterial), f2 a lot.
    const n = 20_000;
    const sequence = logisticSequence(7 * n + 3);
    const base = (shift: number, i: number) => shift + (sequence[i] as number);
    const table = (shifts: number[]) => {
      const columns = new Map();
      shifts.forEach((s, k) => {
        const b = new NumericBuilder();
        for (let i = 0; i < n; i++) b.push(base(s, i * 7 + k));
        columns.set(`f${k}`, b.build());
      });
      return { rowCount: n, columns } as Table;
    };
    const baseline = profileTable(table([0, 0, 0]));
    const current = emptyProfileLike(baseline);
    const shifted = table([0, 0.1, 1.8]);
    for (let i = 0; i < n; i++) {
      addRow(
        current,
        Object.fromEntries(
          [...shifted.columns].map(([name, col]) => [
            name,
            (col as { values: Float64Array }).values[i] as number,
          ]),
        ),
        `now:${i}`,
      );
    }

    // Act
    const report = driftReport(baseline, finish(current));

    // Assess
    expect(report.features.f0).toMatchObject({ drifted: false });
    expect(report.features.f1).toMatchObject({ drifted: false, warning: true });
    expect(report.features.f2).toMatchObject({ drifted: true });
    expect(report.shareDrifted).toBeCloseTo(1 / 3, 12);
    expect(report.datasetDrift).toBe(false);
  });
});

describe('sampled profiles', () => {
  it('keep KS within the stated bound of the exact statistic', () => {
    // Prepare: 60,000 values a side, samples of 5,000.
    const n = 60_000;
    const a = logisticSequence(n);
    const b = a.map((v) => v * 1.1 + 0.05);
    const baseline = profileTable(numericTable(a), { sampleSize: 5000 });
    const current = emptyProfileLike(baseline);
    for (const [i, v] of b.entries()) addRow(current, { x: v }, `now:${i}`);

    // Act
    const feature = driftReport(baseline, finish(current)).features.x;

    // Assess
    const exact = ks2(a, b).statistic;
    expect(feature?.ks?.exact).toBe(false);
    expect(feature?.ks?.errorBound).toBeCloseTo(2 * dkwEpsilon(5000), 12);
    expect(Math.abs((feature?.ks?.statistic as number) - exact)).toBeLessThanOrEqual(
      feature?.ks?.errorBound as number,
    );
    expect(current.columns.x?.kind === 'numeric' && current.columns.x.sample.values.length).toBe(5000);
  });
});

describe('mergeProfiles', () => {
  const baseline = profileTable(numericTable(Array.from({ length: 200 }, (_, i) => (i % 17) - 3)), {
    sampleSize: 25,
  });
  const part = (rows: { key: string; x: number | null; c: string | null }[]): Profile => {
    const p = emptyProfileLike({
      ...baseline,
      columns: { ...baseline.columns, c: { kind: 'categorical', counts: {}, missing: 0 } },
    });
    for (const r of rows) addRow(p, { x: r.x, c: r.c }, r.key);
    return finish(p);
  };
  const rowsArb = fc.array(
    fc.record({
      key: fc.uuid(),
      x: fc.option(fc.double({ min: -50, max: 50, noNaN: true }), { nil: null }),
      c: fc.option(fc.constantFrom('a', 'b', 'c'), { nil: null }),
    }),
    { maxLength: 60 },
  );

  /** Equal profiles: counts, samples and extremes exactly; float sums (not associative) to 1e-12. */
  function expectSame(actual: Profile, expected: Profile) {
    const strip = (p: Profile) =>
      JSON.parse(JSON.stringify(p, (k, v) => (k === 'sum' || k === 'sumSquares' ? undefined : v)));
    expect(strip(actual)).toEqual(strip(expected));
    for (const [name, column] of Object.entries(expected.columns)) {
      const other = actual.columns[name];
      if (column.kind !== 'numeric' || other?.kind !== 'numeric') continue;
      for (const key of ['sum', 'sumSquares'] as const) {
        expect(Math.abs(other[key] - column[key])).toBeLessThanOrEqual(
          1e-12 * Math.max(1, Math.abs(column[key])),
        );
      }
    }
  }

  it('is associative and commutative, and equals profiling all rows at once', () => {
    fc.assert(
      fc.property(rowsArb, rowsArb, rowsArb, (r1, r2, r3) => {
        const [p1, p2, p3] = [part(r1), part(r2), part(r3)];
        const left = mergeProfiles(mergeProfiles(p1, p2), p3);
        expectSame(mergeProfiles(p1, mergeProfiles(p3, p2)), left);
        expectSame(part([...r1, ...r2, ...r3]), left);
      }),
      { numRuns: 200 },
    );
  });

  it('survives a JSON round trip, empty columns included', () => {
    const empty = part([{ key: 'k', x: null, c: null }]);
    const again = JSON.parse(JSON.stringify(empty)) as Profile;
    expect(again).toEqual(empty);
    expectSame(
      mergeProfiles(again, part([{ key: 'j', x: 4, c: 'a' }])),
      part([
        { key: 'k', x: null, c: null },
        { key: 'j', x: 4, c: 'a' },
      ]),
    );
  });

  it('profiles a table column by column exactly as row by row', () => {
    // Prepare: missing values, categories and more rows than the sample keeps.
    const table = generateCredit({ rows: 3000, seed: 8, missingIncome: 0.2 });
    const base = profileTable(table, { sampleSize: 500 });
    const byColumn = emptyProfileLike(base);
    const byRow = emptyProfileLike(base);

    // Act
    addTable(byColumn, table, 'now');
    for (let r = 0; r < table.rowCount; r++) {
      addRow(
        byRow,
        Object.fromEntries([...table.columns].map(([name, c]) => [name, cell(c, r)])),
        `now:${r}`,
      );
    }

    // Assess
    expectSame(finish(byColumn), finish(byRow));
  });

  it('buckets values on, beside and between the edges as the binary search does (fast-check)', () => {
    // The column path buckets through a uniform grid; the row path through bucketOf.
    const edgesArb = fc
      .uniqueArray(fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }), {
        minLength: 1,
        maxLength: 12,
      })
      .map((e) => e.sort((a, b) => a - b));
    fc.assert(
      fc.property(edgesArb, fc.array(fc.double({ noNaN: false }), { maxLength: 200 }), (edges, extra) => {
        // Prepare: every edge, its neighbouring doubles, and arbitrary values (NaN, ±∞ included).
        const near = edges.flatMap((e) => [
          e,
          e * (1 + Number.EPSILON),
          e * (1 - Number.EPSILON),
          e + 1e-9,
          e - 1e-9,
        ]);
        const values = [...near, ...extra];
        const base: Profile = {
          format: 'keel.profile/v1',
          rows: 0,
          columns: {
            x: {
              kind: 'numeric',
              edges,
              counts: new Array(edges.length + 1).fill(0),
              missing: 0,
              n: 0,
              sum: 0,
              sumSquares: 0,
              min: null,
              max: null,
              sample: { priorities: [], values: [] },
              sampleSize: 10,
            },
          },
        };
        const byColumn = emptyProfileLike(base);
        const byRow = emptyProfileLike(base);

        // Act
        addTable(byColumn, numericTable(values), 'p');
        for (const [r, v] of values.entries()) addRow(byRow, { x: Number.isNaN(v) ? null : v }, `p:${r}`);

        // Assess
        const a = byColumn.columns.x as { counts: number[]; missing: number };
        const b = byRow.columns.x as { counts: number[]; missing: number };
        expect(a.counts).toEqual(b.counts);
        expect(a.missing).toBe(b.missing);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps counts only at sample size 0: PSI, Jensen–Shannon and chi-square as the full profile, no KS', () => {
    // Prepare
    const base = generateCredit({ rows: 3000, seed: 8, missingIncome: 0.1 });
    const now = generateCredit({ rows: 2000, seed: 9, covariateDrift: 0.3 });
    const full = profileTable(base);
    const countsOnly = profileTable(base, { sampleSize: 0 });
    const fullNow = emptyProfileLike(full);
    const countsNow = emptyProfileLike(countsOnly);

    // Act
    addTable(fullNow, now, 'now');
    addTable(countsNow, now, 'now');
    const a = driftReport(full, finish(fullNow));
    const b = driftReport(countsOnly, finish(countsNow));

    // Assess
    const income = countsNow.columns.income as { sample: { values: number[] } };
    expect(income.sample.values).toEqual([]);
    for (const [name, f] of Object.entries(a.features)) {
      const g = b.features[name];
      expect(g?.psi).toBeCloseTo(f.psi, 12);
      expect(g?.jensenShannon).toBeCloseTo(f.jensenShannon, 12);
      expect(g?.chi2?.statistic ?? 0).toBeCloseTo(f.chi2?.statistic ?? 0, 9);
      expect(g?.ks).toBeUndefined();
      expect(g?.wasserstein).toBeUndefined();
    }
    expect(b.features.income?.drifted).toBe(
      a.features.income?.psi !== undefined && a.features.income.psi >= 0.2,
    );
  });

  it('refuses profiles of different baselines', () => {
    const other = profileTable(numericTable([1, 2, 3]), { sampleSize: 25 });
    expect(() => mergeProfiles(baseline, other)).toThrow(/different baselines/);
  });
});

describe('values no model can have scored', () => {
  const bad = [1e308, -1e308, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 3.5e38];

  it.each([
    ['column-wise (addTable)', 'table'],
    ['row by row (addRow)', 'rows'],
  ])('are counted missing %s, and the profile and its report stay serialisable', (_, how) => {
    // Prepare
    const reference = Array.from({ length: 500 }, (_, i) => i % 97);
    const current = [...reference.slice(0, 200), ...bad];
    const baseline = profileTable(numericTable(reference), { sampleSize: 1000 });
    const now = emptyProfileLike(baseline);

    // Act
    if (how === 'table') addTable(now, numericTable(current), 'file');
    else for (const [i, v] of current.entries()) addRow(now, { x: v }, `row:${i}`);
    const profile = finish(now);
    const report = driftReport(baseline, profile);

    // Assess
    const column = profile.columns.x as { missing: number; n: number; sumSquares: number; max: number };
    expect(column.missing).toBe(bad.length);
    expect(column.n).toBe(200);
    expect(Number.isFinite(column.sumSquares)).toBe(true);
    expect(column.max).toBeLessThan(97);
    expect(() => canonicalJson(profile)).not.toThrow();
    expect(() => canonicalJson(report)).not.toThrow();
    expect(Number.isFinite(report.features.x?.psi as number)).toBe(true);
  });
});
