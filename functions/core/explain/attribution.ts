/**
 * From model inputs to the raw columns users think in: the feature pipeline is compiled into
 * the model, so each model input (a one-hot column, a log, a ratio) derives from one raw column
 * or from several. Contributions of inputs from one column are summed under it; an input
 * derived from several columns (a ratio) is reported under its own name and listed as derived,
 * since splitting it between its sources would be a choice, not a fact. Sums are kept exactly.
 */
import type { FeatureProvenance } from '../features/pipeline.ts';

export interface ColumnAttribution {
  /** Raw columns first (in the order their inputs appear), then derived features. */
  readonly names: readonly string[];
  /** Row-major, `rows × names.length`. */
  readonly values: Float64Array;
  /** The features reported under their own name, with the columns they derive from. */
  readonly derived: readonly { readonly name: string; readonly sources: readonly string[] }[];
}

/**
 * Groups per-input contributions (`rows × features.length`, row-major) by raw column.
 * `features` is the pipeline's provenance, in the model's input order.
 */
export function attributeToColumns(
  inputValues: Float64Array,
  rows: number,
  features: readonly Pick<FeatureProvenance, 'name' | 'sources'>[],
): ColumnAttribution {
  const d = features.length;
  if (inputValues.length !== rows * d)
    throw new RangeError(`${inputValues.length} contributions for ${rows} rows × ${d} inputs`);
  const columns: string[] = [];
  const derived: { name: string; sources: readonly string[] }[] = [];
  const target = new Int32Array(d);
  const index = new Map<string, number>();
  const slot = (name: string) => {
    let k = index.get(name);
    if (k === undefined) {
      k = columns.length;
      index.set(name, k);
      columns.push(name);
    }
    return k;
  };
  // Raw columns first, then derived features, so a derived name never shadows a column.
  features.forEach((f, j) => {
    if (f.sources.length === 1) target[j] = slot(f.sources[0] as string);
  });
  features.forEach((f, j) => {
    if (f.sources.length === 1) return;
    if (index.has(f.name))
      throw new RangeError(`derived feature ${f.name} has the name of a column it would hide`);
    target[j] = slot(f.name);
    derived.push({ name: f.name, sources: f.sources });
  });
  const width = columns.length;
  const values = new Float64Array(rows * width);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < d; j++) {
      const at = i * width + (target[j] as number);
      values[at] = (values[at] as number) + (inputValues[i * d + j] as number);
    }
  return { names: columns, values, derived };
}
