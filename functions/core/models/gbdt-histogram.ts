/**
 * The data side of GBDT training: quantile bins, bin codes, packed quantised gradients, and the
 * two hot loops over rows (histogram accumulation and the stable partition of a split).
 */
import type { Matrix } from '../linalg.ts';
import type { Rng } from '../random.ts';
import { bucketOf } from '../search.ts';

/** Quantile bin upper edges per feature (from up to 200k rows); bin k holds values <= edges[k]. */
export function binEdges(x: Matrix, maxBins: number, rng: Rng): Float64Array[] {
  const { rows: n, cols: d, data } = x;
  const sampleRows = n > 200_000 ? rng.permutation(n).subarray(0, 200_000) : undefined;
  const m = sampleRows ? sampleRows.length : n;
  const column = new Float64Array(m);
  const edges: Float64Array[] = [];
  for (let j = 0; j < d; j++) {
    let present = 0;
    for (let k = 0; k < m; k++) {
      const v = data[(sampleRows ? (sampleRows[k] as number) : k) * d + j] as number;
      if (!Number.isNaN(v)) column[present++] = v;
    }
    // A typed-array sort is numeric and far faster than sorting boxed numbers.
    const values = column.subarray(0, present).sort();
    const distinct: number[] = [];
    for (const v of values) if (distinct.at(-1) !== v) distinct.push(v);
    if (distinct.length <= maxBins - 1) {
      // Few distinct values: one bin each, split halfway between neighbours.
      edges.push(
        Float64Array.from(distinct.slice(0, -1).map((v, k) => (v + (distinct[k + 1] as number)) / 2)),
      );
      continue;
    }
    // Quantile cut points, each moved halfway to the next distinct value: a threshold never
    // equals a data value, so a 1-ulp difference in an upstream transform (log in V8 vs
    // onnxruntime) cannot send a row the other way at serving time.
    const cut: number[] = [];
    for (let b = 1; b < maxBins - 1; b++) {
      const v = values[Math.floor((b * values.length) / (maxBins - 1))] as number;
      let lo = 0;
      let hi = distinct.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((distinct[mid] as number) <= v) lo = mid + 1;
        else hi = mid;
      }
      const next = distinct[lo] as number;
      if (next <= v) continue; // v is the largest value: nothing to split off above it
      const edge = (v + next) / 2;
      if (cut.at(-1) !== edge) cut.push(edge);
    }
    edges.push(Float64Array.from(cut));
  }
  return edges;
}

/**
 * Bin codes, row-major (row i's codes are contiguous, one byte each); a feature's missing bin
 * is its last (edges.length + 1).
 */
export function quantise(x: Matrix, edges: readonly Float64Array[]): Uint8Array {
  const { rows: n, cols: d, data } = x;
  const codes = new Uint8Array(n * d);
  for (let j = 0; j < d; j++) {
    const e = edges[j] as Float64Array;
    const missing = e.length + 1;
    for (let i = 0; i < n; i++) {
      const v = data[i * d + j] as number;
      if (Number.isNaN(v)) {
        codes[i * d + j] = missing;
        continue;
      }
      codes[i * d + j] = bucketOf(e, v);
    }
  }
  return codes;
}

/**
 * Gradients are quantised, as in LightGBM's `use_quantized_grad`: each row's gradient and
 * hessian become small integers (stochastic rounding) packed into one float64 as
 * `g·2^26 + h`. Sums of packed values stay exact integers below 2^53, so a histogram bin needs
 * one add instead of two: the histogram pass is the hot loop of training. Leaf values are then
 * renewed from the exact gradients, so only the choice of splits sees the quantisation.
 */
export const PACK = 2 ** 26;

/** Splits a packed sum into its gradient and hessian integer sums. */
export function unpack(v: number): [number, number] {
  const g = Math.floor(v / PACK);
  return [g, v - g * PACK];
}

/**
 * Adds rows `order[begin, end)` into a histogram: one pass over rows, each row's codes
 * contiguous. Like LightGBM, no counts are kept; a side's row count is estimated from its
 * hessian share. A top-level function with every array passed in, so V8 keeps them in
 * registers rather than reloading closure slots.
 */
export function accumulate(
  hist: Float64Array,
  order: Int32Array,
  begin: number,
  end: number,
  packed: Float64Array,
  codes: Uint8Array,
  offset: Int32Array,
  d: number,
  allowed: Int32Array | undefined,
): Float64Array {
  if (allowed === undefined) {
    for (let k = begin; k < end; k++) {
      const i = order[k] as number;
      const v = packed[i] as number;
      const row = i * d;
      for (let j = 0; j < d; j++) {
        const b = (offset[j] as number) + (codes[row + j] as number);
        hist[b] = (hist[b] as number) + v;
      }
    }
    return hist;
  }
  const na = allowed.length;
  for (let k = begin; k < end; k++) {
    const i = order[k] as number;
    const v = packed[i] as number;
    const row = i * d;
    for (let a = 0; a < na; a++) {
      const j = allowed[a] as number;
      const b = (offset[j] as number) + (codes[row + j] as number);
      hist[b] = (hist[b] as number) + v;
    }
  }
  return hist;
}

/** Stable in-place partition of `order[begin, end)` by a split; returns the left side's size. */
export function partition(
  order: Int32Array,
  scratch: Int32Array,
  begin: number,
  end: number,
  column: Uint8Array,
  missingBin: number,
  missingLeft: boolean,
  bin: number,
): number {
  let nl = 0;
  let nr = 0;
  for (let k = begin; k < end; k++) {
    const i = order[k] as number;
    const b = column[i] as number;
    if (b === missingBin ? missingLeft : b <= bin) order[begin + nl++] = i;
    else scratch[nr++] = i;
  }
  order.set(scratch.subarray(0, nr), begin + nl);
  return nl;
}
