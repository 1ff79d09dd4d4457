/**
 * A drift report: each feature of a current profile against the baseline's, and the share of
 * drifted features. A feature is *drifted* when its PSI reaches `psiDrift`, or when a test is
 * significant (p < `pValue`) and the shift is material (PSI ≥ `psiWarning`); a significant
 * but immaterial shift is only a *warning* (with millions of rows every shift is significant).
 * Definitions: PSI and Jensen–Shannon over the baseline's quantile buckets (numeric; missing
 * values in their own bucket; shares floored at 1e-4 for PSI only) or categories (missing as
 * a category, unseen ones counted); KS and Wasserstein-1 on the profiles' samples (exact when
 * they hold every value, else within the reported bound; absent for counts-only profiles, sample
 * size 0, whose numeric features are then judged on PSI alone); chi-square without correction on
 * the 2×K category table (missing excluded).
 */
import { type CategoricalProfile, dkwEpsilon, type NumericProfile, type Profile } from './profile.ts';
import {
  chiSquare,
  jensenShannon,
  kolmogorovSurvival,
  ks2PValue,
  ksStatistic,
  psi,
  wassersteinSorted,
} from './statistics.ts';

export interface DriftThresholds {
  /** @default 0.1 */
  readonly psiWarning?: number;
  /** @default 0.2 */
  readonly psiDrift?: number;
  /** @default 0.01 */
  readonly pValue?: number;
  /** Share of drifted features from which the dataset has drifted. @default 0.5 */
  readonly datasetShare?: number;
}

export interface FeatureDrift {
  readonly type: 'numeric' | 'categorical';
  readonly psi: number;
  readonly jensenShannon: number;
  readonly ks?: {
    readonly statistic: number;
    readonly pValue: number;
    /** Whether both samples held every value; else the statistic is within `errorBound` (95 %). */
    readonly exact: boolean;
    readonly errorBound: number;
  };
  readonly wasserstein?: { readonly raw: number; readonly normalized: number };
  readonly chi2?: { readonly statistic: number; readonly pValue: number; readonly dof: number };
  readonly unseen?: readonly string[];
  readonly drifted: boolean;
  readonly warning: boolean;
  readonly rows: { readonly baseline: number; readonly current: number };
}

export interface DriftReport {
  readonly features: Readonly<Record<string, FeatureDrift>>;
  readonly shareDrifted: number;
  readonly datasetDrift: boolean;
}

const sortedValues = (p: NumericProfile) => Float64Array.from(p.sample.values).sort();

function numericDrift(base: NumericProfile, cur: NumericProfile): Omit<FeatureDrift, 'drifted' | 'warning'> {
  const a = sortedValues(base);
  const b = sortedValues(cur);
  const baseCounts = [...base.counts, base.missing];
  const curCounts = [...cur.counts, cur.missing];
  const counted = {
    type: 'numeric' as const,
    psi: psi(baseCounts, curCounts),
    jensenShannon: jensenShannon(baseCounts, curCounts),
    rows: { baseline: base.n + base.missing, current: cur.n + cur.missing },
  };
  // Counts-only profiles (sample size 0) carry no values for KS or Wasserstein.
  if ((a.length === 0 && base.n > 0) || (b.length === 0 && cur.n > 0)) return counted;
  const exact = a.length === base.n && b.length === cur.n;
  const statistic = ksStatistic(a, b);
  const raw = wassersteinSorted(a, b);
  const mean = base.n > 0 ? base.sum / base.n : Number.NaN;
  const sd = Math.sqrt(Math.max(0, base.sumSquares / Math.max(1, base.n) - mean * mean));
  return {
    ...counted,
    ks: {
      statistic,
      // Exact samples: scipy's p-value for the full sizes. Sampled: the statistic is itself
      // approximate, so the asymptotic Kolmogorov tail for the sample sizes (conservative) serves.
      pValue: exact
        ? ks2PValue(base.n, cur.n, statistic)
        : kolmogorovSurvival(Math.sqrt((a.length * b.length) / (a.length + b.length)) * statistic),
      exact,
      errorBound: exact
        ? 0
        : (a.length < base.n ? dkwEpsilon(a.length) : 0) + (b.length < cur.n ? dkwEpsilon(b.length) : 0),
    },
    wasserstein: { raw, normalized: sd > 0 ? raw / sd : raw === 0 ? 0 : Number.POSITIVE_INFINITY },
  };
}

function categoricalDrift(
  base: CategoricalProfile,
  cur: CategoricalProfile,
): Omit<FeatureDrift, 'drifted' | 'warning'> {
  const categories = [...new Set([...Object.keys(base.counts), ...Object.keys(cur.counts)])];
  const ref = categories.map((c) => base.counts[c] ?? 0);
  const now = categories.map((c) => cur.counts[c] ?? 0);
  const chi = chiSquare(ref, now);
  return {
    type: 'categorical',
    psi: psi([...ref, base.missing], [...now, cur.missing]),
    jensenShannon: jensenShannon([...ref, base.missing], [...now, cur.missing]),
    chi2: { statistic: chi.statistic, pValue: chi.pValue, dof: chi.df },
    unseen: categories.filter((c) => !(c in base.counts) && (cur.counts[c] ?? 0) > 0),
    rows: {
      baseline: ref.reduce((s, v) => s + v, 0) + base.missing,
      current: now.reduce((s, v) => s + v, 0) + cur.missing,
    },
  };
}

export function driftReport(
  baseline: Profile,
  current: Profile,
  options: DriftThresholds & { readonly features?: readonly string[] } = {},
): DriftReport {
  const psiWarning = options.psiWarning ?? 0.1;
  const psiDrift = options.psiDrift ?? 0.2;
  const alpha = options.pValue ?? 0.01;
  const names = options.features ?? Object.keys(baseline.columns);
  const features: Record<string, FeatureDrift> = {};
  for (const name of names) {
    const base = baseline.columns[name];
    const cur = current.columns[name];
    if (!base || !cur || base.kind !== cur.kind) continue;
    const drift =
      base.kind === 'numeric'
        ? numericDrift(base, cur as NumericProfile)
        : categoricalDrift(base, cur as CategoricalProfile);
    const p = drift.ks?.pValue ?? drift.chi2?.pValue ?? 1;
    const significant = p < alpha;
    const drifted = drift.psi >= psiDrift || (significant && drift.psi >= psiWarning);
    features[name] = { ...drift, drifted, warning: !drifted && (significant || drift.psi >= psiWarning) };
  }
  const total = Object.keys(features).length;
  const shareDrifted = total === 0 ? 0 : Object.values(features).filter((f) => f.drifted).length / total;
  return { features, shareDrifted, datasetDrift: shareDrifted >= (options.datasetShare ?? 0.5) };
}
