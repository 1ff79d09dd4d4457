/**
 * Outcome metrics: how the served decisions turned out, once outcomes come back. A prediction
 * whose outcome has not come back yet is *pending*, never a negative: the metrics are over
 * labelled decisions only, and the share labelled is reported beside them (labels that arrive
 * late and selectively, as defaults do before repayments, bias what is labelled; the coverage
 * says how much to trust it).
 */
import { quantileEdges } from '../drift/statistics.ts';
import { calibration } from '../metrics/calibration.ts';
import { auc } from '../metrics/classification.ts';
import { bucketOf } from '../search.ts';
import type { BucketOutcomes, OutcomeBaseline } from './impact.ts';

/** The served label is `p > 0.5` (the ONNX graph's `label`, ties to class 0). */
export const SERVING_THRESHOLD = 0.5;

/** A served decision with its outcome. */
export interface LabelledDecision {
  readonly probability: number;
  /** The served label: what was decided. */
  readonly decision: 0 | 1;
  readonly outcome: 0 | 1;
}

export interface OutcomeMetrics {
  /** Predictions served in the window. */
  readonly predictions: number;
  readonly labelled: number;
  /** Served, outcome not back yet: excluded, not counted as negatives. */
  readonly pending: number;
  /** labelled / predictions (0 without predictions). */
  readonly coverage: number;
  /** null when a class is missing among the labelled (AUC) or nothing was decided positive (precision). */
  readonly auc: number | null;
  readonly precision: number | null;
  readonly recall: number | null;
  /** Expected calibration error over 10 equal-width bins; null without labelled rows. */
  readonly ece: number | null;
  readonly positiveRate: number | null;
  readonly confusion: BucketOutcomes;
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : null);

/** Confusion table of served decisions against outcomes (the decision is what was served). */
export function decisionConfusion(rows: readonly LabelledDecision[]): BucketOutcomes {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (const r of rows) {
    if (r.decision === 1) r.outcome === 1 ? tp++ : fp++;
    else r.outcome === 1 ? fn++ : tn++;
  }
  return { tp, fp, tn, fn };
}

/** Outcome metrics of the labelled decisions among `predictions` served. */
export function outcomeMetrics(rows: readonly LabelledDecision[], predictions: number): OutcomeMetrics {
  const c = decisionConfusion(rows);
  const y = rows.map((r) => r.outcome);
  const p = rows.map((r) => r.probability);
  const area = rows.length > 0 ? auc(y, p) : Number.NaN;
  return {
    predictions,
    labelled: rows.length,
    pending: Math.max(0, predictions - rows.length),
    coverage: ratio(rows.length, predictions) ?? 0,
    auc: Number.isFinite(area) ? area : null,
    precision: ratio(c.tp, c.tp + c.fp),
    recall: ratio(c.tp, c.tp + c.fn),
    ece: rows.length > 0 ? calibration(y, p).ece : null,
    positiveRate: ratio(c.tp + c.fn, rows.length),
    confusion: c,
  };
}

/** Score buckets of the outcome baseline: twice the drift profile's resolution. */
export const OUTCOME_BUCKETS = 20;

/**
 * The holdout's decisions per score bucket and its headline metrics, recorded at training for
 * the impact estimates. Buckets are the holdout scores' quantiles plus the serving threshold
 * itself: a decision's cost jumps there (a missed default against a declined good applicant),
 * so no bucket may straddle it.
 */
export function outcomeBaseline(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  options: { readonly buckets?: number; readonly threshold?: number } = {},
): OutcomeBaseline {
  const threshold = options.threshold ?? SERVING_THRESHOLD;
  const edges = [...new Set([...quantileEdges(scores, options.buckets ?? OUTCOME_BUCKETS), threshold])].sort(
    (a, b) => a - b,
  );
  const buckets = Array.from({ length: edges.length + 1 }, () => ({ tp: 0, fp: 0, tn: 0, fn: 0 }));
  const rows: LabelledDecision[] = [];
  for (let i = 0; i < labels.length; i++) {
    const p = scores[i] as number;
    const decision = p > threshold ? 1 : 0;
    const outcome = labels[i] === 1 ? 1 : 0;
    const cell = buckets[bucketOf(edges, p)] as { tp: number; fp: number; tn: number; fn: number };
    if (decision === 1) outcome === 1 ? cell.tp++ : cell.fp++;
    else outcome === 1 ? cell.fn++ : cell.tn++;
    rows.push({ probability: p, decision, outcome });
  }
  const m = outcomeMetrics(rows, rows.length);
  return {
    threshold,
    edges: [...edges],
    buckets,
    metrics: { auc: m.auc, precision: m.precision, recall: m.recall, ece: m.ece },
  };
}
