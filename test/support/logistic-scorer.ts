import type { Table } from '../../functions/core/data/table.ts';

/** A logistic regression over named numeric columns of a table, as the reference fixtures fit it. */
export function logisticScorer(
  model: { coefficients: readonly number[]; intercept: number },
  names: readonly string[],
) {
  return async (t: Table) =>
    Float64Array.from({ length: t.rowCount }, (_, i) => {
      let z = model.intercept;
      names.forEach((name, j) => {
        const column = t.columns.get(name);
        if (column?.kind === 'numeric') z += (model.coefficients[j] as number) * (column.values[i] as number);
      });
      return 1 / (1 + Math.exp(-z));
    });
}

/** A table of numeric columns from fixture rows. */
export function numericTable(rows: readonly (readonly number[])[], names: readonly string[]): Table {
  return {
    rowCount: rows.length,
    columns: new Map(
      names.map((name, j) => [
        name,
        { kind: 'numeric', values: Float64Array.from(rows, (r) => r[j] as number) },
      ]),
    ),
  };
}
