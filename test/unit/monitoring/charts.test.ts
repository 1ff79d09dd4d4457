import { describe, expect, it } from 'vitest';
import type { Profile } from '../../../functions/core/drift/profile.ts';
import type { ColumnShift, DriftAttribution } from '../../../functions/core/explain/drift-attribution.ts';
import {
  attributionSpec,
  bucketShares,
  distributionSpec,
  impactSpec,
  outcomeWeightsSpec,
  psiSpec,
} from '../../../functions/monitoring/charts.ts';
import { renderSvg } from '../../../functions/reports/charts.ts';

const numeric = (edges: number[], counts: number[], missing: number) => ({
  kind: 'numeric' as const,
  edges,
  counts,
  missing,
  n: counts.reduce((a, b) => a + b, 0) + missing,
  sum: 0,
  sumSquares: 0,
  min: 0,
  max: 0,
  sample: { priorities: [], values: [] },
  sampleSize: 0,
});
const categorical = (counts: Record<string, number>, missing: number) => ({
  kind: 'categorical' as const,
  counts,
  missing,
  n: Object.values(counts).reduce((a, b) => a + b, 0) + missing,
});
const profile = (columns: Record<string, unknown>): Profile =>
  ({ format: 'keel.profile/v1', rows: 10, columns }) as unknown as Profile;

const shift = (column: string, value: number, significant: boolean) => ({
  column,
  baseline: 0,
  current: value,
  shift: value,
  interval: { lower: value - 0.05, upper: value + 0.05 },
  significant,
});
const attribution = {
  method: 'tree',
  featurePerturbation: 'interventional',
  rows: { baseline: 1000, current: 1000, labelled: 400 },
  margin: { baseline: -2, current: -1, change: 1, interval: { lower: 0.9, upper: 1.1 } },
  inputsMoved: true,
  inputs: [shift('debt_to_income', 0.95, true), shift('<b>region</b>', -0.002, false)],
  outcomes: {
    intercept: 0,
    columns: [
      {
        column: 'late_payments',
        weight: 1.9,
        interval: { lower: 1.6, upper: 2.2 },
        changed: true,
        effect: 0.3,
      },
      { column: 'income', weight: 1.02, interval: { lower: 0.8, upper: 1.2 }, changed: false, effect: 0.01 },
    ],
  },
  summary: 'the inputs moved',
} as DriftAttribution;

/** The values of a spec's data (top level, or the first layer that has data). */
function dataOf(spec: unknown): Record<string, unknown>[] {
  const s = spec as { data?: { values: Record<string, unknown>[] }; layer?: unknown[] };
  if (s.data) return s.data.values;
  for (const layer of s.layer ?? []) {
    const values = dataOf(layer);
    if (values.length > 0) return values;
  }
  return [];
}

describe('bucketShares', () => {
  it('gives each bucket its share on both sides, numeric by the baseline edges, missing last', () => {
    // Prepare
    const baseline = profile({ debt: numeric([1, 2], [2, 3, 4], 1) });
    const current = profile({ debt: numeric([1, 2], [0, 1, 1], 2) });
    // Act
    const out = bucketShares([{ name: 'debt', label: 'debt' }], { baseline, current });
    // Assess
    const side = (series: string) => out.filter((b) => b.series === series);
    expect(side('baseline').map((b) => b.bucket)).toEqual(['≤ 1', '≤ 2', '> 2', 'missing']);
    side('baseline').forEach((b, k) => {
      expect(b.share).toBeCloseTo([0.2, 0.3, 0.4, 0.1][k] as number, 12);
    });
    side('current').forEach((b, k) => {
      expect(b.share).toBeCloseTo([0, 0.25, 0.25, 0.5][k] as number, 12);
    });
    expect(out.map((b) => b.order)).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
  });

  it('takes every category either side saw, a new one at share 0 in the baseline', () => {
    const baseline = profile({ region: categorical({ north: 3, south: 1 }, 0) });
    const current = profile({ region: categorical({ south: 1, central: 1 }, 2) });
    const out = bucketShares([{ name: 'region', label: 'region' }], { baseline, current });
    const share = (series: string, bucket: string) =>
      out.find((b) => b.series === series && b.bucket === bucket)?.share;
    expect([...new Set(out.map((b) => b.bucket))]).toEqual(['north', 'south', 'central', 'missing']);
    expect(share('baseline', 'central')).toBe(0);
    expect(share('current', 'central')).toBeCloseTo(0.25, 12);
    expect(share('current', 'missing')).toBeCloseTo(0.5, 12);
    expect(share('baseline', 'north')).toBeCloseTo(0.75, 12);
  });

  it('keeps buckets whose edges print alike apart, labels columns as asked and skips unprofiled ones', () => {
    const baseline = profile({
      x: numeric([1.0001, 1.0002], [1, 1, 1], 0),
      income: numeric([42_500, 1.5e6], [1, 1, 1], 0),
    });
    const out = bucketShares(
      [
        { name: 'x', label: 'the x' },
        { name: 'absent', label: 'absent' },
        { name: 'income', label: 'income' },
      ],
      { baseline, current: profile({}) },
    );
    // Large edges read compactly, as an axis can show them.
    expect(out.filter((b) => b.column === 'income' && b.series === 'baseline').map((b) => b.bucket)).toEqual([
      '≤ 42.5K',
      '≤ 1.5M',
      '> 1.5M',
      'missing',
    ]);
    const buckets = out.filter((b) => b.column === 'the x' && b.series === 'baseline').map((b) => b.bucket);
    expect(new Set(buckets).size).toBe(buckets.length);
    expect(buckets.slice(0, 2)).toEqual(['≤ 1', '≤ 1 (2)']);
    expect(new Set(out.map((b) => b.column))).toEqual(new Set(['the x', 'income']));
    // A column the window never profiled reads as empty, not as the baseline.
    expect(out.filter((b) => b.series === 'current').every((b) => b.share === 0)).toBe(true);
  });
});

