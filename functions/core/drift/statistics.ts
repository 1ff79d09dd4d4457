/**
 * Distribution-shift statistics between a reference sample (training data, or a baseline
 * window) and a current one: the two-sample Kolmogorov–Smirnov test for numeric columns, the
 * chi-square test of homogeneity for categorical ones, and the population stability index
 * (PSI) for both. Missing values are their own bucket in the PSI and excluded from the tests.
 * The data audit and the monitoring drift checks both use these; each function is checked
 * against scipy/numpy.
 */
import gammainc from '@stdlib/math-base-special-gammainc';
import type { Column } from '../data/table.ts';
import { bucketOf } from '../search.ts';
import { ks2ExactPValue, kstwoSf } from './kolmogorov.ts';

export interface TestResult {
  readonly statistic: number;
  readonly pValue: number;
}

/** P(K > λ) for the Kolmogorov distribution (scipy.special.kolmogorov). */
export function kolmogorovSurvival(lambda: number): number {
  if (lambda <= 0) return 1;
  if (lambda < 0.2) return 1; // below 1 − 1e-15 from 1; the series converges slowly here
  let sum = 0;
  for (let k = 1; k <= 100; k++) {
    const term = Math.exp(-2 * k * k * lambda * lambda);
    sum += (k % 2 === 1 ? 1 : -1) * term;
    if (term < 1e-17) break;
  }
  return Math.min(1, Math.max(0, 2 * sum));
}

/** Samples up to this size get the exact KS p-value, as scipy's `ks_2samp(method="auto")`. */
export const KS_EXACT_MAX_N = 10_000;

/**
 * Two-sample KS test, as `scipy.stats.ks_2samp(method="auto")`: D = sup |F_ref − F_cur|; the
 * p-value exact (lattice-path counting) when both samples have at most {@link KS_EXACT_MAX_N}
 * values, else asymptotic: `kstwo.sf(D, round(n·m/(n+m)))`. NaN values are ignored.
 */
export function ks2(reference: ArrayLike<number>, current: ArrayLike<number>): TestResult {
  return ks2Sorted(presentSorted(reference), presentSorted(current));
}

/** {@link ks2} on sorted samples without NaN (profiles keep theirs sorted). */
export function ks2Sorted(a: ArrayLike<number>, b: ArrayLike<number>): TestResult {
  const statistic = ksStatistic(a, b);
  return {
    statistic,
    pValue: Number.isNaN(statistic) ? Number.NaN : ks2PValue(a.length, b.length, statistic),
  };
}

/** sup |F_a − F_b| of two sorted samples without NaN (NaN when one is empty). */
export function ksStatistic(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  const m = b.length;
  if (n === 0 || m === 0) return Number.NaN;
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < n && j < m) {
    const x = Math.min(a[i] as number, b[j] as number);
    while (i < n && (a[i] as number) <= x) i++;
    while (j < m && (b[j] as number) <= x) j++;
    d = Math.max(d, Math.abs(i / n - j / m));
  }
  return d;
}

/** The two-sided p-value of a two-sample KS statistic, by scipy's rule for exact or asymptotic. */
export function ks2PValue(n: number, m: number, d: number): number {
  if (Math.max(n, m) <= KS_EXACT_MAX_N) {
    const exact = ks2ExactPValue(n, m, d);
    if (exact !== undefined) return exact;
  }
  const [big, small] = n >= m ? [n, m] : [m, n];
  return kstwoSf(Math.round((big * small) / (big + small)), d);
}

function presentSorted(values: ArrayLike<number>): Float64Array {
  const out = new Float64Array(values.length);
  let k = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!Number.isNaN(v)) out[k++] = v;
  }
  return out.subarray(0, k).sort();
}

/**
 * Chi-square test of homogeneity of two count vectors over the same categories (a 2×K
 * contingency table, scipy's `chi2_contingency(correction=False)`). Categories empty in both
 * are dropped; with fewer than two left there is nothing to test (statistic 0, p 1).
 */
