/**
 * The evaluation report: every metric `keel evaluate`, the training holdout and the retraining
 * gates use, as one JSON-ready object with camelCase keys (`auc`, `logLoss`, `brier`, `ece`,
 * `fairness.<attribute>.demographicParityRatio`, …).
 */
import { columnStrings, type Table } from '../data/table.ts';
import { percentileInterval } from '../metrics/bootstrap.ts';
import { calibration, type ReliabilityBin } from '../metrics/calibration.ts';
import {
  auc,
  brier,
  type Confusion,
  confusion,
  type Labels,
  logLoss,
  rates,
  type Scores,
  validateBinary,
} from '../metrics/classification.ts';
import { type CostMatrix, costPer1000, optimalThreshold } from '../metrics/cost.ts';
import { type FairnessReport, fairness } from '../metrics/fairness.ts';

/** Label given to rows whose protected or segment value is missing. */
export const MISSING_GROUP = '(missing)';

export interface Interval {
  readonly lower: number;
  readonly upper: number;
}

export interface BootstrapSettings {
  /** @default 1000 */
  readonly samples?: number;
  /** @default 42 */
  readonly seed?: number;
  /** Two-sided: 0.05 gives 95 % intervals. @default 0.05 */
  readonly alpha?: number;
}

export interface EvaluationOptions {
  /** Decision threshold for the threshold metrics: a row is positive when p ≥ threshold. @default 0.5 */
  readonly threshold?: number;
  /** Business costs: adds expected cost per 1,000 decisions and the cost-minimising threshold. */
  readonly costs?: CostMatrix & { readonly currency?: string };
  /** Protected attributes: row i's group per attribute. */
  readonly protected?: Readonly<Record<string, ArrayLike<string | null>>>;
  /** Segments for per-segment metrics. @default the protected attributes */
  readonly segments?: Readonly<Record<string, ArrayLike<string | null>>>;
  /** Percentile bootstrap intervals; `false` for none. @default 1000 resamples */
  readonly bootstrap?: BootstrapSettings | false;
  /** @default 10 */
  readonly calibrationBins?: number;
}

export interface SegmentMetrics {
  readonly rows: number;
  readonly positives: number;
  /** null when the segment lacks a class. */
  readonly auc: number | null;
  readonly logLoss: number;
  readonly brier: number;
  readonly accuracy: number;
  readonly selectionRate: number;
}

export interface EvaluationReport {
  readonly rows: number;
  readonly positives: number;
  readonly prevalence: number;
  readonly threshold: number;
  readonly auc: number;
  readonly logLoss: number;
  readonly brier: number;
  readonly accuracy: number;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  readonly confusion: Confusion;
  readonly ece: number;
  readonly reliability: readonly ReliabilityBin[];
  readonly cost?: {
    readonly currency: string;
    readonly perDecision: CostMatrix;
    /** Expected cost of 1,000 decisions at `threshold` (negative: a net benefit). */
    readonly per1000: number;
    /** null when flagging nobody is cheapest (every threshold above all scores). */
    readonly optimalThreshold: number | null;
    readonly optimalPer1000: number;
  };
  readonly intervals?: {
    readonly level: number;
    readonly samples: number;
    readonly auc: Interval;
    readonly logLoss: Interval;
    readonly brier: Interval;
    readonly accuracy: Interval;
    readonly precision: Interval;
    readonly recall: Interval;
    readonly f1: Interval;
  };
  readonly segments: Readonly<Record<string, Readonly<Record<string, SegmentMetrics>>>>;
  readonly fairness: Readonly<Record<string, FairnessReport & { readonly fourFifthsRule: boolean }>>;
}

const nullIfNaN = (v: number) => (Number.isNaN(v) ? null : v);

function groupsOf(values: ArrayLike<string | null>): string[] {
  return Array.from({ length: values.length }, (_, i) => values[i] ?? MISSING_GROUP);
}

/** A protected attribute's group per row of a table, missing values as their own group. */
export function attributeGroups(table: Table, attribute: string): string[] {
  return groupsOf(columnStrings(table, attribute));
}

