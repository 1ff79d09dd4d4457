/**
 * Columnar tables: typed arrays for numeric columns, dictionary codes for categorical ones,
 * and explicit missing values (NaN for numbers, code -1 for categories). A million rows of
 * twenty columns is a few dozen megabytes, not millions of row objects.
 */
/**
 * Largest finite float32. Models take float32, so a larger magnitude would reach them as
 * ±Infinity; statistics count such values with the missing ones (their squares overflow too).
 */
export const FLOAT32_MAX = 3.4028234663852886e38;

export interface NumericColumn {
  readonly kind: 'numeric';
  /** NaN marks a missing value. */
  readonly values: Float64Array;
}

export interface CategoricalColumn {
  readonly kind: 'categorical';
  /** Index into `dictionary`; -1 marks a missing value. */
  readonly codes: Int32Array;
  readonly dictionary: readonly string[];
}

export type Column = NumericColumn | CategoricalColumn;

export interface Table {
  readonly rowCount: number;
  /** Columns in file order. */
  readonly columns: ReadonlyMap<string, Column>;
}

export type ColumnType = Column['kind'];
export type Schema = Readonly<Record<string, ColumnType>>;

export function schemaOf(table: Table): Schema {
  return Object.fromEntries([...table.columns].map(([name, column]) => [name, column.kind]));
}

/** Value of a cell as a JS value (number, string or null), for display and small conversions. */
export function cell(column: Column, row: number): number | string | null {
  if (column.kind === 'numeric') {
    const v = column.values[row] as number;
    return Number.isNaN(v) ? null : v;
  }
  const code = column.codes[row] as number;
  return code < 0 ? null : (column.dictionary[code] as string);
}

/** A column's values as strings (numbers printed), null where missing: group labels for metrics. */
export function columnStrings(table: Table, name: string): (string | null)[] {
  const column = table.columns.get(name);
  if (column === undefined) throw new RangeError(`no column ${name}`);
  return Array.from({ length: table.rowCount }, (_, i) => {
    const value = cell(column, i);
    return value === null ? null : String(value);
  });
}

/** Grows a Float64Array by doubling, so appends are amortised O(1) without JS arrays. */
export class NumericBuilder {
  #values = new Float64Array(1024);
  #length = 0;

  push(value: number): void {
    if (this.#length === this.#values.length) {
      const next = new Float64Array(this.#values.length * 2);
      next.set(this.#values);
      this.#values = next;
    }
    this.#values[this.#length++] = value;
  }

  build(): NumericColumn {
    return { kind: 'numeric', values: this.#values.slice(0, this.#length) };
  }
}

/** Dictionary-encodes strings as they arrive. */
export class CategoricalBuilder {
  #codes = new Int32Array(1024);
  #length = 0;
  readonly #index = new Map<string, number>();
  readonly #dictionary: string[] = [];

  push(value: string | null): void {
    if (this.#length === this.#codes.length) {
      const next = new Int32Array(this.#codes.length * 2);
      next.set(this.#codes);
      this.#codes = next;
    }
    let code = -1;
    if (value !== null) {
      code = this.#index.get(value) ?? -1;
      if (code < 0) {
        code = this.#dictionary.length;
        this.#index.set(value, code);
        this.#dictionary.push(value);
      }
    }
    this.#codes[this.#length++] = code;
  }

  build(): CategoricalColumn {
    return {
      kind: 'categorical',
      codes: this.#codes.slice(0, this.#length),
      dictionary: [...this.#dictionary],
    };
  }
}

/** Serialises a table as CSV (RFC 4180 quoting), missing values as empty fields. */
export function toCsv(table: Table): string {
  const names = [...table.columns.keys()];
  const quote = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  const lines = [names.map(quote).join(',')];
  const columns = [...table.columns.values()];
  for (let r = 0; r < table.rowCount; r++) {
    lines.push(
      columns
        .map((c) => {
          const v = cell(c, r);
          return v === null ? '' : typeof v === 'number' ? String(v) : quote(v);
        })
        .join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}
