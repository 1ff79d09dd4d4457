/**
 * The drift report's charts as Vega-Lite specs, rendered headless by `reports/charts.ts` as the
 * evaluation report's are. Each builder is pure (report in, spec out), so what a chart shows is
 * tested on the spec; the page gets the SVG.
 *
 * The column histograms are one faceted chart rather than a chart per column: one render for
 * the whole grid (a render costs tens of milliseconds, and a check charts every column), with
 * each column's bucket axis and share scale its own.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { CategoricalProfile, NumericProfile, Profile } from '../core/drift/profile.ts';
import type { DriftAttribution } from '../core/explain/drift-attribution.ts';
import type { Impact } from '../core/monitoring/impact.ts';
import type { CheckReport } from './types.ts';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const CONFIG = {
  axis: { labelFont: 'system-ui, sans-serif', titleFont: 'system-ui, sans-serif', labelFontSize: 11 },
  header: { labelFont: 'system-ui, sans-serif', labelFontSize: 12, labelFontWeight: 'bold' as const },
  legend: { labelFont: 'system-ui, sans-serif', titleFont: 'system-ui, sans-serif' },
  view: { stroke: null },
};
const BLUE = '#1e88e5';
const GREY = '#90a4ae';
const RED = '#c62828';
const ORANGE = '#ef6c00';
const GREEN = '#66bb6a';

/** Colour by the datum's `verdict`, each verdict its colour, the legend above the chart. */
const verdictColour = (domain: readonly string[], range: readonly string[]) => ({
  field: 'verdict',
  type: 'nominal' as const,
  title: null,
  scale: { domain: [...domain], range: [...range] },
  legend: { orient: 'top' as const },
});

/** One bar of a column's histogram: a bucket's share of the rows, on one side. */
export interface BucketShare {
  readonly column: string;
  readonly bucket: string;
  /** The bucket's place on its column's axis. */
  readonly order: number;
  readonly series: 'baseline' | 'current';
  readonly share: number;
}

const shares = (counts: readonly number[]) => {
  const total = counts.reduce((s, v) => s + v, 0);
  return counts.map((v) => (total > 0 ? v / total : 0));
};

/** Bucket edges as axis labels: 3 significant digits, thousands as K (an income edge reads 42.5K). */
const edge = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 3, notation: 'compact' });

/** Bucket labels made unique: two edges can print alike at the precision shown. */
function unique(labels: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return labels.map((label) => {
    const n = seen.get(label) ?? 0;
    seen.set(label, n + 1);
    return n === 0 ? label : `${label} (${n + 1})`;
  });
}

/**
 * Each column's buckets with the baseline's and the current window's share: numeric columns
 * by the baseline's edges, categorical ones by every category either side saw; missing last.
 */
export function bucketShares(
  columns: readonly { readonly name: string; readonly label: string }[],
  profiles: { readonly baseline: Profile; readonly current: Profile },
): BucketShare[] {
  const out: BucketShare[] = [];
  for (const { name, label: column } of columns) {
    const base = profiles.baseline.columns[name];
    if (!base) continue;
    const cur = profiles.current.columns[name];
    let labels: string[];
    let baseline: number[];
    let current: number[];
    if (base.kind === 'numeric') {
      const b = base as NumericProfile;
      const c = cur?.kind === 'numeric' ? (cur as NumericProfile) : undefined;
      labels = [...b.edges.map((e) => `≤ ${edge.format(e)}`), `> ${edge.format(b.edges.at(-1) ?? 0)}`];
      baseline = shares([...b.counts, b.missing]);
      current = shares(c ? [...c.counts, c.missing] : []);
    } else {
      const b = base as CategoricalProfile;
      const c = cur?.kind === 'categorical' ? (cur as CategoricalProfile) : undefined;
      labels = [...new Set([...Object.keys(b.counts), ...Object.keys(c?.counts ?? {})])];
      baseline = shares([...labels.map((k) => b.counts[k] ?? 0), b.missing]);
      current = shares([...labels.map((k) => c?.counts[k] ?? 0), c?.missing ?? 0]);
    }
    unique([...labels, 'missing']).forEach((bucket, order) => {
      out.push({ column, bucket, order, series: 'baseline', share: baseline[order] ?? 0 });
      out.push({ column, bucket, order, series: 'current', share: current[order] ?? 0 });
    });
  }
  return out;
}

