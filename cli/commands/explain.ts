/**
 * `keel explain --model DIR --data CSV`: per-row SHAP values of a model directory's margin
 * (log-odds), per raw column (`contributions`) and, for tree models, per model input
 * (`inputContributions`, keyed by `keel.feature_names`). Tree models get exact interventional
 * TreeSHAP over the trees read back from the ONNX file; any other model KernelSHAP over its raw
 * columns, every coalition scored in one onnxruntime run per row. The background is
 * `--background` or, until models carry their own sample, the first 100 rows of `--data`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { type Column, cell, type Table } from '../../functions/core/data/table.ts';
import { attributeToColumns } from '../../functions/core/explain/attribution.ts';
import { kernelShap } from '../../functions/core/explain/kernel.ts';
import { interventionalShap } from '../../functions/core/explain/treeshap.ts';
import { type FittedPipeline, transform } from '../../functions/core/features/pipeline.ts';
import { OnnxModel } from '../../functions/core/onnx/runtime.ts';
import { readTreeEnsemble } from '../../functions/core/onnx/trees.ts';
import { takeRows } from '../../functions/core/training/train.ts';
import { ValidationError } from '../../functions/kernel/errors.ts';
import type { Io } from '../output.ts';
import { positiveInteger, readData } from './model.ts';

const DEFAULT_BACKGROUND = 100;
/** float32's smallest step near 1: onnxruntime's probabilities are float32 and can round to 0 or 1. */
const EDGE = 2 ** -24;
/** The log-odds of a float32 probability, kept finite where it rounded to 0 or 1. */
const logit = (p: number) => {
  const q = Math.min(1 - EDGE, Math.max(EDGE, p));
  return Math.log(q / (1 - q));
};

export interface ExplainedRow {
  readonly prediction: number;
  readonly margin: number;
  readonly contributions: Record<string, number>;
  readonly inputContributions?: Record<string, number>;
}

export interface Explanation {
  readonly method: 'tree' | 'kernel';
  readonly outputSpace: 'log-odds';
  readonly baseValue: number;
  readonly background: string;
  readonly derived: readonly { readonly name: string; readonly sources: readonly string[] }[];
  readonly rows: ExplainedRow[];
}

/** Raw columns as KernelSHAP's players: each coalition × background row, one table, one run. */
async function kernelRows(
  model: OnnxModel,
  data: Table,
  background: Table,
  players: readonly string[],
  samples: number | undefined,
): Promise<{ baseValue: number; rows: ExplainedRow[] }> {
  const { probabilities } = await model.scoreTable(data);
  const rows: ExplainedRow[] = [];
  let baseValue = Number.NaN;
  for (let i = 0; i < data.rowCount; i++) {
    const result = await kernelShap(
      players.length,
      async (coalitions, count) => {
        const nb = background.rowCount;
        const columns = new Map<string, Column>();
        players.forEach((name, j) => {
          const source = data.columns.get(name) as Column;
          const base = background.columns.get(name) as Column;
          if (source.kind === 'numeric' && base.kind === 'numeric') {
            const values = new Float64Array(count * nb);
            for (let k = 0; k < count; k++)
              for (let r = 0; r < nb; r++)
                values[k * nb + r] = coalitions[k * players.length + j]
                  ? (source.values[i] as number)
                  : (base.values[r] as number);
            columns.set(name, { kind: 'numeric', values });
          } else {
            const dictionary: string[] = [];
            const codeOf = new Map<string, number>();
            const code = (v: number | string | null) => {
              if (v === null) return -1;
              const s = String(v);
              let c = codeOf.get(s);
              if (c === undefined) {
                c = dictionary.push(s) - 1;
                codeOf.set(s, c);
              }
              return c;
            };
            const mine = code(cell(source, i));
            const theirs = Array.from({ length: nb }, (_, r) => code(cell(base, r)));
            const codes = new Int32Array(count * nb);
            for (let k = 0; k < count; k++)
              for (let r = 0; r < nb; r++)
                codes[k * nb + r] = coalitions[k * players.length + j] ? mine : (theirs[r] as number);
            columns.set(name, { kind: 'categorical', codes, dictionary });
          }
        });
        const scored = await model.scoreTable({ rowCount: count * nb, columns });
        // v(S): the mean margin over the background, in float64 from the model's probabilities.
        return Float64Array.from({ length: count }, (_, k) => {
          let sum = 0;
          for (let r = 0; r < nb; r++) sum += logit(scored.probabilities[k * nb + r] as number);
          return sum / nb;
        });
      },
      samples !== undefined ? { samples } : {},
    );
    baseValue = result.baseValue;
    rows.push({
      prediction: probabilities[i] as number,
      margin: result.output,
      contributions: Object.fromEntries(players.map((p, j) => [p, result.values[j] as number])),
    });
  }
  return { baseValue, rows };
}