function segmentMetrics(y: Labels, p: Scores, groups: readonly string[], threshold: number) {
  const rows = new Map<string, number[]>();
  groups.forEach((g, i) => {
    const list = rows.get(g);
    if (list) list.push(i);
    else rows.set(g, [i]);
  });
  const out: Record<string, SegmentMetrics> = {};
  for (const [group, index] of [...rows].sort(([a], [b]) => a.localeCompare(b))) {
    const ys = index.map((i) => y[i] as number);
    const ps = index.map((i) => p[i] as number);
    const c = confusion(ys, ps, threshold);
    out[group] = {
      rows: index.length,
      positives: c.tp + c.fn,
      auc: nullIfNaN(auc(ys, ps)),
      logLoss: logLoss(ys, ps),
      brier: brier(ys, ps),
      accuracy: rates(c).accuracy,
      selectionRate: (c.tp + c.fp) / index.length,
    };
  }
  return out;
}

/**
 * A small, fast, seeded generator (mulberry32) for resampling: millions of draws per
 * bootstrap, where the library Rng's per-draw cost would dominate.
 */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Rows sorted by descending score, and the end index of each run of equal scores. */
function descending(p: Scores): { order: number[]; groupEnd: number[] } {
  const n = p.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (p[b] as number) - (p[a] as number));
  const groupEnd: number[] = [];
  for (let k = 0; k < n; k++)
    if (k === n - 1 || p[order[k] as number] !== p[order[k + 1] as number]) groupEnd.push(k + 1);
  return { order, groupEnd };
}

/**
 * Weighted Mann–Whitney over presorted rows: each negative's weight times the positive weight
 * scored above it, plus half the tied positive weight.
 */
function sweepAuc(y: Labels, order: readonly number[], groupEnd: readonly number[], w: ArrayLike<number>) {
  let positivesAbove = 0;
  let negatives = 0;
  let pairs = 0;
  let start = 0;
  for (const end of groupEnd) {
    let gp = 0;
    let gn = 0;
    for (let k = start; k < end; k++) {
      const i = order[k] as number;
      if (y[i] === 1) gp += w[i] as number;
      else gn += w[i] as number;
    }
    pairs += gn * (positivesAbove + gp / 2);
    positivesAbove += gp;
    negatives += gn;
    start = end;
  }
  return { pairs, positives: positivesAbove, negatives };
}

/** AUC with row weights (a row of weight k counts as k rows); NaN when a class has no weight. */
export function weightedAuc(y: Labels, p: Scores, w: ArrayLike<number>): number {
  const { order, groupEnd } = descending(p);
  const { pairs, positives, negatives } = sweepAuc(y, order, groupEnd, w);
  return positives > 0 && negatives > 0 ? pairs / (positives * negatives) : Number.NaN;
}

/**
 * Percentile-bootstrap intervals of the headline metrics. A resample is a vector of counts
 * (how often each row was drawn), so every metric is a weighted sum over the rows presorted
 * once by score: O(n) per resample instead of a sort for AUC.
 */
