/**
 * Streams CSV into a columnar {@link Table}. Parsing is csv-parse's (RFC 4180, quoting,
 * streaming); this module infers or applies the schema, encodes columns as it goes, and turns
 * bad rows into errors that name the line and the column. Only the inference sample is held
 * as strings, so memory follows the typed columns, not the file.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import { ValidationError } from '../../kernel/errors.ts';
import {
  CategoricalBuilder,
  type Column,
  type ColumnType,
  NumericBuilder,
  type Schema,
  type Table,
} from './table.ts';

export interface ReadCsvOptions {
  /** Types for some or all columns; the others are inferred. */
  readonly schema?: Partial<Schema>;
  /** Rows sampled to infer types. @default 1000 */
  readonly inferRows?: number;
  /** Field values read as missing. @default '', 'NA', 'N/A', 'NaN', 'nan', 'null', 'NULL' */
  readonly missing?: readonly string[];
  /** Name used in messages. @default the path, or 'input' */
  readonly source?: string;
}

const DEFAULT_MISSING = ['', 'NA', 'N/A', 'NaN', 'nan', 'null', 'NULL'];

function parseNumber(text: string): number | undefined {
  const value = Number(text.trim());
  return Number.isFinite(value) ? value : undefined;
}

export async function readCsv(input: string | Readable, options: ReadCsvOptions = {}): Promise<Table> {
  const source = options.source ?? (typeof input === 'string' ? input : 'input');
  const stream = typeof input === 'string' ? createReadStream(input) : input;
  const missing = new Set(options.missing ?? DEFAULT_MISSING);
  const inferRows = options.inferRows ?? 1000;
  const parser = stream.pipe(
    parse({ info: true, relax_column_count: true, skip_empty_lines: true, bom: true }),
  );

  let header: string[] | undefined;
  let types: ColumnType[] | undefined;
  let builders: (NumericBuilder | CategoricalBuilder)[] = [];
  const sample: { fields: string[]; line: number }[] = [];
  let rows = 0;

  const fail = (line: number, column: string | undefined, message: string): never => {
    throw new ValidationError(`${source} has a bad row`, [
      { path: column === undefined ? `line ${line}` : `line ${line}, column ${column}`, message },
    ]);
  };

  const append = (fields: string[], line: number) => {
    if (fields.length !== (header as string[]).length) {
      fail(
        line,
        undefined,
        `${fields.length} fields, but the header has ${(header as string[]).length} columns`,
      );
    }
    for (let c = 0; c < fields.length; c++) {
      const raw = fields[c] as string;
      const builder = builders[c];
      const isMissing = missing.has(raw.trim());
      if (builder instanceof NumericBuilder) {
        if (isMissing) builder.push(Number.NaN);
        else {
          const value = parseNumber(raw);
          if (value === undefined)
            fail(line, (header as string[])[c], `expected a number, got "${raw.slice(0, 40)}"`);
          builder.push(value as number);
        }
      } else (builder as CategoricalBuilder).push(isMissing ? null : raw);
    }
    rows++;
  };

  const decideTypes = () => {
    const names = header as string[];
    types = names.map((name, c) => {
      const given = options.schema?.[name];
      if (given) return given;
      const present = sample.map((r) => r.fields[c] ?? '').filter((v) => !missing.has(v.trim()));
      return present.length > 0 && present.every((v) => parseNumber(v) !== undefined)
        ? 'numeric'
        : 'categorical';
    });
    builders = types.map((t) => (t === 'numeric' ? new NumericBuilder() : new CategoricalBuilder()));
    for (const row of sample.splice(0)) append(row.fields, row.line);
  };

  try {
    for await (const { record, info } of parser as AsyncIterable<{
      record: string[];
      info: { lines: number };
    }>) {
      if (header === undefined) {
        header = record.map((h) => h.trim());
        const seen = new Set<string>();
        header.forEach((name, c) => {
          if (name === '') fail(info.lines, undefined, `column ${c + 1} has no name`);
          if (seen.has(name)) fail(info.lines, name, 'duplicate column name');
          seen.add(name);
        });
        const unknown = Object.keys(options.schema ?? {}).filter((name) => !seen.has(name));
        if (unknown.length > 0) {
          throw new ValidationError(
            `${source} lacks columns named in the schema`,
            unknown.map((name) => ({ path: name, message: 'not in the header' })),
          );
        }
        continue;
      }
      if (types === undefined) {
        if (record.length !== header.length)
          fail(info.lines, undefined, `${record.length} fields, but the header has ${header.length} columns`);
        sample.push({ fields: record, line: info.lines });
        if (sample.length >= inferRows) decideTypes();
        continue;
      }
      append(record, info.lines);
    }
  } catch (error) {
    if (error instanceof ValidationError) throw error;
    // Every parse error is a CsvError; their codes are not all CSV_-prefixed (INVALID_OPENING_QUOTE).
    if (error instanceof CsvError)
      fail((error as CsvError & { lines?: number }).lines ?? 0, undefined, error.message);
    throw error;
  } finally {
    stream.destroy();
  }
  if (header === undefined)
    throw new ValidationError(`${source} is empty`, [{ path: 'file', message: 'no header row' }]);
  if (types === undefined) decideTypes();

  const columns = new Map<string, Column>();
  header.forEach((name, c) => {
    columns.set(name, (builders[c] as NumericBuilder | CategoricalBuilder).build());
  });
  return { rowCount: rows, columns };
}
