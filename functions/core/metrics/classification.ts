/**
 * Binary-classification metrics, one pure function each, matching scikit-learn's definitions
 * (checked against it in test/fixtures/reference). Labels are 0/1; scores are probabilities of
 * class 1. A prediction is positive when `score >= threshold`.
 */
import { ValidationError } from '../../kernel/errors.ts';

export type Labels = ArrayLike<number>;
export type Scores = ArrayLike<number>;

export interface Confusion {
  readonly tp: number;
  readonly fp: number;
  readonly tn: number;
  readonly fn: number;
}

/** Checks equal lengths, 0/1 labels and finite scores in [0, 1]; reports the first bad index. */
export function validateBinary(y: Labels, p: Scores): void {
  const issues = [];
  if (y.length !== p.length)
    issues.push({ path: 'scores', message: `${p.length} scores for ${y.length} labels` });
  if (y.length === 0) issues.push({ path: 'labels', message: 'no rows' });
  for (let i = 0; i < y.length && issues.length === 0; i++) {
    if (y[i] !== 0 && y[i] !== 1)
      issues.push({ path: `labels.${i}`, message: `label must be 0 or 1, got ${y[i]}` });
    const s = p[i] as number;
    if (!(s >= 0 && s <= 1))
      issues.push({ path: `scores.${i}`, message: `score must be in [0, 1], got ${s}` });
  }
  if (issues.length > 0) throw new ValidationError('Invalid labels or scores', issues);
}

/**
 * ROC AUC as the Mann-Whitney statistic with average ranks for ties, equal to the area under
 * the ROC curve with trapezoids (sklearn's `roc_auc_score`). NaN when one class is absent.
 */
export function auc(y: Labels, p: Scores): number {
  const n = y.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (p[a] as number) - (p[b] as number));
  let positives = 0;
  let rankSum = 0;
  for (let start = 0; start < n; ) {
    let end = start;
    while (end + 1 < n && p[order[end + 1] as number] === p[order[start] as number]) end++;
    const averageRank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++) {
      if (y[order[k] as number] === 1) {
        positives++;
        rankSum += averageRank;
      }
    }
    start = end + 1;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Mean binary cross-entropy, with scores clipped to [ε, 1-ε] (ε = float64 machine epsilon) as sklearn does. */
export function logLoss(y: Labels, p: Scores): number {
  const eps = Number.EPSILON;
  let total = 0;
  for (let i = 0; i < y.length; i++) {
    const s = Math.min(1 - eps, Math.max(eps, p[i] as number));
    total -= y[i] === 1 ? Math.log(s) : Math.log(1 - s);
  }
  return total / y.length;
}

/** Mean squared difference between score and label. */
export function brier(y: Labels, p: Scores): number {
  let total = 0;
  for (let i = 0; i < y.length; i++) total += ((p[i] as number) - (y[i] as number)) ** 2;
  return total / y.length;
}

export function confusion(y: Labels, p: Scores, threshold = 0.5): Confusion {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < y.length; i++) {
    const positive = (p[i] as number) >= threshold;
    if (y[i] === 1) positive ? tp++ : fn++;
    else positive ? fp++ : tn++;
  }
  return { tp, fp, tn, fn };
}

/** Accuracy, precision, recall and F1 from a confusion matrix; an empty denominator gives 0, as sklearn's `zero_division=0`. */
export function rates(c: Confusion) {
  const total = c.tp + c.fp + c.tn + c.fn;
  const precision = c.tp + c.fp === 0 ? 0 : c.tp / (c.tp + c.fp);
  const recall = c.tp + c.fn === 0 ? 0 : c.tp / (c.tp + c.fn);
  return {
    accuracy: total === 0 ? 0 : (c.tp + c.tn) / total,
    precision,
    recall,
    f1: precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall),
  };
}

/** Average ranks (1-based, ties share their mean rank) of `values` at `indices`. */
function midranks(values: ArrayLike<number>, indices: readonly number[]): Float64Array {
  const order = [...indices].sort((a, b) => (values[a] as number) - (values[b] as number));
  const ranks = new Float64Array(values.length);
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && values[order[end + 1] as number] === values[order[start] as number])
      end++;
    const rank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++) ranks[order[k] as number] = rank;
    start = end + 1;
  }
  return ranks;
}

/**
 * DeLong's structural components of the AUC (DeLong, DeLong & Clarke-Pearson 1988), by midranks
 * as Sun & Xu (2014) compute them: for each positive, the share of negatives it outscores (ties
 * count half), and for each negative, the share of positives that outscore it. Their means are
 * the AUC; their variances give its standard error (`S10/m + S01/n`), and the components of two
 * scores of the same rows, differenced, give the standard error of the AUCs' difference. No
 * maintained JavaScript package computes them, hence this; checked against a port of the paper.
 */
export function aucComponents(
  y: Labels,
  p: Scores,
): { readonly auc: number; readonly positives: Float64Array; readonly negatives: Float64Array } {
  const all = Array.from({ length: y.length }, (_, i) => i);
  const pos = all.filter((i) => y[i] === 1);
  const neg = all.filter((i) => y[i] !== 1);
  if (pos.length === 0 || neg.length === 0)
    return { auc: Number.NaN, positives: new Float64Array(0), negatives: new Float64Array(0) };
  const overall = midranks(p, all);
  const withinPos = midranks(p, pos);
  const withinNeg = midranks(p, neg);
  const positives = Float64Array.from(
    pos,
    (i) => ((overall[i] as number) - (withinPos[i] as number)) / neg.length,
  );
  const negatives = Float64Array.from(
    neg,
    (j) => 1 - ((overall[j] as number) - (withinNeg[j] as number)) / pos.length,
  );
  let sum = 0;
  for (const v of positives) sum += v;
  return { auc: sum / pos.length, positives, negatives };
}

/** Sample variance (n − 1) of a series; 0 for fewer than two values. */
function sampleVariance(values: ArrayLike<number>): number {
  const n = values.length;
  if (n < 2) return 0;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += values[i] as number;
  mean /= n;
  let s = 0;
  for (let i = 0; i < n; i++) s += ((values[i] as number) - mean) ** 2;
  return s / (n - 1);
}

/**
 * DeLong's variance of an AUC difference from per-row differences of structural components
 * (positives' and negatives' apart): `var(ΔV10)/m + var(ΔV01)/n`.
 */
export function delongVariance(positives: ArrayLike<number>, negatives: ArrayLike<number>): number {
  if (positives.length === 0 || negatives.length === 0) return Number.NaN;
  return sampleVariance(positives) / positives.length + sampleVariance(negatives) / negatives.length;
}
