import { Rng } from '../random.ts';
import type { Labels, Scores } from './classification.ts';

export interface Interval {
  readonly estimate: number;
  readonly lower: number;
  readonly upper: number;
}

export interface BootstrapOptions {
  /** @default 1000 resamples */
  readonly samples?: number;
  /** Two-sided level: 0.05 gives a 95 % interval. @default 0.05 */
  readonly alpha?: number;
  /** @default 42 */
  readonly seed?: number;
}

/**
 * Percentile bootstrap interval of `metric` over rows resampled with replacement. Resamples
 * where the metric is undefined (NaN, e.g. AUC with one class) are skipped.
 */
export function bootstrap(
  y: Labels,
  p: Scores,
  metric: (y: Labels, p: Scores) => number,
  options: BootstrapOptions = {},
): Interval {
  const samples = options.samples ?? 1000;
  const alpha = options.alpha ?? 0.05;
  const rng = new Rng(options.seed ?? 42);
  const n = y.length;
  const ys = new Float64Array(n);
  const ps = new Float64Array(n);
  const values: number[] = [];
  for (let s = 0; s < samples; s++) {
    for (let i = 0; i < n; i++) {
      const j = rng.int(0, n - 1);
      ys[i] = y[j] as number;
      ps[i] = p[j] as number;
    }
    const v = metric(ys, ps);
    if (!Number.isNaN(v)) values.push(v);
  }
  return { estimate: metric(y, p), ...percentileInterval(values, alpha) };
}

/**
 * The two-sided percentile interval of resampled values (numpy's linear interpolation), NaN
 * bounds without values. Sorts `values` in place.
 */
export function percentileInterval(values: number[], alpha: number): { lower: number; upper: number } {
  values.sort((a, b) => a - b);
  const quantile = (q: number) => {
    if (values.length === 0) return Number.NaN;
    const pos = q * (values.length - 1);
    const lo = Math.floor(pos);
    const hi = Math.ceil(pos);
    return (values[lo] as number) + ((values[hi] as number) - (values[lo] as number)) * (pos - lo);
  };
  return { lower: quantile(alpha / 2), upper: quantile(1 - alpha / 2) };
}
