/**
 * Global importance of raw columns. Permutation importance (Breiman 2001; as
 * `sklearn.inspection.permutation_importance` with `scoring="roc_auc"`): how much the AUC drops
 * when one column's values are shuffled across rows, breaking its link to the label while
 * keeping its distribution; `repeats` shuffles each, reported as the mean drop and its spread
 * (population standard deviation, as scikit-learn). All shuffled copies are scored in one batch.
 * And mean |SHAP|: the average absolute contribution per column.
 */
import type { CategoricalColumn, Column, NumericColumn, Table } from '../data/table.ts';
import { aucComponents, delongVariance } from '../metrics/classification.ts';
import { Rng } from '../random.ts';

export interface PermutationImportance {
  readonly column: string;
  /** Mean AUC drop over the repeats (positive: the model relies on the column). */
  readonly mean: number;
  readonly std: number;
  /**
   * Standard error of `mean` as an estimate of the population's AUC drop: DeLong's variance of
   * the paired AUC difference (the rows' noise) plus the shuffles' own spread over the repeats.
   */
  readonly se: number;
  readonly drops: readonly number[];
  /**
   * With `costs`: what the column saves per decision, in the costs' currency: the mean change
   * of each row's decision cost when the column is shuffled (over the repeats), and its
   * standard error over rows.
   */
  readonly saving?: { readonly mean: number; readonly se: number };
}

/** Decision costs, to price a column's importance (a decision is positive when `p > threshold`). */
export interface DecisionCosts {
  readonly falsePositive: number;
  readonly falseNegative: number;
  readonly truePositiveBenefit?: number;
  /** @default 0.5, the served label's threshold */
  readonly threshold?: number;
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
  /** Prices each column's importance (`saving`). @default not priced */
  readonly costs?: DecisionCosts;
}

/** Each row's decision cost under `costs`. */
function rowCosts(labels: ArrayLike<number>, scores: ArrayLike<number>, costs: DecisionCosts): Float64Array {
  const t = costs.threshold ?? 0.5;
  const benefit = costs.truePositiveBenefit ?? 0;
  return Float64Array.from({ length: labels.length }, (_, i) => {
    const positive = (scores[i] as number) > t;
    if (labels[i] === 1) return positive ? -benefit : costs.falseNegative;
    return positive ? costs.falsePositive : 0;
  });
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

type ImportanceResult = { readonly baseline: number; readonly columns: readonly PermutationImportance[] };

/** The stacked table to score: the rows as they are, then each column's shuffled copies. */
function permutedCopies(table: Table, labels: ArrayLike<number>, options: PermutationOptions) {
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
  return { stacked: stack(copies), names, repeats, copies: copies.length };
}

export async function permutationImportance(
  score: (table: Table) => Promise<ArrayLike<number>>,
  table: Table,
  labels: ArrayLike<number>,
  options: PermutationOptions = {},
): Promise<ImportanceResult> {
  const plan = permutedCopies(table, labels, options);
  return importanceOf(await score(plan.stacked), table.rowCount, labels, plan, options);
}

/** {@link permutationImportance} with a synchronous scorer (training scores its own model). */
export function permutationImportanceSync(
  score: (table: Table) => ArrayLike<number>,
  table: Table,
  labels: ArrayLike<number>,
  options: PermutationOptions = {},
): ImportanceResult {
  const plan = permutedCopies(table, labels, options);
  return importanceOf(score(plan.stacked), table.rowCount, labels, plan, options);
}

function importanceOf(
  scores: ArrayLike<number>,
  n: number,
  labels: ArrayLike<number>,
  plan: { readonly names: readonly string[]; readonly repeats: number; readonly copies: number },
  options: PermutationOptions,
): ImportanceResult {
  const { names, repeats } = plan;
  if (scores.length !== n * plan.copies)
    throw new RangeError(`the scorer returned ${scores.length} scores for ${n * plan.copies} rows`);
  const scoresOf = (k: number) => Array.prototype.slice.call(scores, k * n, (k + 1) * n) as number[];
  const base = aucComponents(labels, scoresOf(0));
  const baseline = base.auc;
  const baseCosts = options.costs ? rowCosts(labels, scoresOf(0), options.costs) : undefined;
  const saving = (c: number) => {
    const delta = new Float64Array(n);
    for (let r = 0; r < repeats; r++) {
      const costs = rowCosts(labels, scoresOf(1 + c * repeats + r), options.costs as DecisionCosts);
      for (let i = 0; i < n; i++)
        delta[i] =
          (delta[i] as number) +
          ((costs[i] as number) - ((baseCosts as Float64Array)[i] as number)) / repeats;
    }
    let mean = 0;
    for (const d of delta) mean += d / n;
    let v = 0;
    for (const d of delta) v += (d - mean) ** 2;
    return { mean, se: n > 1 ? Math.sqrt(v / (n - 1) / n) : 0 };
  };
  const columns = names.map((column, c) => {
    // The drop's components, row by row: the baseline's minus the shuffles' mean.
    const pos = Float64Array.from(base.positives);
    const neg = Float64Array.from(base.negatives);
    const drops: number[] = [];
    for (let r = 0; r < repeats; r++) {
      // The components' mean is the AUC (midranks, as scikit-learn's): one sort gives both.
      const parts = aucComponents(labels, scoresOf(1 + c * repeats + r));
      drops.push(baseline - parts.auc);
      for (let i = 0; i < pos.length; i++)
        pos[i] = (pos[i] as number) - (parts.positives[i] as number) / repeats;
      for (let j = 0; j < neg.length; j++)
        neg[j] = (neg[j] as number) - (parts.negatives[j] as number) / repeats;
    }
    const mean = drops.reduce((a, b) => a + b, 0) / repeats;
    const std = Math.sqrt(drops.reduce((a, d) => a + (d - mean) ** 2, 0) / repeats);
    const shuffleVariance = repeats > 1 ? (std * std * repeats) / (repeats - 1) / repeats : 0;
    const se = Math.sqrt(delongVariance(pos, neg) + shuffleVariance);
    return { column, mean, std, se, drops, ...(options.costs ? { saving: saving(c) } : {}) };
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
