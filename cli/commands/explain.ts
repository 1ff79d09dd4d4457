/**
 * `keel explain`: SHAP values of a model's margin (log-odds) per raw column (`contributions`) and,
 * for tree and linear explainers, per model input (`inputContributions`, keyed by
 * `keel.feature_names`).
 *
 * The model is a directory written by `keel train` or `model@version|alias` from the registry;
 * either way its stored explainer (background sample, covers, coefficients) is used when it has
 * one. A model without one (trained elsewhere, or before explanations) gets TreeSHAP over its
 * ONNX trees or KernelSHAP over its raw columns, with `--background` or the first 100 rows of
 * `--data` standing in for absent features. `--prediction <id>` explains a past decision from the
 * capture, with the version that served it.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import type { PredictionRecord } from '../../functions/contracts/capture.ts';
import type { Table } from '../../functions/core/data/table.ts';
import {
  DEFAULT_BACKGROUND_ROWS,
  EXPLAINER_FORMAT,
  type ExplainedRow,
  type ExplainerArtifact,
  ExplainerError,
  type Explanation,
  type FeaturePerturbation,
  type Instance,
  instancesOf,
  kernelExplain,
  logit,
  tableOfInstances,
} from '../../functions/core/explain/explainer.ts';
import type { FittedPipeline } from '../../functions/core/features/pipeline.ts';
import { OnnxModel } from '../../functions/core/onnx/runtime.ts';
import { modelExplainer } from '../../functions/core/onnx/trees.ts';
import { takeRows } from '../../functions/core/training/train.ts';
import { NotFoundError, ValidationError } from '../../functions/kernel/errors.ts';
import type { Io } from '../output.ts';
import { openTarget, type Target } from '../target.ts';
import { positiveInteger, progressBar, readData } from './model.ts';
import { parseModelRef } from './registry.ts';

export type ExplainMethod = 'auto' | 'tree' | 'linear' | 'kernel';

/** A model as the explainers need it: its ONNX bytes, pipeline and stored explainer (if any). */
export interface ExplainableModel {
  readonly bytes: Uint8Array;
  readonly pipeline?: FittedPipeline;
  readonly explainer?: ExplainerArtifact;
  /** For messages: the directory or `model@version`. */
  readonly label: string;
}

export interface CliExplanation extends Explanation {
  /** What stood in for absent features. */
  readonly background: string;
  readonly model: string;
}

const notFound = (dir: string, name: string) =>
  new ValidationError('Not a model directory', [{ path: 'model', message: `${dir} has no ${name}` }]);

async function fromDirectory(dir: string): Promise<ExplainableModel> {
  const read = (name: string) => readFile(join(dir, name));
  const bytes = new Uint8Array(
    await read('model.onnx').catch(() => Promise.reject(notFound(dir, 'model.onnx'))),
  );
  const pipeline = JSON.parse(
    (await read('pipeline.json').catch(() => Promise.reject(notFound(dir, 'pipeline.json')))).toString(
      'utf8',
    ),
  ) as FittedPipeline;
  const stored = await read('explainer.json').catch(() => undefined);
  return {
    bytes,
    pipeline,
    ...(stored ? { explainer: JSON.parse(stored.toString('utf8')) as ExplainerArtifact } : {}),
    label: dir,
  };
}

/** A registered version's model and explainer, from lineage. */
export async function fromRegistry(
  target: Pick<Target, 'registry' | 'lineage'>,
  text: string,
  ref?: number | string,
): Promise<ExplainableModel> {
  const parsed = parseModelRef(text);
  const version = await target.registry.get(parsed.model, ref ?? parsed.ref ?? 'production');
  const bytes = await target.lineage.getBytes({ kind: 'models', sha256: version.metadata.artifact.sha256 });
  const explainer = version.metadata.explainer
    ? await target.lineage.getJson<ExplainerArtifact>({
        kind: 'explainers',
        sha256: version.metadata.explainer.sha256,
      })
    : undefined;
  return {
    bytes,
    ...(explainer ? { explainer, pipeline: explainer.pipeline } : {}),
    label: `${version.model}@${version.version}`,
  };
}

/**
 * `--model`: a directory when one exists there, else a registry reference (opening the
 * project's registry for it); `close` releases what was opened.
 */
export async function openExplainable(
  command: Command,
  text: string,
): Promise<{ readonly model: ExplainableModel; close(): Promise<void> }> {
  if ((await stat(text).catch(() => undefined))?.isDirectory())
    return { model: await fromDirectory(text), close: async () => {} };
  const target = await openTarget((command.optsWithGlobals() as { config: string }).config);
  try {
    return { model: await fromRegistry(target, text), close: () => target.close() };
  } catch (error) {
    await target.close();
    throw error;
  }
}

