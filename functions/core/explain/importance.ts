/**
 * Global importance of raw columns. Permutation importance (Breiman 2001; as
 * `sklearn.inspection.permutation_importance` with `scoring="roc_auc"`): how much the AUC drops
 * when one column's values are shuffled across rows, breaking its link to the label while
 * keeping its distribution; `repeats` shuffles each, reported as the mean drop and its spread
 * (population standard deviation, as scikit-learn). All shuffled copies are scored in one batch.
 * And mean |SHAP|: the average absolute contribution per column.
 */
import type { CategoricalColumn, Column, NumericColumn, Table } from '../data/table.ts';
import { auc } from '../metrics/classification.ts';
import { Rng } from '../random.ts';

export interface PermutationImportance {
  readonly column: string;
  /** Mean AUC drop over the repeats (positive: the model relies on the column). */
  readonly mean: number;
  readonly std: number;
  readonly drops: readonly number[];
}

export interface PermutationOptions {
  /** @default 5, as scikit-learn */
  readonly repeats?: number;
  /** @default 0 */
  readonly seed?: number;
  /** Raw columns to permute. @default every column of the table */
  readonly columns?: readonly string[];
  /** The row orders to use, per column then repeat (tests give scikit-learn's). @default drawn from `seed` */
  readonly permutations?: (column: string, repeat: number) => ArrayLike<number>;
}

function permuted(column: Column, order: ArrayLike<number>): Column {
  if (column.kind === 'numeric')
    return { kind: 'numeric', values: Float64Array.from(order, (i) => column.values[i] as number) };
  return {
    kind: 'categorical',
    codes: Int32Array.from(order, (i) => column.codes[i] as number),
    dictionary: column.dictionary,
  };
}

function concat<T extends Float64Array | Int32Array>(out: T, parts: readonly T[]): T {
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Tables stacked row-wise (same columns, same dictionaries per column). */
function stack(tables: readonly Table[]): Table {
  const first = tables[0] as Table;
  const total = tables.reduce((a, t) => a + t.rowCount, 0);
  const columns = new Map<string, Column>();
  for (const [name, column] of first.columns) {
    const parts = tables.map((t) => t.columns.get(name) as Column);
    columns.set(
      name,
      column.kind === 'numeric'
        ? {
            kind: 'numeric',
            values: concat(
              new Float64Array(total),
              parts.map((p) => (p as NumericColumn).values),
            ),
          }
        : {
            kind: 'categorical',
            codes: concat(
              new Int32Array(total),
              parts.map((p) => (p as CategoricalColumn).codes),
            ),
            dictionary: column.dictionary,
          },
    );
  }
  return { rowCount: total, columns };
}

export async function permutationImportance(
  score: (table: Table) => Promise<ArrayLike<number>>,
  table: Table,
  labels: ArrayLike<number>,
  options: PermutationOptions = {},
): Promise<{ readonly baseline: number; readonly columns: readonly PermutationImportance[] }> {
  const repeats = options.repeats ?? 5;
  if (!Number.isInteger(repeats) || repeats < 1)
    throw new RangeError(`repeats must be a positive integer, got ${repeats}`);
  if (labels.length !== table.rowCount)
    throw new RangeError(`${labels.length} labels for ${table.rowCount} rows`);
  const names = options.columns ?? [...table.columns.keys()];
  const unknown = names.filter((c) => !table.columns.has(c));
  if (unknown.length > 0) throw new RangeError(`no column ${unknown.join(', ')} in the data`);
  const rng = new Rng(options.seed ?? 0);
  const copies: Table[] = [table];
  for (const name of names)
    for (let r = 0; r < repeats; r++) {
      const order = options.permutations?.(name, r) ?? rng.permutation(table.rowCount);
      copies.push({
        rowCount: table.rowCount,
        columns: new Map([...table.columns].map(([c, col]) => [c, c === name ? permuted(col, order) : col])),
      });
    }
  const scores = await score(stack(copies));
  const n = table.rowCount;
  if (scores.length !== n * copies.length)
    throw new RangeError(`the scorer returned ${scores.length} scores for ${n * copies.length} rows`);
  const aucOf = (k: number) =>
    auc(labels, Array.prototype.slice.call(scores, k * n, (k + 1) * n) as number[]);
  const baseline = aucOf(0);
  const columns = names.map((column, c) => {
    const drops = Array.from({ length: repeats }, (_, r) => baseline - aucOf(1 + c * repeats + r));
    const mean = drops.reduce((a, b) => a + b, 0) / repeats;
    const std = Math.sqrt(drops.reduce((a, d) => a + (d - mean) ** 2, 0) / repeats);
    return { column, mean, std, drops };
  });
  return { baseline, columns };
}

/** Mean absolute contribution per column, from `rows × names.length` contributions. */
export function meanAbsoluteShap(values: Float64Array, rows: number, names: readonly string[]) {
  const d = names.length;
  if (values.length !== rows * d)
    throw new RangeError(`${values.length} contributions for ${rows} rows × ${d} columns`);
  return names
    .map((column, j) => {
      let sum = 0;
      for (let i = 0; i < rows; i++) sum += Math.abs(values[i * d + j] as number);
      return { column, meanAbs: rows > 0 ? sum / rows : 0 };
    })
    .sort((a, b) => b.meanAbs - a.meanAbs);
}
