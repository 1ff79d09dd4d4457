import type { Labels, Scores } from './classification.ts';

export interface ReliabilityBin {
  readonly lower: number;
  readonly upper: number;
  readonly count: number;
  readonly meanPredicted: number;
  readonly fractionPositive: number;
}

/**
 * Reliability table over `bins` equal-width bins of [0, 1] and the expected calibration error
 * (count-weighted mean |fraction positive − mean predicted| over non-empty bins). Bin edges are
 * those of sklearn's `calibration_curve(strategy="uniform")`: a score on an inner edge belongs
 * to the lower bin.
 */
export function calibration(y: Labels, p: Scores, bins = 10): { ece: number; table: ReliabilityBin[] } {
  if (!Number.isInteger(bins) || bins < 1)
    throw new RangeError(`bins must be a positive integer, got ${bins}`);
  const edges = Array.from({ length: bins + 1 }, (_, k) => k / bins);
  const count = new Float64Array(bins);
  const predicted = new Float64Array(bins);
  const positive = new Float64Array(bins);
  for (let i = 0; i < y.length; i++) {
    const s = p[i] as number;
    // Number of inner edges strictly below s (numpy.searchsorted, side="left").
    let lo = 0;
    let hi = bins - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((edges[mid + 1] as number) < s) lo = mid + 1;
      else hi = mid;
    }
    count[lo] = (count[lo] as number) + 1;
    predicted[lo] = (predicted[lo] as number) + s;
    positive[lo] = (positive[lo] as number) + (y[i] as number);
  }
  const table: ReliabilityBin[] = [];
  let ece = 0;
  for (let b = 0; b < bins; b++) {
    const c = count[b] as number;
    if (c === 0) continue;
    const meanPredicted = (predicted[b] as number) / c;
    const fractionPositive = (positive[b] as number) / c;
    ece += (c / y.length) * Math.abs(fractionPositive - meanPredicted);
    table.push({
      lower: edges[b] as number,
      upper: edges[b + 1] as number,
      count: c,
      meanPredicted,
      fractionPositive,
    });
  }
  return { ece, table };
}