/** Baseline and current shares per bucket, side by side, one panel per column. */
export function distributionSpec(values: readonly BucketShare[]): TopLevelSpec {
  const columns = [...new Set(values.map((v) => v.column))];
  return {
    $schema: SCHEMA,
    config: CONFIG,
    data: { values: values as BucketShare[] },
    facet: { field: 'column', type: 'nominal', sort: columns, title: null },
    columns: 2,
    spec: {
      width: 440,
      height: 110,
      mark: { type: 'bar' },
      encoding: {
        x: {
          field: 'bucket',
          type: 'nominal',
          sort: { field: 'order' },
          title: null,
          axis: { labelAngle: -35, labelLimit: 90 },
        },
        xOffset: { field: 'series', sort: ['baseline', 'current'] },
        y: { field: 'share', type: 'quantitative', title: 'share', axis: { format: '.0%' } },
        color: {
          field: 'series',
          type: 'nominal',
          title: null,
          scale: { domain: ['baseline', 'current'], range: [GREY, BLUE] },
          legend: { orient: 'top' },
        },
      },
    },
    resolve: { scale: { x: 'independent', xOffset: 'independent', y: 'independent' } },
  };
}

/** Each feature's PSI coloured by its verdict, with the warning and drift thresholds drawn. */
export function psiSpec(
  features: NonNullable<CheckReport['drift']>['features'],
  thresholds: CheckReport['thresholds'],
): TopLevelSpec {
  const values = Object.entries(features).map(([feature, f]) => ({
    feature,
    psi: f.psi,
    verdict: f.drifted ? 'drifted' : f.warning ? 'warning' : 'ok',
  }));
  return {
    $schema: SCHEMA,
    config: CONFIG,
    width: 420,
    height: { step: 20 },
    layer: [
      {
        data: { values },
        mark: { type: 'bar' },
        encoding: {
          y: { field: 'feature', type: 'nominal', sort: null, title: null },
          x: { field: 'psi', type: 'quantitative', title: 'PSI, current window against training' },
          color: verdictColour(['ok', 'warning', 'drifted'], [GREEN, ORANGE, RED]),
        },
      },
      {
        data: {
          values: [
            // The warning's label left of its line, the drift's right of it: they sit close.
            { threshold: thresholds.psiWarning, label: `warning ${thresholds.psiWarning}`, side: 'right' },
            { threshold: thresholds.psiDrift, label: `drift ${thresholds.psiDrift}`, side: 'left' },
          ],
        },
        layer: [
          {
            mark: { type: 'rule', color: RED, strokeDash: [4, 3] },
            encoding: { x: { field: 'threshold', type: 'quantitative' } },
          },
          {
            mark: {
              type: 'text',
              align: { expr: 'datum.side' },
              dx: { expr: "datum.side === 'left' ? 3 : -3" },
              dy: -4,
              baseline: 'bottom',
              fontSize: 10,
              color: RED,
            },
            encoding: {
              x: { field: 'threshold', type: 'quantitative' },
              y: { value: 0 },
              text: { field: 'label' },
            },
          },
        ],
      },
    ],
  };
}