export function bootstrapIntervals(
  y: Labels,
  p: Scores,
  threshold: number,
  settings: BootstrapSettings = {},
): NonNullable<EvaluationReport['intervals']> {
  const samples = settings.samples ?? 1000;
  const alpha = settings.alpha ?? 0.05;
  const n = y.length;
  const { order, groupEnd } = descending(p);
  const eps = Number.EPSILON;
  const rowLoss = Float64Array.from({ length: n }, (_, i) => {
    const s = Math.min(1 - eps, Math.max(eps, p[i] as number));
    return y[i] === 1 ? -Math.log(s) : -Math.log(1 - s);
  });
  const random = mulberry32(settings.seed ?? 42);
  const counts = new Int32Array(n);
  const draws: Record<'auc' | 'logLoss' | 'brier' | 'accuracy' | 'precision' | 'recall' | 'f1', number[]> = {
    auc: [],
    logLoss: [],
    brier: [],
    accuracy: [],
    precision: [],
    recall: [],
    f1: [],
  };
  for (let s = 0; s < samples; s++) {
    counts.fill(0);
    for (let k = 0; k < n; k++) {
      const j = Math.floor(random() * n);
      counts[j] = (counts[j] as number) + 1;
    }
    let loss = 0;
    let squared = 0;
    let tp = 0;
    let fp = 0;
    let tn = 0;
    let fn = 0;
    for (let i = 0; i < n; i++) {
      const c = counts[i] as number;
      if (c === 0) continue;
      const yi = y[i] as number;
      const pi = p[i] as number;
      loss += c * (rowLoss[i] as number);
      squared += c * (pi - yi) ** 2;
      if (pi >= threshold) {
        if (yi === 1) tp += c;
        else fp += c;
      } else if (yi === 1) fn += c;
      else tn += c;
    }
    const { pairs } = sweepAuc(y, order, groupEnd, counts);
    const positives = tp + fn;
    const negatives = fp + tn;
    if (positives > 0 && negatives > 0) draws.auc.push(pairs / (positives * negatives));
    draws.logLoss.push(loss / n);
    draws.brier.push(squared / n);
    const r = rates({ tp, fp, tn, fn });
    draws.accuracy.push(r.accuracy);
    draws.precision.push(r.precision);
    draws.recall.push(r.recall);
    draws.f1.push(r.f1);
  }
  const interval = (values: number[]): Interval => percentileInterval(values, alpha);
  return {
    level: 1 - alpha,
    samples,
    auc: interval(draws.auc),
    logLoss: interval(draws.logLoss),
    brier: interval(draws.brier),
    accuracy: interval(draws.accuracy),
    precision: interval(draws.precision),
    recall: interval(draws.recall),
    f1: interval(draws.f1),
  };
}

/** Evaluates scores `p` against binary labels `y`. */
export function evaluate(y: Labels, p: Scores, options: EvaluationOptions = {}): EvaluationReport {
  validateBinary(y, p);
  const threshold = options.threshold ?? 0.5;
  const c = confusion(y, p, threshold);
  const cal = calibration(y, p, options.calibrationBins ?? 10);
  const positives = c.tp + c.fn;
  const protectedGroups = Object.fromEntries(
    Object.entries(options.protected ?? {}).map(([name, values]) => [name, groupsOf(values)]),
  );
  const segmentGroups = options.segments
    ? Object.fromEntries(Object.entries(options.segments).map(([name, values]) => [name, groupsOf(values)]))
    : protectedGroups;
  const costs = options.costs;
  const optimal = costs ? optimalThreshold(y, p, costs) : undefined;
  return {
    rows: y.length,
    positives,
    prevalence: positives / y.length,
    threshold,
    auc: auc(y, p),
    logLoss: logLoss(y, p),
    brier: brier(y, p),
    ...rates(c),
    confusion: c,
    ece: cal.ece,
    reliability: cal.table,
    ...(costs && optimal
      ? {
          cost: {
            currency: costs.currency ?? 'USD',
            perDecision: {
              falsePositive: costs.falsePositive,
              falseNegative: costs.falseNegative,
              truePositiveBenefit: costs.truePositiveBenefit,
            },
            per1000: costPer1000(y, p, costs, threshold),
            optimalThreshold: Number.isFinite(optimal.threshold) ? optimal.threshold : null,
            optimalPer1000: optimal.costPer1000,
          },
        }
      : {}),
    ...(options.bootstrap === false
      ? {}
      : { intervals: bootstrapIntervals(y, p, threshold, options.bootstrap) }),
    segments: Object.fromEntries(
      Object.entries(segmentGroups).map(([name, groups]) => [name, segmentMetrics(y, p, groups, threshold)]),
    ),
    fairness: Object.fromEntries(
      Object.entries(protectedGroups).map(([name, groups]) => {
        const report = fairness(y, p, groups, threshold);
        return [name, { ...report, fourFifthsRule: report.demographicParityRatio >= 0.8 }];
      }),
    ),
  };
}
