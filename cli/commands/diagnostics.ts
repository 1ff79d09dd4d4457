/**
 * `keel importance | pdp | counterfactual`: a model's global diagnostics from a terminal, on a
 * model directory or `model@version|alias`. Each scores through onnxruntime (the model with its
 * compiled pipeline, on raw columns), in chunks, so long work shows a progress bar.
 *
 * - importance: permutation importance (AUC drop, repeats, spread) on labelled rows, and
 *   mean |SHAP| from the model's stored explainer when it has one.
 * - pdp: partial dependence (and ICE) of one or two raw columns, on scikit-learn's grid.
 * - counterfactual: the cheapest diverse changes to one row that flip its decision, within
 *   what the model's config allows (protected attributes and `counterfactuals.immutable` never
 *   change; `directions` and `ranges` bound the rest).
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig } from '../../functions/contracts/config/load.ts';
import { type Column, cell, type Table } from '../../functions/core/data/table.ts';
import {
  type CounterfactualColumn,
  counterfactuals,
  type Row,
} from '../../functions/core/explain/counterfactual.ts';
import { globalDiagnostics } from '../../functions/core/explain/diagnostics.ts';
import {
  DEFAULT_BACKGROUND_ROWS,
  type Explanation,
  tableOfInstances,
} from '../../functions/core/explain/explainer.ts';
import { gridOf, partialDependence } from '../../functions/core/explain/partial-dependence.ts';
import { OnnxModel } from '../../functions/core/onnx/runtime.ts';
import { modelExplainer } from '../../functions/core/onnx/trees.ts';
import { takeRows } from '../../functions/core/training/train.ts';
import { ValidationError } from '../../functions/kernel/errors.ts';
import type { Io } from '../output.ts';
import { type ExplainableModel, openExplainable } from './explain.ts';
import { positiveInteger, progressBar, readData } from './model.ts';

/** Rows per onnxruntime run: big enough to amortise a run, small enough to show progress. */
const CHUNK_ROWS = 20_000;

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** A scorer of raw-column tables, in chunks, telling `onProgress` the rows done. */
function chunkedScorer(model: OnnxModel, onProgress: (done: number, total: number) => void) {
  return async (table: Table): Promise<Float64Array> => {
    const out = new Float64Array(table.rowCount);
    for (let start = 0; start < table.rowCount; start += CHUNK_ROWS) {
      const end = Math.min(table.rowCount, start + CHUNK_ROWS);
      const rows = Array.from({ length: end - start }, (_, i) => start + i);
      const chunk = start === 0 && end === table.rowCount ? table : takeRows(table, rows);
      out.set((await model.scoreTable(chunk)).probabilities, start);
      onProgress(end, table.rowCount);
    }
    return out;
  };
}

/** The model's raw inputs, every one present in `data`, or a 400 naming the missing ones. */
function checkInputs(model: OnnxModel, data: Table): void {
  const missing = model.inputs
    .filter((i) => !data.columns.has(i.name))
    .map((i) => ({ path: i.name, message: 'a model input missing from the data' }));
  if (missing.length > 0) throw new ValidationError('The data lacks model inputs', missing);
}

/** Runs `work` on the model with its session and a progress bar, releasing all three after. */
async function withModel<T>(
  command: Command,
  modelArg: string,
  bar: ReturnType<typeof progressBar>,
  work: (explainable: ExplainableModel, onnx: OnnxModel, bar: ReturnType<typeof progressBar>) => Promise<T>,
): Promise<T> {
  const { model, close } = await openExplainable(command, modelArg);
  try {
    const onnx = await OnnxModel.load(model.bytes);
    try {
      return await work(model, onnx, bar);
    } finally {
      bar.stop();
      await onnx.release();
    }
  } finally {
    await close();
  }
}

/** The stored explainer's `explain`, interventional (none: undefined). */
function explainerOf(model: ExplainableModel): ((table: Table) => Explanation) | undefined {
  if (!model.explainer) return undefined;
  const explainer = modelExplainer(model.explainer, model.bytes);
  return (table) => explainer.explain(table);
}

/** A one-line chart of a series: eight heights of block. */
function sparkline(values: ArrayLike<number>): string {
  const blocks = '▁▂▃▄▅▆▇█';
  const list = Array.from(values);
  const lo = Math.min(...list);
  const hi = Math.max(...list);
  return list.map((v) => blocks[hi > lo ? Math.round(((v - lo) / (hi - lo)) * 7) : 0]).join('');
}