describe('drift report specs', () => {
  it('colours each PSI by its verdict and draws both thresholds', () => {
    const spec = psiSpec(
      {
        income: { psi: 0.3, drifted: true, warning: true },
        region: { psi: 0.12, drifted: false, warning: true },
        debt: { psi: 0.01, drifted: false, warning: false },
      } as never,
      { psiWarning: 0.1, psiDrift: 0.2 } as never,
    );
    expect(dataOf(spec)).toEqual([
      { feature: 'income', psi: 0.3, verdict: 'drifted' },
      { feature: 'region', psi: 0.12, verdict: 'warning' },
      { feature: 'debt', psi: 0.01, verdict: 'ok' },
    ]);
    const rules = (spec as { layer: { data?: { values: { threshold: number }[] } }[] }).layer[1]?.data
      ?.values;
    expect(rules?.map((r) => r.threshold)).toEqual([0.1, 0.2]);
  });

  it('shows each column shift with its interval and whether it is beyond noise, in the given order', () => {
    const [moved, still] = attribution.inputs as [ColumnShift, ColumnShift];
    expect(dataOf(attributionSpec(attribution))).toEqual([
      { column: 'debt_to_income', shift: 0.95, ...moved.interval, verdict: 'moved' },
      { column: '<b>region</b>', shift: -0.002, ...still.interval, verdict: 'within noise' },
    ]);
    const weightsSpec = outcomeWeightsSpec(attribution.outcomes as never);
    const weights = dataOf(weightsSpec);
    expect(weights.map((w) => [w.column, w.verdict])).toEqual([
      ['late_payments', 'changed'],
      ['income', 'as in the model'],
    ]);
    expect(JSON.stringify(weightsSpec)).toContain('"domain":[0,2.2]');
  });

  it.each([
    [
      [-10.5, 1.5],
      [-2, 2],
    ],
    [
      [3.4, 4.4],
      [0, 4.4],
    ],
    [
      [0.5, 40],
      [0, 6],
    ],
  ])('keeps a wild outcome interval %j from squeezing the rest: axis %j, clamped', (interval, domain) => {
    const spec = outcomeWeightsSpec({
      intercept: 0,
      columns: [
        { column: 'a', weight: 1, interval: { lower: 0.9, upper: 1.1 }, changed: false, effect: 0 },
        {
          column: 'b',
          weight: 1,
          interval: { lower: interval[0] as number, upper: interval[1] as number },
          changed: false,
          effect: 0,
        },
      ],
    });
    const scale = JSON.stringify(spec).match(/"scale":\{"domain":\[([^\]]*)\],"clamp":true/);
    expect(scale?.[1]?.split(',').map(Number)).toEqual(domain);
  });

  it('puts the cost change, its interval and the budget on one axis', () => {
    const spec = impactSpec(
      {
        basis: 'drift',
        costPerDecision: { current: 12, baseline: 10 },
        costChangePerDay: 300_000,
        interval: { lower: 260_000, upper: 340_000, confidence: 0.95 },
        moneyAtRisk: 300_000,
        dailyBudget: 250_000,
        overBudget: true,
        rows: 2000,
      },
      'EUR',
    );
    expect(dataOf(spec)).toEqual([
      {
        what: 'cost change per day',
        change: 300_000,
        lower: 260_000,
        upper: 340_000,
        verdict: 'over budget',
      },
    ]);
    expect(JSON.stringify(spec)).toContain('EUR per day');
    const marks = (spec as { layer: { data: { values: { at?: number }[] } }[] }).layer[1]?.data.values;
    expect(marks?.map((m) => m.at)).toEqual([250_000, 0]);
  });

  it('renders every chart to SVG with the names escaped, the histograms as one panel per column', async () => {
    // Prepare
    const baseline = profile({
      debt: numeric([1, 2], [2, 3, 4], 1),
      '<script>': categorical({ a: 1 }, 0),
    });
    const buckets = bucketShares(
      [
        { name: 'debt', label: 'debt' },
        { name: '<script>', label: '<script>' },
      ],
      { baseline, current: baseline },
    );
    // Act
    const svgs = await Promise.all(
      [
        distributionSpec(buckets),
        attributionSpec(attribution),
        outcomeWeightsSpec(attribution.outcomes as never),
      ].map(renderSvg),
    );
    // Assess
    for (const svg of svgs) {
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).not.toMatch(/<script>|<b>/);
    }
    const [histograms, shifts, weights] = svgs as [string, string, string];
    expect(histograms.match(/<svg/g)).toHaveLength(1);
    expect(histograms).toContain('&lt;script&gt;');
    expect(histograms).toContain('>debt<');
    expect(shifts).toContain('debt_to_income');
    expect(shifts).toContain('&lt;b&gt;region&lt;/b&gt;');
    expect(weights).toContain('late_payments');
  });
});