/** Money: the cost change per day with its interval, against the daily budget and zero. */
export function impactSpec(impact: Impact, currency: string): TopLevelSpec {
  const change = [
    {
      what: 'cost change per day',
      change: impact.costChangePerDay,
      lower: impact.interval.lower,
      upper: impact.interval.upper,
      verdict: impact.overBudget ? 'over budget' : 'within budget',
    },
  ];
  const x = { type: 'quantitative' as const, title: `${currency} per day`, axis: { format: ',.0f' } };
  return {
    $schema: SCHEMA,
    config: CONFIG,
    width: 420,
    height: 40,
    layer: [
      {
        data: { values: change },
        layer: [
          {
            mark: { type: 'rule', strokeWidth: 4, color: BLUE },
            encoding: { x: { field: 'lower', ...x }, x2: { field: 'upper' } },
          },
          {
            mark: { type: 'point', filled: true, size: 90 },
            encoding: {
              x: { field: 'change', ...x },
              color: verdictColour(['within budget', 'over budget'], ['#2e7d32', RED]),
            },
          },
        ],
      },
      {
        data: {
          values: [
            { at: impact.dailyBudget, label: 'budget', colour: RED },
            { at: 0, label: '0', colour: '#757575' },
          ],
        },
        layer: [
          {
            mark: { type: 'rule', strokeDash: [4, 3] },
            encoding: {
              x: { field: 'at', ...x },
              // Its own colours, not a scale: a scale would merge with the verdict's legend.
              color: { field: 'colour', type: 'nominal', scale: null },
            },
          },
          {
            mark: { type: 'text', dy: -26, fontSize: 10 },
            encoding: { x: { field: 'at', ...x }, text: { field: 'label' } },
          },
        ],
      },
    ],
  };
}

/**
 * The change in each column's mean contribution (log-odds) from training to the window, with
 * its 95 % interval: what moved the predictions. Columns whose interval excludes 0 are marked.
 */
export function attributionSpec(attribution: DriftAttribution): TopLevelSpec {
  const values = attribution.inputs.map((c) => ({
    column: c.column,
    shift: c.shift,
    lower: c.interval.lower,
    upper: c.interval.upper,
    verdict: c.significant ? 'moved' : 'within noise',
  }));
  const y = { field: 'column', type: 'nominal' as const, sort: null, title: null };
  return {
    $schema: SCHEMA,
    config: CONFIG,
    width: 420,
    height: { step: 20 },
    data: { values },
    layer: [
      {
        mark: { type: 'bar' },
        encoding: {
          y,
          x: { field: 'shift', type: 'quantitative', title: 'change in mean contribution (log-odds)' },
          color: verdictColour(['moved', 'within noise'], [BLUE, GREY]),
        },
      },
      {
        mark: { type: 'rule', color: '#263238' },
        encoding: { y, x: { field: 'lower', type: 'quantitative' }, x2: { field: 'upper' } },
      },
    ],
  };
}

/**
 * The outcome side: each column's weight in the labelled outcomes (1: as in the model), with
 * its interval; a changed weight is what concept drift looks like when the inputs stay put.
 */
export function outcomeWeightsSpec(outcomes: NonNullable<DriftAttribution['outcomes']>): TopLevelSpec {
  const values = outcomes.columns.map((c) => ({
    column: c.column,
    weight: c.weight,
    lower: c.interval.lower,
    upper: c.interval.upper,
    verdict: c.changed ? 'changed' : 'as in the model',
  }));
  const y = { field: 'column', type: 'nominal' as const, sort: null, title: null };
  // A column with few distinct contributions can get an interval tens wide; clamped, it runs off
  // the edge instead of squeezing every other column into a corner (the table has its numbers).
  const domain = [
    Math.max(-2, Math.min(0, ...values.map((v) => v.lower))),
    Math.min(6, Math.max(2, ...values.map((v) => v.upper))),
  ];
  const x = {
    type: 'quantitative' as const,
    title: 'weight in the outcomes (model: 1), 95 %',
    scale: { domain, clamp: true, nice: false },
  };
  return {
    $schema: SCHEMA,
    config: CONFIG,
    width: 420,
    height: { step: 20 },
    layer: [
      {
        data: { values },
        layer: [
          {
            mark: { type: 'rule', color: '#263238' },
            encoding: { y, x: { field: 'lower', ...x }, x2: { field: 'upper' } },
          },
          {
            mark: { type: 'point', filled: true, size: 60 },
            encoding: {
              y,
              x: { field: 'weight', ...x },
              color: verdictColour(['as in the model', 'changed'], [GREY, RED]),
            },
          },
        ],
      },
      {
        data: { values: [{ one: 1 }] },
        mark: { type: 'rule', strokeDash: [4, 3] },
        encoding: { x: { field: 'one', ...x } },
      },
    ],
  };
}
