import { confusion, type Labels, type Scores } from './classification.ts';

/** What decisions cost, per decision: a false positive, a false negative, and the benefit of a true positive. */
export interface CostMatrix {
  readonly falsePositive: number;
  readonly falseNegative: number;
  readonly truePositiveBenefit: number;
}

/** Expected cost of 1,000 decisions at `threshold` (benefits subtract). */
export function costPer1000(y: Labels, p: Scores, costs: CostMatrix, threshold: number): number {
  const c = confusion(y, p, threshold);
  return (
    (1000 * (costs.falsePositive * c.fp + costs.falseNegative * c.fn - costs.truePositiveBenefit * c.tp)) /
    y.length
  );
}

/**
 * The threshold minimising the expected cost. Every distinct score is a candidate, plus
 * "above all scores" (reject nobody / flag nobody, returned as `Infinity`). One sort and a sweep:
 * O(n log n). Among equal costs the lowest threshold wins.
 */
export function optimalThreshold(
  y: Labels,
  p: Scores,
  costs: CostMatrix,
): { threshold: number; costPer1000: number } {
  const n = y.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (p[b] as number) - (p[a] as number));
  let positives = 0;
  for (let i = 0; i < n; i++) positives += y[i] as number;
  // Start above every score: everything predicted negative.
  let tp = 0;
  let fp = 0;
  const cost = () =>
    (1000 *
      (costs.falsePositive * fp + costs.falseNegative * (positives - tp) - costs.truePositiveBenefit * tp)) /
    n;
  let best = { threshold: Number.POSITIVE_INFINITY, costPer1000: cost() };
  for (let k = 0; k < n; ) {
    const score = p[order[k] as number] as number;
    while (k < n && p[order[k] as number] === score) {
      if (y[order[k] as number] === 1) tp++;
      else fp++;
      k++;
    }
    const c = cost();
    if (c <= best.costPer1000) best = { threshold: score, costPer1000: c };
  }
  return best;
}