export function chiSquare(
  reference: readonly number[],
  current: readonly number[],
): TestResult & { df: number } {
  const keep = reference.map((r, k) => r + (current[k] ?? 0) > 0);
  const ref = reference.filter((_, k) => keep[k]);
  const cur = current.filter((_, k) => keep[k]);
  if (ref.length < 2) return { statistic: 0, pValue: 1, df: 0 };
  const nRef = ref.reduce((s, v) => s + v, 0);
  const nCur = cur.reduce((s, v) => s + v, 0);
  const total = nRef + nCur;
  let statistic = 0;
  ref.forEach((r, k) => {
    const c = cur[k] as number;
    const column = r + c;
    const eRef = (column * nRef) / total;
    const eCur = (column * nCur) / total;
    if (eRef > 0) statistic += (r - eRef) ** 2 / eRef;
    if (eCur > 0) statistic += (c - eCur) ** 2 / eCur;
  });
  const df = ref.length - 1;
  return { statistic, df, pValue: gammainc(statistic / 2, df / 2, true, true) };
}

/**
 * Population stability index Σ (cur − ref)·ln(cur / ref) over bucket shares, each share floored
 * at `epsilon` so an empty bucket does not make it infinite. Rule of thumb: < 0.1 stable,
 * 0.1–0.25 moderate shift, > 0.25 significant shift.
 */
export function psi(reference: readonly number[], current: readonly number[], epsilon = 1e-4): number {
  const share = (counts: readonly number[]) => {
    const total = counts.reduce((s, v) => s + v, 0);
    return counts.map((c) => Math.max(epsilon, total === 0 ? 0 : c / total));
  };
  const r = share(reference);
  const c = share(current);
  return r.reduce((sum, rk, k) => {
    const ck = c[k] as number;
    return sum + (ck - rk) * Math.log(ck / rk);
  }, 0);
}

/**
 * Wasserstein-1 (earth mover's) distance between two samples, scipy's
 * `stats.wasserstein_distance`: ∫ |F_ref(x) − F_cur(x)| dx over the merged sorted values.
 * NaN values are ignored; NaN when either sample is empty.
 */
export function wasserstein(reference: ArrayLike<number>, current: ArrayLike<number>): number {
  return wassersteinSorted(presentSorted(reference), presentSorted(current));
}

/** {@link wasserstein} on sorted samples without NaN. */
export function wassersteinSorted(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  const m = b.length;
  if (n === 0 || m === 0) return Number.NaN;
  let i = 0;
  let j = 0;
  let total = 0;
  let x = Math.min(a[0] as number, b[0] as number);
  while (i < n || j < m) {
    // Step both CDFs past x, then integrate their gap up to the next value.
    while (i < n && (a[i] as number) <= x) i++;
    while (j < m && (b[j] as number) <= x) j++;
    if (i === n && j === m) break;
    const next = Math.min(
      i < n ? (a[i] as number) : Number.POSITIVE_INFINITY,
      j < m ? (b[j] as number) : Number.POSITIVE_INFINITY,
    );
    total += Math.abs(i / n - j / m) * (next - x);
    x = next;
  }
  return total;
}

/**
 * Jensen–Shannon distance with base-2 logarithms between two count (or share) vectors over the
 * same buckets, scipy's `spatial.distance.jensenshannon(p, q, base=2)`: both normalised to sum
 * 1, then √(½·KL(p‖m) + ½·KL(q‖m)) with m = (p + q)/2 and 0·log 0 = 0. In [0, 1]; NaN when a
 * vector is all zeros.
 */
export function jensenShannon(p: readonly number[], q: readonly number[]): number {
  const sp = p.reduce((a, b) => a + b, 0);
  const sq = q.reduce((a, b) => a + b, 0);
  if (!(sp > 0 && sq > 0)) return Number.NaN;
  let divergence = 0;
  for (let k = 0; k < p.length; k++) {
    const pk = (p[k] as number) / sp;
    const qk = (q[k] ?? 0) / sq;
    const mk = (pk + qk) / 2;
    if (pk > 0) divergence += pk * Math.log(pk / mk);
    if (qk > 0) divergence += qk * Math.log(qk / mk);
  }
  return Math.sqrt(Math.max(0, divergence / Math.LN2 / 2));
}

/**
 * Decile edges of the reference's present values (numpy's linear-interpolation quantiles),
 * deduplicated: bucket k holds values in (edges[k-1], edges[k]].
 */
export function quantileEdges(reference: ArrayLike<number>, buckets = 10): number[] {
  const sorted = presentSorted(reference);
  if (sorted.length === 0) return [];
  const at = (q: number) => {
    const pos = q * (sorted.length - 1);
    const lo = Math.floor(pos);
    const hi = Math.ceil(pos);
    return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (pos - lo);
  };
  const inner = Array.from({ length: buckets - 1 }, (_, k) => at((k + 1) / buckets));
  return [...new Set(inner)];
}