export interface ExplainOptions {
  readonly method: ExplainMethod;
  readonly featurePerturbation?: FeaturePerturbation;
  /** Overrides the stored background. @default the stored one, else the first 100 rows of the data */
  readonly background?: { readonly table: Table; readonly label: string };
  readonly samples?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

/** Explains the rows of `rows` (a table, or captured instances) with `model`, as `keel explain` does. */
export async function explainRows(
  model: ExplainableModel,
  rows: Table | readonly Instance[],
  options: ExplainOptions,
): Promise<CliExplanation> {
  const onnx = await OnnxModel.load(model.bytes);
  try {
    const kind = onnx.metadata['keel.model_kind'];
    const stored = model.explainer;
    const method =
      options.method !== 'auto'
        ? options.method
        : (stored?.method ?? (kind === 'gbdt' && model.pipeline ? 'tree' : 'kernel'));
    const inputs = model.pipeline?.inputs ?? onnx.inputs;
    const data = 'columns' in rows ? rows : tableOfInstances(rows, inputs);
    const missing = inputs
      .filter(
        (i) =>
          !data.columns.has(i.name) || (options.background && !options.background.table.columns.has(i.name)),
      )
      .map((i) => ({ path: i.name, message: 'a model input missing from the data or the background' }));
    if (missing.length > 0) throw new ValidationError('The data lacks model inputs', missing);
    const firstRows = () => ({
      table: takeRows(
        data,
        Array.from({ length: Math.min(DEFAULT_BACKGROUND_ROWS, data.rowCount) }, (_, i) => i),
      ),
      label: `the first ${Math.min(DEFAULT_BACKGROUND_ROWS, data.rowCount)} rows of --data`,
    });
    // Rows standing in for themselves explain nothing: one row needs a background of its own.
    if (!stored && !options.background && data.rowCount < 2)
      throw new ValidationError('No background to explain against', [
        { path: 'background', message: `${model.label} has no stored background: give --background CSV` },
      ]);
    const background =
      options.background ??
      (stored
        ? {
            table: tableOfInstances(stored.background, stored.pipeline.inputs),
            label: `${stored.background.length} training rows stored with ${model.label}`,
          }
        : firstRows());
    const refuse = (message: string) =>
      new ValidationError(`No ${method} explainer for this model`, [{ path: 'method', message }]);

    if (method === 'kernel') {
      const players = inputs.map((i) => i.name);
      const explanation = await kernelExplain(
        async (table) => (await onnx.scoreTable(table)).probabilities.map(logit),
        data,
        background.table,
        players,
        {
          ...(options.samples !== undefined ? { samples: options.samples } : {}),
          ...(options.onProgress
            ? { onRow: (done: number) => options.onProgress?.(done, data.rowCount) }
            : {}),
        },
      );
      return { ...explanation, background: background.label, model: model.label };
    }
    if (method === 'tree' && kind !== 'gbdt')
      throw refuse(`${model.label} is ${kind ?? 'not a Keel model'}, not a tree ensemble: use kernel`);
    if (method === 'linear' && kind !== 'lr')
      throw refuse(`${model.label} is ${kind ?? 'not a Keel model'}, not logistic regression: use kernel`);
    const pipeline = model.pipeline;
    if (!pipeline) throw refuse(`${model.label} has no stored pipeline: use kernel`);
    if (method === 'linear' && !stored?.linear)
      throw refuse(`${model.label} was stored without its coefficients: use kernel`);
    // A stored explainer with another background, or an ad-hoc one for a directory without one.
    const artifact: ExplainerArtifact = {
      ...(stored ?? { format: EXPLAINER_FORMAT, method: 'tree', pipeline }),
      background: instancesOf(background.table, pipeline.inputs),
    };
    try {
      const explanation = modelExplainer(artifact, model.bytes).explain(data, {
        ...(options.featurePerturbation ? { featurePerturbation: options.featurePerturbation } : {}),
      });
      return { ...explanation, background: background.label, model: model.label };
    } catch (error) {
      if (error instanceof ExplainerError && error.field === 'featurePerturbation')
        throw new ValidationError('Cannot explain so', [
          { path: 'feature-perturbation', message: error.message },
        ]);
      throw error;
    }
  } finally {
    await onnx.release();
  }
}

/** A captured prediction, found by id in the last `days` days of the model's capture. */
async function capturedPrediction(
  target: Pick<Target, 'capture'>,
  model: string,
  id: string,
  days: number,
): Promise<PredictionRecord> {
  const to = new Date();
  const from = new Date(to.getTime() - days * 86_400_000);
  const { predictions } = await target.capture.read(model, { from, to });
  const found = predictions.find((p) => p.prediction_id === id && p.shadow_of === undefined);
  if (!found)
    throw new NotFoundError(
      `no prediction ${id} of ${model} captured in the last ${days} days (try --since)`,
    );
  return found;
}

/**
 * A past decision, explained: the captured prediction's inputs, by the registry version that
 * served it (its stored explainer), beside the explanation captured then, if one was.
 */
export async function explainPrediction(
  target: Pick<Target, 'capture' | 'registry' | 'lineage'>,
  model: string,
  id: string,
  days: number,
  options: ExplainOptions,
) {
  const record = await capturedPrediction(target, model, id, days);
  if (record.model_version === 'safe-default')
    throw new ValidationError('Nothing to explain', [
      { path: 'prediction', message: `${id} was answered by the safe default, not a model` },
    ]);
  const served = await fromRegistry(target, model, Number(record.model_version));
  const explanation = await explainRows(served, [record.inputs], options);
  return {
    predictionId: record.prediction_id,
    modelVersion: record.model_version,
    servedBy: record.served_by,
    timestamp: record.timestamp,
    probability: record.outputs.probability,
    ...(record.explanation ? { captured: record.explanation } : {}),
    ...explanation,
  };
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

const METHOD_NAMES: Record<Explanation['method'], string> = {
  tree: 'TreeSHAP',
  linear: 'linear SHAP',
  kernel: 'KernelSHAP',
};

function printExplanation(io: Io, explanation: CliExplanation, top: number, title?: string): void {
  io.out(
    `${title ?? explanation.model}: ${METHOD_NAMES[explanation.method]} (${explanation.featurePerturbation}) of the log-odds; base value ${explanation.baseValue.toFixed(4)}; background: ${explanation.background}`,
  );
  explanation.rows.forEach((row, i) => {
    io.out(`row ${i + 1}: probability ${row.prediction.toFixed(4)}, log-odds ${row.margin.toFixed(4)}`);
    for (const line of barChart(row, top)) io.out(line);
  });
  for (const d of explanation.derived) io.out(`  (${d.name} is derived from ${d.sources.join(', ')})`);
}

export function registerExplain(program: Command, io: Io): void {
  program
    .command('explain')
    .description("Explain predictions: SHAP values of the model's log-odds, per raw column")
    .option('--model <dir|model@ref>', 'model directory written by keel train, or model[@version|alias]')
    .option('--data <csv>', 'rows to explain')
    .option('--prediction <id>', 'explain a captured prediction, with the version that served it')
    .option('--since <days>', 'how far back --prediction looks in the capture', positiveInteger, 30)
    .option(
      '--background <csv>',
      `rows that stand in for absent features (default: the model's stored sample, else the first ${DEFAULT_BACKGROUND_ROWS} rows of --data)`,
    )
    .addOption(
      new Option(
        '--method <method>',
        'tree (exact, tree models), linear (logistic regression), kernel (any model), or auto',
      )
        .choices(['auto', 'tree', 'linear', 'kernel'])
        .default('auto'),
    )
    .addOption(
      new Option(
        '--feature-perturbation <how>',
        'how absent features are integrated out (tree-path-dependent uses node covers)',
      )
        .choices(['interventional', 'tree-path-dependent'])
        .default('interventional'),
    )
    .option(
      '--samples <n>',
      'KernelSHAP coalitions per row (all when ≥ 2^columns, which is exact)',
      positiveInteger,
    )
    .option('--top <n>', 'columns shown per row in text output', positiveInteger, 5)
    .option('--json', 'print the explanation as JSON')
    .action(async (options, command: Command) => {
      const base = {
        method: options.method as ExplainMethod,
        featurePerturbation: options.featurePerturbation as FeaturePerturbation,
        ...(options.samples ? { samples: options.samples as number } : {}),
        ...(options.background
          ? { background: { table: (await readData(options.background)).table, label: options.background } }
          : {}),
      };
      if (options.prediction) {
        if (options.data)
          throw new ValidationError('Choose what to explain', [
            { path: 'data', message: '--prediction explains the captured inputs; leave out --data' },
          ]);
        const config = (command.optsWithGlobals() as { config: string }).config;
        const target = await openTarget(config);
        try {
          const model = options.model ? parseModelRef(options.model).model : await onlyModel(config);
          const result = await explainPrediction(target, model, options.prediction, options.since, base);
          if (options.json) io.out(JSON.stringify(result));
          else
            printExplanation(
              io,
              result,
              options.top,
              `${result.predictionId} (${result.model}, ${result.timestamp})`,
            );
        } finally {
          await target.close();
        }
        return;
      }
      if (!options.model || !options.data)
        throw new ValidationError('Say what to explain', [
          ...(options.model
            ? []
            : [{ path: 'model', message: 'give --model DIR or model@ref (or --prediction ID)' }]),
          ...(options.data ? [] : [{ path: 'data', message: 'give --data CSV (or --prediction ID)' }]),
        ]);
      const { table: data } = await readData(options.data);
      const { model, close } = await openExplainable(command, options.model);
      const bar = progressBar(io, !options.json);
      let explanation: CliExplanation;
      try {
        explanation = await explainRows(model, data, {
          ...base,
          onProgress: (done, total) => bar.update({ phase: 'explain', done, total }),
        });
      } finally {
        bar.stop();
        await close();
      }
      if (options.json) io.out(JSON.stringify(explanation));
      else printExplanation(io, explanation, options.top);
    });
}

/** The project's model when it has one; else the caller must name it. */
async function onlyModel(configFile: string): Promise<string> {
  const { loadConfig } = await import('../../functions/contracts/config/load.ts');
  const names = Object.keys((await loadConfig(configFile)).models);
  if (names.length !== 1)
    throw new ValidationError('Which model?', [
      { path: 'model', message: `the project has ${names.join(', ')}: name one with --model` },
    ]);
  return names[0] as string;
}