export async function explainModelDir(options: {
  readonly model: string;
  readonly data: string;
  readonly background?: string;
  readonly method: 'auto' | 'tree' | 'kernel';
  readonly samples?: number;
}): Promise<Explanation> {
  const read = (name: string) =>
    readFile(join(options.model, name)).catch(() => {
      throw new ValidationError('Not a model directory', [
        { path: 'model', message: `${options.model} has no ${name}` },
      ]);
    });
  const bytes = new Uint8Array(await read('model.onnx'));
  const pipeline = JSON.parse((await read('pipeline.json')).toString('utf8')) as FittedPipeline;
  const { table: data } = await readData(options.data);
  const background = options.background
    ? (await readData(options.background)).table
    : takeRows(
        data,
        Array.from({ length: Math.min(DEFAULT_BACKGROUND, data.rowCount) }, (_, i) => i),
      );
  const missing = pipeline.inputs
    .filter((i) => !data.columns.has(i.name) || !background.columns.has(i.name))
    .map((i) => ({ path: i.name, message: 'a model input missing from the data or the background' }));
  if (missing.length > 0) throw new ValidationError('The data lacks model inputs', missing);
  const model = await OnnxModel.load(bytes);
  try {
    const kind = model.metadata['keel.model_kind'];
    const method = options.method === 'auto' ? (kind === 'gbdt' ? 'tree' : 'kernel') : options.method;
    if (method === 'tree' && kind !== 'gbdt')
      throw new ValidationError('No tree explainer for this model', [
        {
          path: 'method',
          message: `the model is ${kind ?? 'not a Keel model'}, not a tree ensemble: use kernel`,
        },
      ]);
    const backgroundNote = options.background
      ? `${background.rowCount} rows of ${options.background}`
      : `the first ${background.rowCount} rows of --data`;
    if (method === 'kernel') {
      const players = pipeline.inputs.map((i) => i.name);
      const { baseValue, rows } = await kernelRows(model, data, background, players, options.samples);
      return { method, outputSpace: 'log-odds', baseValue, background: backgroundNote, derived: [], rows };
    }
    const x = transform(pipeline, data).matrix;
    const b = transform(pipeline, background).matrix;
    const shap = interventionalShap(readTreeEnsemble(bytes, x.cols), x, b);
    const byColumn = attributeToColumns(shap.values, x.rows, pipeline.features);
    const { probabilities } = await model.scoreTable(data);
    const names = pipeline.features.map((f) => f.name);
    const rows = Array.from({ length: x.rows }, (_, i) => ({
      prediction: probabilities[i] as number,
      margin: shap.margins[i] as number,
      contributions: Object.fromEntries(
        byColumn.names.map((n, k) => [n, byColumn.values[i * byColumn.names.length + k] as number]),
      ),
      inputContributions: Object.fromEntries(names.map((n, j) => [n, shap.values[i * x.cols + j] as number])),
    }));
    return {
      method,
      outputSpace: 'log-odds',
      baseValue: shap.baseValue,
      background: backgroundNote,
      derived: byColumn.derived,
      rows,
    };
  } finally {
    await model.release();
  }
}

/** The top contributions of one row, signed, as bars. */
function barChart(row: ExplainedRow, top: number): string[] {
  const entries = Object.entries(row.contributions)
    .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]))
    .slice(0, top);
  const widest = Math.max(1e-12, ...entries.map(([, v]) => Math.abs(v)));
  const label = Math.max(...entries.map(([k]) => k.length));
  return entries.map(([name, v]) => {
    const bar = '█'.repeat(Math.max(1, Math.round((Math.abs(v) / widest) * 20)));
    return `  ${name.padEnd(label)}  ${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(4)}  ${v >= 0 ? bar : bar.replace(/█/g, '▒')}`;
  });
}

export function registerExplain(program: Command, io: Io): void {
  program
    .command('explain')
    .description("Explain each row's prediction: SHAP values of the model's log-odds, per raw column")
    .requiredOption('--model <dir>', 'model directory written by keel train')
    .requiredOption('--data <csv>', 'rows to explain')
    .option(
      '--background <csv>',
      `rows that stand in for absent features (default: the first ${DEFAULT_BACKGROUND} rows of --data)`,
    )
    .addOption(
      new Option('--method <method>', 'tree (exact, tree models), kernel (any model), or auto')
        .choices(['auto', 'tree', 'kernel'])
        .default('auto'),
    )
    .option(
      '--samples <n>',
      'KernelSHAP coalitions per row (all when ≥ 2^columns, which is exact)',
      positiveInteger,
    )
    .option('--top <n>', 'columns shown per row in text output', positiveInteger, 5)
    .option('--json', 'print the explanation as JSON')
    .action(async (options) => {
      const explanation = await explainModelDir({
        model: options.model,
        data: options.data,
        ...(options.background ? { background: options.background } : {}),
        method: options.method,
        ...(options.samples ? { samples: options.samples } : {}),
      });
      if (options.json) {
        io.out(JSON.stringify(explanation));
        return;
      }
      io.out(
        `${explanation.method === 'tree' ? 'TreeSHAP (interventional)' : 'KernelSHAP'} of the log-odds; base value ${explanation.baseValue.toFixed(4)}; background: ${explanation.background}`,
      );
      explanation.rows.forEach((row, i) => {
        io.out(`row ${i + 1}: probability ${row.prediction.toFixed(4)}, log-odds ${row.margin.toFixed(4)}`);
        for (const line of barChart(row, options.top)) io.out(line);
      });
    });
}
