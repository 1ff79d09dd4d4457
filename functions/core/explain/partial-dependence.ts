/**
 * Partial dependence and ICE on raw columns (Friedman 2001; Goldstein et al. 2015), by the
 * brute method `sklearn.inspection.partial_dependence` uses: for each grid point, every row with
 * the column(s) set to it, scored, then averaged (PD) or kept per row (ICE). The grid is
 * scikit-learn's: a numeric column's unique values when it has fewer than `resolution`, else
 * `resolution` evenly spaced points between its 5th and 95th percentiles (scipy's `mquantiles`,
 * plotting positions α = β = 0.4); a categorical column's categories. Two columns: their grids'
 * cartesian product, the first varying slowest. All grid points go to the scorer in one batch.
 */
import type { Column, Table } from '../data/table.ts';

export interface GridOptions {
  /** @default [0.05, 0.95] */
  readonly percentiles?: readonly [number, number];
  /** @default 100 */
  readonly resolution?: number;
}

export type GridAxis = readonly number[] | readonly string[];

export interface PartialDependence {
  readonly columns: readonly string[];
  /** Each column's grid values. */
  readonly grid: readonly GridAxis[];
  /** The mean score at each grid point (cartesian order, the first column slowest). */
  readonly average: Float64Array;
  /** ICE: `points × rows`, row-major by point. */
  readonly individual: Float64Array;
}

/** scipy.stats.mstats.mquantiles with its default plotting positions (α = β = 0.4), of sorted data. */
export function mquantile(sorted: ArrayLike<number>, p: number, alphap = 0.4, betap = 0.4): number {
  const n = sorted.length;
  if (n === 0) throw new RangeError('no values to take a quantile of');
  const m = alphap + p * (1 - alphap - betap);
  const aleph = n * p + m;
  const k = Math.floor(Math.min(Math.max(aleph, 1), n - 1));
  const gamma = Math.min(Math.max(aleph - k, 0), 1);
  if (n === 1) return sorted[0] as number;
  return (1 - gamma) * (sorted[k - 1] as number) + gamma * (sorted[k] as number);
}

/** The grid of one column, as scikit-learn builds it; missing values are not grid points. */
export function gridOf(column: Column, options: GridOptions = {}): GridAxis {
  const resolution = options.resolution ?? 100;
  const [lo, hi] = options.percentiles ?? [0.05, 0.95];
  if (!(resolution > 1)) throw new RangeError(`resolution must be greater than 1, got ${resolution}`);
  if (!(lo >= 0 && hi <= 1 && lo < hi))
    throw new RangeError(`percentiles must be 0 ≤ low < high ≤ 1, got ${lo}, ${hi}`);
  if (column.kind === 'categorical') {
    const used = new Set<number>();
    for (const code of column.codes) if (code >= 0) used.add(code);
    return [...used].map((c) => column.dictionary[c] as string).sort();
  }
  const present = Float64Array.from(column.values.filter((v) => !Number.isNaN(v))).sort();
  if (present.length === 0) throw new RangeError('the column has no values');
  const unique: number[] = [];
  for (const v of present) if (unique.at(-1) !== v) unique.push(v);
  if (unique.length < resolution) return unique;
  const a = mquantile(present, lo);
  const b = mquantile(present, hi);
  if (Math.abs(b - a) <= 1e-8 + 1e-5 * Math.abs(a))
    throw new RangeError(`the column's ${lo} and ${hi} percentiles are too close to build a grid`);
  return Array.from({ length: resolution }, (_, i) =>
    i === resolution - 1 ? b : a + ((b - a) * i) / (resolution - 1),
  );
}

/** `table`'s rows repeated once per grid point, with `columns` set to that point's values. */
function expand(table: Table, columns: readonly string[], points: readonly (number | string)[][]): Table {
  const n = table.rowCount;
  const total = n * points.length;
  const out = new Map<string, Column>();
  for (const [name, column] of table.columns) {
    const at = columns.indexOf(name);
    if (column.kind === 'numeric') {
      const values = new Float64Array(total);
      for (let p = 0; p < points.length; p++) {
        if (at >= 0) values.fill(points[p]?.[at] as number, p * n, (p + 1) * n);
        else values.set(column.values, p * n);
      }
      out.set(name, { kind: 'numeric', values });
    } else {
      const dictionary = [...column.dictionary];
      const codes = new Int32Array(total);
      for (let p = 0; p < points.length; p++) {
        if (at < 0) {
          codes.set(column.codes, p * n);
          continue;
        }
        const category = points[p]?.[at] as string;
        let code = dictionary.indexOf(category);
        if (code < 0) code = dictionary.push(category) - 1;
        codes.fill(code, p * n, (p + 1) * n);
      }
      out.set(name, { kind: 'categorical', codes, dictionary });
    }
  }
  return { rowCount: total, columns: out };
}

/**
 * PD and ICE of one or two raw columns. `score` returns the probability of class 1 for each
 * row of a table with the same columns (the model with its pipeline).
 */
export async function partialDependence(
  score: (table: Table) => Promise<ArrayLike<number>>,
  table: Table,
  columns: readonly string[],
  options: GridOptions = {},
): Promise<PartialDependence> {
  if (columns.length < 1 || columns.length > 2)
    throw new RangeError(`partial dependence takes one or two columns, got ${columns.length}`);
  if (new Set(columns).size !== columns.length)
    throw new RangeError(`the columns repeat: ${columns.join(', ')}`);
  const missing = columns.filter((c) => !table.columns.has(c));
  if (missing.length > 0) throw new RangeError(`no column ${missing.join(', ')} in the data`);
  if (table.rowCount === 0) throw new RangeError('the data has no rows');
  const grid = columns.map((c) => gridOf(table.columns.get(c) as Column, options));
  const points: (number | string)[][] =
    grid.length === 1
      ? (grid[0] as (number | string)[]).map((v) => [v])
      : (grid[0] as (number | string)[]).flatMap((a) => (grid[1] as (number | string)[]).map((b) => [a, b]));
  const scores = await score(expand(table, columns, points));
  const n = table.rowCount;
  if (scores.length !== n * points.length)
    throw new RangeError(`the scorer returned ${scores.length} scores for ${n * points.length} rows`);
  const individual = Float64Array.from(scores);
  const average = new Float64Array(points.length);
  for (let p = 0; p < points.length; p++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += individual[p * n + i] as number;
    average[p] = sum / n;
  }
  return { columns, grid, average, individual };
}
