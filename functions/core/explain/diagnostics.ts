/**
 * A model's global diagnostics on labelled rows, as the retraining pipeline's evaluation records
 * them: which raw columns it relies on (permutation importance, AUC drop with its spread; mean
 * |SHAP| when it has an explainer) and how its probability depends on the top ones (partial
 * dependence on scikit-learn's grid). Sampled to bounded sizes so a large holdout stays cheap.
 */
import type { Table } from '../data/table.ts';
import { Rng } from '../random.ts';
import { takeRows } from '../training/train.ts';
import type { Explanation } from './explainer.ts';
import { meanAbsoluteShap, permutationImportance } from './importance.ts';
import { type GridAxis, partialDependence } from './partial-dependence.ts';

export interface GlobalDiagnostics {
  readonly rows: { readonly importance: number; readonly shap: number; readonly pdp: number };
  readonly baselineAuc: number;
  /** By AUC drop, largest first. */
  readonly permutation: readonly {
    readonly column: string;
    readonly aucDrop: number;
    readonly std: number;
  }[];
  /** By mean |SHAP| (log-odds), largest first; null without an explainer. */
  readonly meanAbsShap: readonly { readonly column: string; readonly meanAbs: number }[] | null;
  /** Partial dependence of the probability on each of the top columns. */
  readonly pdp: readonly {
    readonly column: string;
    readonly grid: GridAxis;
    readonly average: readonly number[];
  }[];
}

export interface DiagnosticsOptions {
  /** Explains rows (the model's stored explainer). @default no mean |SHAP| */
  readonly explain?: (table: Table) => Explanation;
  /** @default 5 */
  readonly repeats?: number;
  /** @default 0 */
  readonly seed?: number;
  /** Columns given partial dependence, by permutation importance. @default 3 */
  readonly top?: number;
  /** Rows used for each part. @default 5,000 importance, 1,000 SHAP, 1,000 PDP */
  readonly importanceRows?: number;
  readonly shapRows?: number;
  readonly pdpRows?: number;
  /** @default 20 */
  readonly resolution?: number;
}

/** `n` rows drawn without replacement (seeded), in table order; the table itself when it has no more. */
function sampleRows(table: Table, n: number, seed: number): { table: Table; rows: number[] } {
  const all = Array.from({ length: table.rowCount }, (_, i) => i);
  if (n >= table.rowCount) return { table, rows: all };
  const rows = Array.from(new Rng(seed).permutation(table.rowCount).subarray(0, n)).sort((a, b) => a - b);
  return { table: takeRows(table, rows), rows };
}

/** Diagnostics of the model `score` scores (raw columns to probabilities) on labelled `table`. */
export async function globalDiagnostics(
  score: (table: Table) => Promise<ArrayLike<number>>,
  table: Table,
  labels: ArrayLike<number>,
  columns: readonly string[],
  options: DiagnosticsOptions = {},
): Promise<GlobalDiagnostics> {
  const seed = options.seed ?? 0;
  const sample = sampleRows(table, options.importanceRows ?? 5000, seed);
  const permutation = await permutationImportance(
    score,
    sample.table,
    sample.rows.map((i) => labels[i] as number),
    { repeats: options.repeats ?? 5, seed, columns },
  );
  const ranked = [...permutation.columns]
    .sort((a, b) => b.mean - a.mean)
    .map((c) => ({ column: c.column, aucDrop: c.mean, std: c.std }));
  let meanAbsShap: GlobalDiagnostics['meanAbsShap'] = null;
  const shap = sampleRows(table, options.shapRows ?? 1000, seed + 1);
  if (options.explain) {
    const explanation = options.explain(shap.table);
    const names = Object.keys(explanation.rows[0]?.contributions ?? {});
    const values = Float64Array.from(
      explanation.rows.flatMap((r) => names.map((n) => r.contributions[n] ?? 0)),
    );
    meanAbsShap = meanAbsoluteShap(values, explanation.rows.length, names);
  }
  const pdpTable = sampleRows(table, options.pdpRows ?? 1000, seed + 2).table;
  const pdp = [];
  for (const { column } of ranked.slice(0, options.top ?? 3)) {
    const pd = await partialDependence(score, pdpTable, [column], { resolution: options.resolution ?? 20 });
    pdp.push({ column, grid: pd.grid[0] as GridAxis, average: Array.from(pd.average) });
  }
  return {
    rows: {
      importance: sample.table.rowCount,
      shap: options.explain ? shap.table.rowCount : 0,
      pdp: pdpTable.rowCount,
    },
    baselineAuc: permutation.baseline,
    permutation: ranked,
    meanAbsShap,
    pdp,
  };
}