/** Counts per bucket of `edges` (values above the last edge in the last bucket), then missing. */
export function bucketCounts(values: ArrayLike<number>, edges: readonly number[]): number[] {
  const counts = new Array<number>(edges.length + 2).fill(0);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (Number.isNaN(v)) {
      counts[edges.length + 1] = (counts[edges.length + 1] as number) + 1;
      continue;
    }
    const k = bucketOf(edges, v);
    counts[k] = (counts[k] as number) + 1;
  }
  return counts;
}

export type ColumnShift =
  | {
      readonly kind: 'numeric';
      readonly psi: number;
      readonly ks: TestResult;
      /** Wasserstein-1 distance, raw and divided by the reference's standard deviation (ddof 0). */
      readonly wasserstein: { readonly raw: number; readonly normalized: number };
      /** On the same buckets as the PSI (the missing bucket included). */
      readonly jensenShannon: number;
      readonly missingRate: { readonly reference: number; readonly current: number };
      readonly mean: { readonly reference: number; readonly current: number };
    }
  | {
      readonly kind: 'categorical';
      readonly psi: number;
      readonly chiSquare: TestResult & { readonly df: number };
      /** On the category frequencies (missing as a category, unseen ones counted). */
      readonly jensenShannon: number;
      readonly missingRate: { readonly reference: number; readonly current: number };
      /** Categories in the current data the reference never had. */
      readonly unseen: readonly string[];
    };

/** Population standard deviation (ddof 0, numpy's default) of the present values. */
function stdOf(values: Float64Array): number {
  const mean = meanOf(values);
  let sum = 0;
  let n = 0;
  for (const v of values)
    if (!Number.isNaN(v)) {
      sum += (v - mean) ** 2;
      n++;
    }
  return n === 0 ? Number.NaN : Math.sqrt(sum / n);
}

function meanOf(values: Float64Array): number {
  let sum = 0;
  let n = 0;
  for (const v of values)
    if (!Number.isNaN(v)) {
      sum += v;
      n++;
    }
  return n === 0 ? Number.NaN : sum / n;
}

/** Shift of one column between two tables; both columns must be of the same kind. */
export function columnShift(reference: Column, current: Column): ColumnShift {
  if (reference.kind === 'numeric' && current.kind === 'numeric') {
    const edges = quantileEdges(reference.values);
    const ref = bucketCounts(reference.values, edges);
    const cur = bucketCounts(current.values, edges);
    const a = presentSorted(reference.values);
    const b = presentSorted(current.values);
    const raw = wassersteinSorted(a, b);
    const sd = stdOf(reference.values);
    return {
      kind: 'numeric',
      psi: psi(ref, cur),
      ks: ks2Sorted(a, b),
      wasserstein: { raw, normalized: sd > 0 ? raw / sd : raw === 0 ? 0 : Number.POSITIVE_INFINITY },
      jensenShannon: jensenShannon(ref, cur),
      missingRate: {
        reference: (ref.at(-1) as number) / Math.max(1, reference.values.length),
        current: (cur.at(-1) as number) / Math.max(1, current.values.length),
      },
      mean: { reference: meanOf(reference.values), current: meanOf(current.values) },
    };
  }
  if (reference.kind === 'categorical' && current.kind === 'categorical') {
    const categories = [...new Set([...reference.dictionary, ...current.dictionary])];
    const index = new Map(categories.map((c, k) => [c, k]));
    const count = (column: typeof reference) => {
      const counts = new Array<number>(categories.length).fill(0);
      let missing = 0;
      for (const code of column.codes) {
        if (code < 0) missing++;
        else {
          const k = index.get(column.dictionary[code] as string) as number;
          counts[k] = (counts[k] as number) + 1;
        }
      }
      return { counts, missing };
    };
    const ref = count(reference);
    const cur = count(current);
    return {
      kind: 'categorical',
      psi: psi([...ref.counts, ref.missing], [...cur.counts, cur.missing]),
      chiSquare: chiSquare(ref.counts, cur.counts),
      jensenShannon: jensenShannon([...ref.counts, ref.missing], [...cur.counts, cur.missing]),
      missingRate: {
        reference: ref.missing / Math.max(1, reference.codes.length),
        current: cur.missing / Math.max(1, current.codes.length),
      },
      unseen: categories.filter((_, k) => (ref.counts[k] as number) === 0 && (cur.counts[k] as number) > 0),
    };
  }
  throw new TypeError(`column kinds differ: reference ${reference.kind}, current ${current.kind}`);
}
