/**
 * Scores tables with an exported Keel model in onnxruntime-node: the one inference path the CLI,
 * the local runtime and the serving Lambda share. Keel's own metadata (raw inputs, feature names,
 * hashes) is read from the model file itself, so a model directory needs nothing else to serve.
 */
import * as ort from 'onnxruntime-node';
import { ValidationError } from '../../kernel/errors.ts';
import type { Table } from '../data/table.ts';
import { OUTPUTS } from './outputs.ts';
import { WireReader } from './wire.ts';

export interface ModelInput {
  readonly name: string;
  readonly type: 'numeric' | 'categorical';
  /** A protected attribute the model reads to decide (threshold post-processing). */
  readonly protected?: boolean;
}

export interface Scored {
  /** Probability of class 1 per row (float32 precision, widened). */
  readonly probabilities: Float64Array;
  readonly labels: Int32Array;
}

/**
 * One column of raw input: numbers (null or NaN = missing) or strings (null or "" = missing).
 * Values are checked one by one, so a caller's JSON can be passed as it is.
 */
export type RawColumn = ArrayLike<unknown>;

export class OnnxModel {
  private readonly session: ort.InferenceSession;
  /** Raw input columns the graph takes: the serving contract. */
  readonly inputs: readonly ModelInput[];
  /** All metadata props of the model. */
  readonly metadata: Readonly<Record<string, string>>;

  private constructor(
    session: ort.InferenceSession,
    inputs: readonly ModelInput[],
    metadata: Readonly<Record<string, string>>,
  ) {
    this.session = session;
    this.inputs = inputs;
    this.metadata = metadata;
  }

  static async load(bytes: Uint8Array, options: { readonly threads?: number } = {}): Promise<OnnxModel> {
    const metadata = modelMetadata(bytes);
    const declared = metadata['keel.inputs'];
    if (declared === undefined) throw new Error('not a Keel model: metadata lacks keel.inputs');
    const session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: options.threads ?? 1,
      interOpNumThreads: 1,
    });
    return new OnnxModel(session, JSON.parse(declared) as ModelInput[], metadata);
  }

  get featureNames(): readonly string[] {
    return JSON.parse(this.metadata['keel.feature_names'] ?? '[]') as string[];
  }

  /** Scores raw columns; every input column must be present with its type. */
  async score(columns: ReadonlyMap<string, RawColumn>, rows: number): Promise<Scored> {
    const issues: { path: string; message: string }[] = [];
    const feeds: Record<string, ort.Tensor> = {};
    for (const { name, type } of this.inputs) {
      const column = columns.get(name);
      if (column === undefined) {
        issues.push({ path: name, message: 'required input column is missing' });
        continue;
      }
      if (column.length !== rows) {
        issues.push({ path: name, message: `has ${column.length} values for ${rows} rows` });
        continue;
      }
      if (type === 'numeric' && (column instanceof Float64Array || column instanceof Float32Array)) {
        // A typed column holds only numbers (NaN = missing): one native conversion, no checks.
        feeds[name] = new ort.Tensor('float32', Float32Array.from(column), [rows, 1]);
      } else if (type === 'numeric') {
        const values = new Float32Array(rows);
        for (let i = 0; i < rows; i++) {
          const v = column[i];
          if (v === null || v === undefined) values[i] = Number.NaN;
          else if (typeof v === 'number') values[i] = v;
          else {
            issues.push({ path: `${name}[${i}]`, message: `expected a number, got ${JSON.stringify(v)}` });
            break;
          }
        }
        feeds[name] = new ort.Tensor('float32', values, [rows, 1]);
      } else {
        const values = new Array<string>(rows);
        for (let i = 0; i < rows; i++) {
          const v = column[i];
          if (v === null || v === undefined) values[i] = '';
          else if (typeof v === 'string') values[i] = v;
          else {
            issues.push({ path: `${name}[${i}]`, message: `expected a string, got ${JSON.stringify(v)}` });
            break;
          }
        }
        feeds[name] = new ort.Tensor('string', values, [rows, 1]);
      }
    }
    if (issues.length > 0) throw new ValidationError('Invalid model input', issues);
    const out = await this.session.run(feeds);
    const probabilities = out[OUTPUTS.probabilities]?.data as Float32Array;
    const labels = out[OUTPUTS.label]?.data as BigInt64Array;
    return {
      probabilities: Float64Array.from({ length: rows }, (_, i) => probabilities[2 * i + 1] as number),
      labels: Int32Array.from(labels, (v) => Number(v)),
    };
  }

  /** Scores a table (extra columns are ignored). */
  scoreTable(table: Table): Promise<Scored> {
    const columns = new Map<string, RawColumn>();
    for (const { name, type } of this.inputs) {
      const column = table.columns.get(name);
      if (column === undefined) continue;
      if (column.kind !== type) {
        throw new ValidationError('Input column has the wrong type', [
          { path: name, message: `expected ${type}, got ${column.kind}` },
        ]);
      }
      columns.set(
        name,
        column.kind === 'numeric'
          ? column.values
          : Array.from(column.codes, (k) => (k < 0 ? null : (column.dictionary[k] as string))),
      );
    }
    return this.score(columns, table.rowCount);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** `ModelProto.metadata_props` (field 14, `repeated StringStringEntryProto`). */
const METADATA_PROPS = 14;

/**
 * A model's metadata properties, read from its top-level fields only: decoding the whole
 * ModelProto (every node of a tree ensemble) to read a few strings cost a serving cold start
 * tens of milliseconds and the full ONNX schema; the other fields are skipped, not parsed.
 */
export function modelMetadata(bytes: Uint8Array): Record<string, string> {
  const reader = new WireReader(bytes);
  const metadata: Record<string, string> = {};
  while (!reader.done) {
    const tag = reader.varint();
    if (Math.floor(tag / 8) !== METADATA_PROPS || tag % 8 !== 2) {
      reader.skip(tag % 8);
      continue;
    }
    const entry = new WireReader(reader.take(reader.varint()));
    let key = '';
    let value = '';
    while (!entry.done) {
      const field = entry.varint();
      if (Math.floor(field / 8) === 1 && field % 8 === 2) key = entry.string();
      else if (Math.floor(field / 8) === 2 && field % 8 === 2) value = entry.string();
      else entry.skip(field % 8);
    }
    metadata[key] = value;
  }
  return metadata;
}
