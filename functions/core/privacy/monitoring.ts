/**
 * Private drift checks: the counts a check releases (each input's histogram, the score's, the
 * total, the score buckets money at risk reads, the outcomes' confusion matrix) with discrete
 * Gaussian noise of scale σ, drawn exactly (see discrete.ts). Every row adds one to exactly one
 * cell of each histogram, so each is a release of L2 sensitivity 1 and the check as a whole is
 * `histograms` discrete Gaussian releases (Canonne, Kamath & Steinke 2020, Theorem 4): what the
 * privacy ledger composes. Anything else a check computes from rows (value samples for KS and
 * Wasserstein, AUC and calibration from labelled rows, attributions from sampled rows) is not a
 * count and is not released in private mode.
 *
 * The noise's effect on PSI is stated by post-processing (no further privacy cost): the released
 * histogram is noised again as many times as asked, and the PSI between it and each re-noised
 * copy is what noise of that scale alone reads as drift.
 */
import type { CategoricalProfile, NumericProfile, Profile } from '../drift/profile.ts';
import { psi } from '../drift/statistics.ts';
import type { Confusion } from '../metrics/classification.ts';
import { cryptoSource, rationalOf, sampleDiscreteGaussian, type UniformSource } from './discrete.ts';
import type { Mechanism } from './mechanisms.ts';

/** A count with discrete Gaussian noise of scale σ, floored at 0 (post-processing). */
export function noisyCount(count: number, sigma: number, source: UniformSource = cryptoSource): number {
  const { num, den } = rationalOf(sigma * sigma);
  return Math.max(0, count + Number(sampleDiscreteGaussian(num, den, source)));
}

export const noisyCounts = (counts: readonly number[], sigma: number, source: UniformSource = cryptoSource) =>
  counts.map((c) => noisyCount(c, sigma, source));

/** Histograms a private check releases for `columns` profiled columns: theirs, the total, the score buckets and the confusion. */
export const releasedHistograms = (columns: number): number => columns + 3;

/** What one private check spends, for the ledger. */
export function checkMechanism(columns: number, sigma: number): Mechanism {
  return { kind: 'discrete-gaussian', sigma, sensitivity: 1, count: releasedHistograms(columns) };
}

/** The profile with every count noised and every value sample dropped (counts-only). */
export function privatizeProfile(
  profile: Profile,
  sigma: number,
  source: UniformSource = cryptoSource,
): Profile {
  const columns: Record<string, NumericProfile | CategoricalProfile> = {};
  for (const [name, column] of Object.entries(profile.columns)) {
    if (column.kind === 'categorical') {
      columns[name] = {
        kind: 'categorical',
        counts: Object.fromEntries(
          Object.entries(column.counts).map(([k, c]) => [k, noisyCount(c, sigma, source)]),
        ),
        missing: noisyCount(column.missing, sigma, source),
      };
    } else {
      const counts = noisyCounts(column.counts, sigma, source);
      const missing = noisyCount(column.missing, sigma, source);
      // Moments and extremes are not counts: a private profile keeps none.
      columns[name] = {
        kind: 'numeric',
        edges: column.edges,
        counts,
        missing,
        n: counts.reduce((a, b) => a + b, 0),
        sum: 0,
        sumSquares: 0,
        min: null,
        max: null,
        sample: { priorities: [], values: [] },
        sampleSize: 0,
      };
    }
  }
  const { outcomes: _outcomes, ...rest } = profile;
  return { ...rest, rows: noisyCount(profile.rows, sigma, source), columns };
}

export const privatizeConfusion = (
  c: Confusion,
  sigma: number,
  source: UniformSource = cryptoSource,
): Confusion => {
  const [tp, fp, tn, fn] = noisyCounts([c.tp, c.fp, c.tn, c.fn], sigma, source) as [
    number,
    number,
    number,
    number,
  ];
  return { tp, fp, tn, fn };
};

/**
 * What noise of scale σ alone reads as PSI on a histogram like `released`: the median and the
 * 95th percentile over `trials` re-noisings (post-processing of the released counts).
 */
export function psiFromNoise(
  released: readonly number[],
  sigma: number,
  trials: number,
  source: UniformSource = cryptoSource,
): { readonly median: number; readonly p95: number } {
  const values = Array.from({ length: trials }, () =>
    psi(released, noisyCounts(released, sigma, source)),
  ).sort((a, b) => a - b);
  return {
    median: values[Math.floor((trials - 1) / 2)] as number,
    p95: values[Math.min(trials - 1, Math.ceil(0.95 * trials) - 1)] as number,
  };
}