/** The spread that is one unit of a numeric column's change cost: the MAD, else the std, else 1. */
function spreadOf(column: Column): number {
  if (column.kind !== 'numeric') return 1;
  const values = Array.from(column.values)
    .filter((v) => !Number.isNaN(v))
    .sort((a, b) => a - b);
  if (values.length === 0) return 1;
  const median = values[Math.floor(values.length / 2)] as number;
  const deviations = values.map((v) => Math.abs(v - median)).sort((a, b) => a - b);
  const mad = deviations[Math.floor(deviations.length / 2)] as number;
  if (mad > 0) return mad;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
  return std > 0 ? std : 1;
}

function rowOf(data: Table, index: number, names: readonly string[]): Row {
  return Object.fromEntries(names.map((n) => [n, cell(data.columns.get(n) as Column, index)]));
}

const binary = (value: string): 0 | 1 => {
  if (value !== '0' && value !== '1') throw new InvalidArgumentError(`expected 0 or 1, got "${value}"`);
  return Number(value) as 0 | 1;
};

const probability = (value: string): number => {
  const n = Number(value);
  if (!(n > 0 && n < 1)) throw new InvalidArgumentError(`expected a probability in (0, 1), got "${value}"`);
  return n;
};

export function registerDiagnostics(program: Command, io: Io): void {
  const modelOption = [
    '--model <dir|model@ref>',
    'model directory written by keel train, or model[@version|alias]',
  ] as const;

  program
    .command('importance')
    .description('Which raw columns the model relies on: permutation importance (AUC drop) and mean |SHAP|')
    .requiredOption(...modelOption)
    .requiredOption('--data <csv>', 'labelled rows')
    .option('--label <column>', "label column (default: the model's)")
    .option('--repeats <n>', 'shuffles per column', positiveInteger, 5)
    .option('--seed <n>', 'seed of the shuffles', positiveInteger, 1)
    .option('--shap-rows <n>', 'rows explained for mean |SHAP|', positiveInteger, 1000)
    .option('--json', 'print the result as JSON')
    .action(async (options, command: Command) => {
      const { table: data } = await readData(options.data);
      const result = await withModel(
        command,
        options.model,
        progressBar(io, !options.json),
        async (model, onnx, bar) => {
          checkInputs(onnx, data);
          const label = (options.label as string | undefined) ?? onnx.metadata['keel.label'] ?? 'default';
          const column = data.columns.get(label);
          if (column?.kind !== 'numeric')
            throw new ValidationError('The data has no usable label', [
              { path: 'label', message: `${label} is not a numeric 0/1 column of ${options.data}` },
            ]);
          const labelled = Array.from({ length: data.rowCount }, (_, i) => i).filter(
            (i) => column.values[i] === 0 || column.values[i] === 1,
          );
          const rows = labelled.length === data.rowCount ? data : takeRows(data, labelled);
          const labels = (rows.columns.get(label) as { values: Float64Array }).values;
          const explain = explainerOf(model);
          const diagnostics = await globalDiagnostics(
            chunkedScorer(onnx, (done, total) => bar.update({ phase: 'permute', done, total })),
            rows,
            labels,
            onnx.inputs.map((i) => i.name),
            {
              repeats: options.repeats,
              seed: options.seed,
              top: 0,
              importanceRows: rows.rowCount,
              shapRows: options.shapRows,
              ...(explain ? { explain } : {}),
            },
          );
          return {
            model: model.label,
            label,
            rows: rows.rowCount,
            baselineAuc: diagnostics.baselineAuc,
            permutation: diagnostics.permutation,
            meanAbsShap: diagnostics.meanAbsShap
              ? { rows: diagnostics.rows.shap, columns: diagnostics.meanAbsShap }
              : null,
          };
        },
      );
      if (options.json) {
        io.out(JSON.stringify(result));
        return;
      }
      io.out(
        `${result.model}: permutation importance on ${result.rows} rows, AUC ${result.baselineAuc.toFixed(4)}`,
      );
      const width = Math.max(...result.permutation.map((p) => p.column.length));
      for (const p of result.permutation)
        io.out(`  ${p.column.padEnd(width)}  AUC drop ${p.aucDrop.toFixed(4)} ± ${p.std.toFixed(4)}`);
      if (result.meanAbsShap) {
        io.out(`mean |SHAP| (log-odds) on ${result.meanAbsShap.rows} rows`);
        for (const s of result.meanAbsShap.columns)
          io.out(`  ${s.column.padEnd(width)}  ${s.meanAbs.toFixed(4)}`);
      }
    });

  program
    .command('pdp')
    .description('Partial dependence (and ICE) of the probability on one or two raw columns')
    .requiredOption(...modelOption)
    .requiredOption('--data <csv>', 'rows to average over')
    .requiredOption('--column <name>', 'raw column (give twice for a 2-D plot)', collect)
    .option('--resolution <n>', 'grid points per numeric column', positiveInteger, 20)
    .option('--ice', 'include each row’s curve (ICE)')
    .option('--json', 'print the result as JSON')
    .action(async (options, command: Command) => {
      const { table: data } = await readData(options.data);
      const columns = options.column as string[];
      const result = await withModel(
        command,
        options.model,
        progressBar(io, !options.json),
        async (model, onnx, bar) => {
          checkInputs(onnx, data);
          const bad = columns.filter((c) => !onnx.inputs.some((i) => i.name === c));
          if (bad.length > 0 || columns.length > 2)
            throw new ValidationError('Cannot plot those columns', [
              ...bad.map((c) => ({ path: 'column', message: `${c} is not a raw input of the model` })),
              ...(columns.length > 2
                ? [{ path: 'column', message: `one or two columns, got ${columns.length}` }]
                : []),
            ]);
          const pd = await partialDependence(
            chunkedScorer(onnx, (done, total) => bar.update({ phase: 'pdp', done, total })),
            data,
            columns,
            { resolution: options.resolution },
          );
          return {
            model: model.label,
            columns: pd.columns,
            grid: pd.grid,
            average: Array.from(pd.average),
            ...(options.ice
              ? {
                  individual: Array.from({ length: data.rowCount }, (_, r) =>
                    Array.from(
                      { length: pd.average.length },
                      (_, p) => pd.individual[p * data.rowCount + r] as number,
                    ),
                  ),
                }
              : {}),
          };
        },
      );
      if (options.json) {
        io.out(JSON.stringify(result));
        return;
      }
      io.out(`${result.model}: partial dependence of P(label = 1) on ${result.columns.join(' × ')}`);
      if (result.columns.length === 1) {
        io.out(`  ${sparkline(result.average)}`);
        (result.grid[0] as (number | string)[]).forEach((v, k) => {
          io.out(
            `  ${String(typeof v === 'number' ? Number(v.toPrecision(6)) : v).padStart(12)}  ${(result.average[k] as number).toFixed(4)}`,
          );
        });
      } else {
        const inner = (result.grid[1] as unknown[]).length;
        (result.grid[0] as (number | string)[]).forEach((v, k) => {
          const row = result.average.slice(k * inner, (k + 1) * inner);
          io.out(
            `  ${String(typeof v === 'number' ? Number(v.toPrecision(6)) : v).padStart(12)}  ${sparkline(row)}  ${row.map((x) => x.toFixed(3)).join(' ')}`,
          );
        });
      }
    });

  program
    .command('counterfactual')
    .description(
      'The cheapest changes to a row that would change its decision, within what the config allows',
    )
    .requiredOption(...modelOption)
    .requiredOption('--data <csv>', 'the row (and rows whose spread sets the cost of a change)')
    .option('--row <n>', 'which row of --data (1 is the first)', positiveInteger, 1)
    .option('--desired <0|1>', 'the decision wanted (default: the other one)', binary)
    .option('--threshold <p>', 'decision threshold', probability, 0.5)
    .option('--immutable <column>', 'never change this column (repeatable; adds to the config)', collect, [])
    .option('--count <n>', 'diverse answers wanted', positiveInteger, 3)
    .option('--max-changes <n>', 'columns changed at most', positiveInteger, 3)
    .option('--max-evaluations <n>', 'rows scored at most', positiveInteger, 200_000)
    .addOption(
      new Option('--model-name <name>', 'the config model whose rules apply (default: the only one)'),
    )
    .option('--json', 'print the result as JSON')
    .action(async (options, command: Command) => {
      const configFile = (command.optsWithGlobals() as { config: string }).config;
      const config = await loadConfig(configFile);
      const names = Object.keys(config.models);
      const modelName =
        (options.modelName as string | undefined) ?? (names.length === 1 ? names[0] : undefined);
      const rules = modelName ? config.models[modelName] : undefined;
      if (!rules)
        throw new ValidationError('Which model’s rules?', [
          { path: 'model-name', message: `name one of ${names.join(', ')} with --model-name` },
        ]);
      const { table: data } = await readData(options.data);
      if (options.row > data.rowCount)
        throw new ValidationError('No such row', [
          { path: 'row', message: `${options.data} has ${data.rowCount} rows, asked for row ${options.row}` },
        ]);
      const result = await withModel(
        command,
        options.model,
        progressBar(io, !options.json),
        async (model, onnx, bar) => {
          checkInputs(onnx, data);
          const inputs = onnx.inputs.map((i) => i.name);
          // Candidates and spreads come from the stored training sample when there is one.
          const reference = model.explainer
            ? tableOfInstances(model.explainer.background, model.explainer.pipeline.inputs)
            : takeRows(
                data,
                Array.from({ length: Math.min(DEFAULT_BACKGROUND_ROWS * 10, data.rowCount) }, (_, i) => i),
              );
          const immutable = new Set([
            ...rules.data.protectedAttributes,
            ...rules.counterfactuals.immutable,
            ...(options.immutable as string[]),
          ]);
          const columns: CounterfactualColumn[] = inputs.map((name) => {
            const column = reference.columns.get(name) as Column;
            const range = rules.counterfactuals.ranges[name];
            const direction = rules.counterfactuals.directions[name];
            return {
              name,
              candidates: [...gridOf(column, { resolution: 20 })],
              spread: spreadOf(column),
              ...(immutable.has(name) ? { immutable: true } : {}),
              ...(direction ? { direction } : {}),
              ...(range?.min !== undefined ? { min: range.min } : {}),
              ...(range?.max !== undefined ? { max: range.max } : {}),
            };
          });
          const row = rowOf(data, options.row - 1, inputs);
          let scored = 0;
          const score = async (rows: readonly Row[]) => {
            const out = (await onnx.scoreTable(tableOfInstances(rows, onnx.inputs))).probabilities;
            scored += rows.length;
            bar.update({
              phase: 'search',
              done: Math.min(scored, options.maxEvaluations),
              total: options.maxEvaluations,
            });
            return out;
          };
          const [original = Number.NaN] = Array.from(
            (await onnx.scoreTable(tableOfInstances([row], onnx.inputs))).probabilities,
          );
          const desired = (options.desired as 0 | 1 | undefined) ?? (original >= options.threshold ? 0 : 1);
          const found = await counterfactuals(score, row, columns, {
            desired,
            threshold: options.threshold,
            count: options.count,
            maxChanges: options.maxChanges,
            maxEvaluations: options.maxEvaluations,
          });
          return {
            model: model.label,
            row,
            desired,
            threshold: options.threshold,
            immutable: inputs.filter((n) => immutable.has(n)),
            // What the config allowed besides: directions and ranges per column.
            bounds: Object.fromEntries(
              columns
                .filter((c) => c.direction || c.min !== undefined || c.max !== undefined)
                .map((c) => [c.name, { direction: c.direction, min: c.min, max: c.max }]),
            ),
            ...found,
          };
        },
      );
      if (options.json) {
        io.out(JSON.stringify(result));
        return;
      }
      io.out(
        `${result.model}: row ${options.row} scores ${result.originalScore.toFixed(4)}; wanted: ${result.desired === 1 ? '≥' : '<'} ${result.threshold}${result.immutable.length ? ` (never changed: ${result.immutable.join(', ')})` : ''}`,
      );
      result.counterfactuals.forEach((c, k) => {
        const changes = Object.entries(c.changes)
          .map(
            ([name, { from, to }]) =>
              `${name} ${JSON.stringify(from)} → ${JSON.stringify(typeof to === 'number' ? Number(to.toPrecision(6)) : to)}`,
          )
          .join(', ');
        io.out(`  ${k + 1}. ${changes}  (cost ${c.cost.toFixed(2)}, score ${c.score.toFixed(4)})`);
      });
      if (result.reason) io.out(`  ${result.reason}`);
    });
}
