/**
 * `keel train | evaluate | predict | audit`: the model core from a terminal. Data comes from
 * CSV files; a model is a directory (model.onnx, manifest.json, pipeline.json, metrics.json,
 * audit.json, explainer.json) written all at once or not at all.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline as streamPipeline } from 'node:stream/promises';
import { SingleBar } from 'cli-progress';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig } from '../../functions/contracts/config/load.ts';
import { transformSchema } from '../../functions/contracts/config/schema.ts';
import { type AuditReport, auditTable } from '../../functions/core/audit/audit.ts';
import { readCsv } from '../../functions/core/data/csv.ts';
import { columnStrings, type Table, toCsv } from '../../functions/core/data/table.ts';
import { evaluate } from '../../functions/core/evaluation/report.ts';
import {
  type ConstraintOutcome,
  checkBound,
  constraintOutcome,
  FAIRNESS_CONSTRAINTS,
  type FairnessConstraint,
} from '../../functions/core/fairness/constraints.ts';
import {
  MITIGATION_METHODS,
  type MitigationMethod,
  type MitigationOptions,
} from '../../functions/core/fairness/mitigation.ts';
import { loadLinearProgramSolver } from '../../functions/core/lp.ts';
import { OnnxModel } from '../../functions/core/onnx/runtime.ts';
import { generateCredit } from '../../functions/core/synthetic/credit.ts';
import {
  type Manifest,
  type PrivacyOptions,
  type TrainOptions,
  train,
} from '../../functions/core/training/train.ts';
import { KeelError, ValidationError } from '../../functions/kernel/errors.ts';
import type { ArtifactRef } from '../../functions/lineage/store.ts';
import { grantPrivateTraining } from '../../functions/registry/private-training.ts';
import { table as formatTable } from '../format.ts';
import type { Io } from '../output.ts';
import { openTarget, type Target } from '../target.ts';
import { resolveLedger } from './privacy.ts';
import { defaultActor } from './registry.ts';

export const MODEL_FILES = [
  'model.onnx',
  'manifest.json',
  'pipeline.json',
  'metrics.json',
  'audit.json',
  'explainer.json',
] as const;

const collect = (value: string, previous: string[] = []) => [...previous, value];

function integer(value: string): number {
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(Number(value)))
    throw new InvalidArgumentError(`expected an integer, got "${value}"`);
  return Number(value);
}

export function positiveInteger(value: string): number {
  const n = integer(value);
  if (n < 1) throw new InvalidArgumentError(`expected a whole number of at least 1, got "${value}"`);
  return n;
}

function share(value: string): number {
  const n = Number(value);
  if (!(n > 0 && n < 1)) throw new InvalidArgumentError(`expected a number between 0 and 1, got "${value}"`);
  return n;
}

function unitInterval(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n <= 1))
    throw new InvalidArgumentError(`expected a number from 0 to 1, got "${value}"`);
  return n;
}

export function number(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n))
    throw new InvalidArgumentError(`expected a number, got "${value}"`);
  return n;
}

async function codeVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  return `keel@${pkg.version}`;
}

/** Reads a CSV file and the SHA-256 of its bytes (the data version recorded in the model). */
export async function readData(path: string): Promise<{ table: Table; sha256: string }> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile())
    throw new ValidationError('Cannot read the data', [{ path: 'data', message: `${path} is not a file` }]);
  if (info.size === 0)
    throw new ValidationError('Cannot read the data', [{ path: 'data', message: `${path} is empty` }]);
  const hash = createHash('sha256');
  await streamPipeline(createReadStream(path), hash);
  const table = await readCsv(path, { source: path });
  return { table, sha256: hash.digest('hex') };
}

/** A progress bar per phase on stderr when it is a terminal; silent otherwise (CI logs, pipes). */
export function progressBar(io: Io, enabled: boolean) {
  if (!enabled || !process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new SingleBar({
    format: ' {phase} [{bar}] {percentage}% | {value}/{total}',
    hideCursor: true,
    clearOnComplete: true,
    stream: process.stderr,
  });
  let current: string | undefined;
  return {
    update: (p: { phase: string; done: number; total: number }) => {
      if (p.phase !== current) {
        if (current) bar.stop();
        current = p.phase;
        bar.start(p.total, p.done, { phase: p.phase.padEnd(10) });
      } else bar.update(p.done);
    },
    stop: () => {
      bar.stop();
      io.err('');
    },
  };
}

/** Refuses an output directory that holds anything, unless it holds a model and `force` is set. */
async function checkOutput(out: string, force: boolean): Promise<void> {
  const entries = await readdir(out).catch(() => undefined);
  if (entries === undefined || entries.length === 0) return;
  const holdsModel = entries.some((e) => (MODEL_FILES as readonly string[]).includes(e));
  if (holdsModel && force) return;
  throw new ValidationError('Refusing to overwrite the output directory', [
    {
      path: 'out',
      message: holdsModel
        ? `${out} already holds a model; use --force to replace it`
        : `${out} is not empty and holds no model; choose a new or empty directory`,
    },
  ]);
}

/**
 * Writes the files into a sibling temporary directory, then renames it into place: a crash or
 * an error leaves either the old directory or the new one, never half a model.
 */
async function writeAtomically(
  out: string,
  files: Readonly<Record<string, Uint8Array | string>>,
): Promise<void> {
  const parent = dirname(resolve(out));
  await mkdir(parent, { recursive: true });
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const staging = join(parent, `.${basename(out)}.partial-${suffix}`);
  await mkdir(staging);
  try {
    for (const [name, content] of Object.entries(files)) await writeFile(join(staging, name), content);
    if (existsSync(out)) {
      const old = join(parent, `.${basename(out)}.old-${suffix}`);
      await rename(out, old);
      await rename(staging, out);
      await rm(old, { recursive: true, force: true });
    } else await rename(staging, out);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/** The mitigation `keel train` was asked for, or undefined; every inconsistent flag named. */
function mitigationOf(options: {
  mitigate?: MitigationMethod;
  fairness?: FairnessConstraint;
  fairnessBound?: number;
  fairnessAttribute?: string;
  mitigationIterations?: number;
  adversaryWeight?: number;
  protected: string[];
}): MitigationOptions | undefined {
  if (!options.mitigate) {
    // Flags that only mean something with --mitigate are refused alone, not silently dropped.
    const flags = {
      fairness: 'fairness',
      fairnessBound: 'fairness-bound',
      fairnessAttribute: 'fairness-attribute',
      mitigationIterations: 'mitigation-iterations',
      adversaryWeight: 'adversary-weight',
    } as const;
    const orphans = (Object.keys(flags) as (keyof typeof flags)[]).filter((k) => options[k] !== undefined);
    if (orphans.length > 0)
      throw new ValidationError(
        'Nothing to mitigate',
        orphans.map((k) => ({ path: flags[k], message: 'give --mitigate with it' })),
      );
    return undefined;
  }
  const issues: { path: string; message: string }[] = [];
  if (!options.fairness)
    issues.push({
      path: 'fairness',
      message: `--mitigate needs a constraint: ${FAIRNESS_CONSTRAINTS.join(', ')}`,
    });
  const attribute =
    options.fairnessAttribute ?? (options.protected.length === 1 ? options.protected[0] : undefined);
  if (attribute === undefined)
    issues.push({
      path: 'fairness-attribute',
      message:
        options.protected.length === 0
          ? '--mitigate needs a protected attribute: give --protected'
          : `several protected attributes (${options.protected.join(', ')}): name one with --fairness-attribute`,
    });
  if (options.fairness && options.fairnessBound !== undefined) {
    const problem = boundProblem(options.fairness, options.fairnessBound);
    if (problem) issues.push(problem);
  }
  if (options.adversaryWeight !== undefined && options.mitigate !== 'adversarial')
    issues.push({ path: 'adversary-weight', message: 'means something with --mitigate adversarial only' });
  if (issues.length > 0) throw new ValidationError('Incomplete mitigation', issues);
  return {
    method: options.mitigate,
    attribute: attribute as string,
    constraint: options.fairness as FairnessConstraint,
    ...(options.fairnessBound !== undefined ? { bound: options.fairnessBound } : {}),
    ...(options.mitigationIterations !== undefined ? { iterations: options.mitigationIterations } : {}),
    ...(options.adversaryWeight !== undefined ? { adversaryWeight: options.adversaryWeight } : {}),
  };
}

/** What is wrong with a `--fairness-bound`, if anything. */
function boundProblem(
  constraint: FairnessConstraint,
  bound: number,
): { path: string; message: string } | undefined {
  try {
    checkBound(constraint, bound);
    return undefined;
  } catch (error) {
    return { path: 'fairness-bound', message: (error as Error).message };
  }
}

/** `ratio 0.921 ≥ 0.8: met`. */
function constraintLine(o: ConstraintOutcome): string {
  return `${o.metric} ${o.value.toFixed(3)} ${o.direction} ${o.bound}: ${o.met ? 'met' : 'NOT met'}`;
}

async function loadModelDir(dir: string): Promise<{ manifest: Manifest; model: OnnxModel }> {
  const read = (name: string) =>
    readFile(join(dir, name)).catch(() => {
      throw new ValidationError('Not a model directory', [
        { path: 'model', message: `${dir} has no ${name}` },
      ]);
    });
  const manifest = JSON.parse((await read('manifest.json')).toString('utf8')) as Manifest;
  const model = await OnnxModel.load(await read('model.onnx'));
  return { manifest, model };
}

function columnValues(table: Table, name: string): (string | null)[] {
  if (!table.columns.has(name))
    throw new ValidationError('Missing column', [{ path: name, message: 'not in the data' }]);
  return columnStrings(table, name);
}

function binaryLabels(table: Table, label: string): Float64Array {
  const column = table.columns.get(label);
  if (!column)
    throw new ValidationError('Missing label', [{ path: label, message: 'label column not found' }]);
  if (column.kind !== 'numeric' || column.values.some((v) => v !== 0 && v !== 1))
    throw new ValidationError('Invalid label', [
      { path: label, message: 'label must be 0 or 1 on every row' },
    ]);
  return column.values;
}

function summaryLines(metrics: ReturnType<typeof evaluate>): string {
  const fmt = (v: number | null | undefined) => (v === null || v === undefined ? '—' : v.toFixed(4));
  const rows = [
    {
      metric: 'AUC',
      value: fmt(metrics.auc),
      interval: metrics.intervals
        ? `${fmt(metrics.intervals.auc.lower)}–${fmt(metrics.intervals.auc.upper)}`
        : '',
    },
    { metric: 'log loss', value: fmt(metrics.logLoss), interval: '' },
    { metric: 'Brier', value: fmt(metrics.brier), interval: '' },
    { metric: 'ECE', value: fmt(metrics.ece), interval: '' },
    { metric: `F1 @ ${metrics.threshold}`, value: fmt(metrics.f1), interval: '' },
    ...Object.entries(metrics.fairness).map(([attr, f]) => ({
      metric: `DP ratio (${attr})`,
      value: fmt(f.demographicParityRatio),
      interval: f.fourFifthsRule ? 'four-fifths: pass' : 'four-fifths: FAIL',
    })),
  ];
  return formatTable(rows, ['metric', 'value', 'interval']);
}

/** `epsilon=1,delta=1e-5[,epochs=5][,batch=256][,lr=1]`: each key once, each a number. */
function parsePrivacy(value: string): {
  epsilon: number;
  delta: number;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
} {
  const keys = {
    epsilon: 'epsilon',
    delta: 'delta',
    epochs: 'epochs',
    batch: 'batchSize',
    lr: 'learningRate',
  } as const;
  const out: Record<string, number> = {};
  for (const part of value.split(',')) {
    const [key, raw, extra] = part.split('=');
    const name = keys[key?.trim() as keyof typeof keys];
    const n = Number(raw);
    if (!name || raw === undefined || extra !== undefined || raw.trim() === '' || !Number.isFinite(n))
      throw new InvalidArgumentError(
        `expected epsilon=E,delta=D[,epochs=N][,batch=B][,lr=η], got "${part}" in "${value}"`,
      );
    if (name in out) throw new InvalidArgumentError(`${key} is given twice in "${value}"`);
    out[name] = n;
  }
  if (out.epsilon === undefined || out.delta === undefined)
    throw new InvalidArgumentError(`both epsilon and delta are needed, got "${value}"`);
  return out as ReturnType<typeof parsePrivacy>;
}

export function registerModel(program: Command, io: Io): void {
  program
    .command('synth')
    .description('Write a synthetic credit population (known ground truth, drift and bias knobs) as CSV')
    .option('--rows <n>', 'rows (at least 1)', positiveInteger, 10_000)
    .option('--seed <n>', 'random seed', integer, 1)
    .option('--covariate-drift <share>', 'incomes fall and debts rise by this share', number, 0)
    .option('--concept-drift <amount>', 'late payments matter this much more', number, 0)
    .option('--harmless-drift <share>', 'region shifts towards "north"', number, 0)
    .option('--label-noise <share>', 'share of labels flipped', number, 0)
    .option('--missing-income <share>', 'share of incomes missing', number, 0)
    .option('--group-bias <log-odds>', 'extra recorded default log-odds for sex = female', number, 0)
    .option('--group-proxy <share>', 'how strongly region gives sex away, from 0 to 1', unitInterval, 0)
    .option(
      '--stale-employment <share>',
      'how far employment has stopped predicting default, from 0 to 1',
      unitInterval,
      0,
    )
    .requiredOption('--out <csv>', 'file to write')
    .action(async (options) => {
      const table = generateCredit({
        rows: options.rows,
        seed: options.seed,
        covariateDrift: options.covariateDrift,
        conceptDrift: options.conceptDrift,
        harmlessDrift: options.harmlessDrift,
        labelNoise: options.labelNoise,
        missingIncome: options.missingIncome,
        groupBias: options.groupBias,
        groupProxy: options.groupProxy,
        staleEmployment: options.staleEmployment,
      });
      await mkdir(dirname(resolve(options.out)), { recursive: true });
      await writeFile(options.out, toCsv(table));
      io.out(`wrote ${table.rowCount} rows to ${options.out}`);
    });

  program
    .command('train')
    .description('Train a model from a CSV file and write it to a directory')
    .requiredOption('--data <csv>', 'training data')
    .requiredOption('--label <column>', 'binary (0/1) label column')
    .option(
      '--protected <column>',
      'protected attribute (repeatable): evaluated, never a model input',
      collect,
      [],
    )
    .option('--exclude <column>', 'column that is not a feature (repeatable)', collect, [])
    .addOption(new Option('--model <kind>', 'algorithm').choices(['lr', 'gbdt']).default('gbdt'))
    .option('--seed <n>', 'random seed (integer)', integer, 42)
    .option('--holdout <share>', 'share of rows held out for evaluation', share, 0.2)
    .option('--features <file>', 'feature pipeline spec (JSON array of transforms); default: inferred')
    .option('--param <key=value>', 'hyperparameter (repeatable), e.g. trees=200', collect, [])
    .option('--bootstrap <n>', 'bootstrap resamples for confidence intervals', integer, 1000)
    .addOption(
      new Option('--mitigate <method>', 'fairness mitigation while training').choices([
        ...MITIGATION_METHODS,
      ]),
    )
    .addOption(
      new Option('--fairness <constraint>', 'the constraint to mitigate for (with --mitigate)').choices([
        ...FAIRNESS_CONSTRAINTS,
      ]),
    )
    .option(
      '--fairness-bound <b>',
      'the constraint’s bound; default: 0.8 for parity, 0.1 for the odds',
      number,
    )
    .option('--fairness-attribute <column>', 'the protected attribute to mitigate for; default: the only one')
    .option(
      '--mitigation-iterations <n>',
      'exponentiated gradient: rounds of the game at most (two fits each), default 50; adversarial: steps, default 600',
      positiveInteger,
    )
    .option(
      '--adversary-weight <alpha>',
      'adversarial: how hard the model pushes against the adversary (α), default 1',
      number,
    )
    .option(
      '--privacy <budget>',
      'train with differential privacy (DP-SGD, lr only): epsilon=E,delta=D[,epochs=N][,batch=B][,lr=η]',
      parsePrivacy,
    )
    .option('--clip <c>', 'with --privacy: the largest norm a row’s gradient keeps, default 1', number)
    .option(
      '--ledger <name>',
      'with --privacy: spend from this data source’s privacy ledger first (its budget is the config’s data.privacy)',
    )
    .requiredOption('--out <dir>', 'output directory')
    .option('--force', 'replace a model already in the output directory')
    .option('--lineage', 'also store the model, pipeline, metrics and audit in the lineage store')
    .option('--json', 'print the manifest and holdout metrics as JSON')
    .action(async (options, command: Command) => {
      await checkOutput(options.out, Boolean(options.force));
      const hyperparameters = Object.fromEntries(
        (options.param as string[]).map((p) => {
          const [key, ...rest] = p.split('=');
          const raw = rest.join('=');
          if (!key || rest.length === 0)
            throw new ValidationError('Invalid hyperparameter', [
              { path: 'param', message: `expected key=value, got "${p}"` },
            ]);
          const n = Number(raw);
          return [
            key,
            raw === 'true'
              ? true
              : raw === 'false'
                ? false
                : raw.trim() !== '' && Number.isFinite(n)
                  ? n
                  : raw,
          ];
        }),
      );
      const features = options.features
        ? transformSchema.array().parse(JSON.parse(await readFile(options.features, 'utf8')))
        : undefined;
      const mitigation = mitigationOf(options);
      if (options.clip !== undefined && !options.privacy)
        throw new ValidationError('Nothing to clip', [{ path: 'clip', message: 'give --privacy with it' }]);
      if (options.ledger !== undefined && !options.privacy)
        throw new ValidationError('Nothing to spend', [
          { path: 'ledger', message: 'give --privacy with it' },
        ]);
      const configFile = (command.optsWithGlobals() as { config: string }).config;
      const ledger = options.ledger
        ? resolveLedger(await loadConfig(configFile), { ledger: options.ledger })
        : undefined;
      const linearProgramSolver =
        mitigation?.method === 'threshold' ? await loadLinearProgramSolver() : undefined;
      const { table, sha256 } = await readData(options.data);
      const privacy: PrivacyOptions | undefined = options.privacy
        ? { ...options.privacy, ...(options.clip !== undefined ? { clip: options.clip } : {}) }
        : undefined;
      const trainOptions: TrainOptions = {
        label: options.label,
        protected: options.protected,
        exclude: options.exclude,
        algorithm: options.model,
        seed: options.seed,
        holdout: options.holdout,
        ...(features ? { features } : {}),
        hyperparameters,
        bootstrapSamples: options.bootstrap,
        ...(mitigation ? { mitigation } : {}),
        ...(privacy ? { privacy } : {}),
        ...(linearProgramSolver ? { linearProgramSolver } : {}),
        dataHash: sha256,
        codeVersion: await codeVersion(),
      };
      const target: Target | undefined = ledger || options.lineage ? await openTarget(configFile) : undefined;
      try {
        // The ledger grants (or refuses) the run's mechanism before a row is touched.
        const granted =
          ledger && target
            ? await grantPrivateTraining(target.ledger, table, trainOptions, {
                ledger: ledger.ledger,
                budget: ledger.budget,
                purpose: { kind: 'training', run: options.out },
                attribution: { actor: defaultActor(), reason: `keel train --privacy on ${options.data}` },
              })
            : trainOptions;
        const bar = progressBar(io, !options.json);
        let result: ReturnType<typeof train>;
        try {
          result = train(table, { ...granted, onProgress: bar.update });
        } finally {
          bar.stop();
        }
        let manifest: Manifest & { lineage?: Record<string, ArtifactRef> } = result.manifest;
        if (options.lineage && target) {
          manifest = {
            ...manifest,
            lineage: {
              model: await target.lineage.putBytes('models', result.onnx),
              pipeline: await target.lineage.putJson('pipelines', result.pipeline),
              metrics: await target.lineage.putJson('evaluations', result.metrics),
              audit: await target.lineage.putJson('audits', result.audit),
              explainer: await target.lineage.putJson('explainers', result.explainer),
            },
          };
        }
        await finishTraining(io, options, result, manifest);
      } finally {
        await target?.close();
      }
    });

  program
    .command('evaluate')
    .description('Evaluate a trained model on labelled CSV data')
    .requiredOption('--model <dir>', 'model directory written by keel train')
    .requiredOption('--data <csv>', 'labelled data')
    .option('--label <column>', 'label column; default: the one the model was trained on')
    .option(
      '--protected <column>',
      'protected attribute (repeatable); default: those of training',
      collect,
      [],
    )
    .option(
      '--segment <column>',
      'segment for per-segment metrics (repeatable); default: the protected ones',
      collect,
      [],
    )
    .option('--threshold <p>', 'decision threshold', number, 0.5)
    .option('--bootstrap <n>', 'bootstrap resamples (0: no intervals)', integer, 1000)
    .option('--cost-fp <amount>', 'cost of a false positive', number)
    .option('--cost-fn <amount>', 'cost of a false negative', number)
    .option('--benefit-tp <amount>', 'benefit of a true positive', number, 0)
    .option('--currency <code>', 'currency of the costs', 'USD')
    .addOption(
      new Option(
        '--fairness <constraint>',
        'a fairness constraint to judge; default: the one the model was mitigated for',
      ).choices([...FAIRNESS_CONSTRAINTS]),
    )
    .option(
      '--fairness-bound <b>',
      'the constraint’s bound; default: the mitigation’s, else the usual bar',
      number,
    )
    .option(
      '--fairness-attribute <column>',
      'the protected attribute to judge it on; default: the mitigation’s',
    )
    .option('--json', 'print the report as JSON')
    .action(async (options) => {
      const { manifest, model } = await loadModelDir(options.model);
      try {
        const { table } = await readData(options.data);
        const label = (options.label as string | undefined) ?? manifest.label;
        const y = binaryLabels(table, label);
        const protectedColumns =
          (options.protected as string[]).length > 0 ? (options.protected as string[]) : manifest.protected;
        const { probabilities } = await model.scoreTable(table);
        if ((options.costFp === undefined) !== (options.costFn === undefined))
          throw new ValidationError('Incomplete costs', [
            { path: 'cost', message: 'give both --cost-fp and --cost-fn' },
          ]);
        const report = evaluate(y, probabilities, {
          threshold: options.threshold,
          ...(options.costFp !== undefined
            ? {
                costs: {
                  falsePositive: options.costFp,
                  falseNegative: options.costFn,
                  truePositiveBenefit: options.benefitTp,
                  currency: options.currency,
                },
              }
            : {}),
          protected: Object.fromEntries(protectedColumns.map((c) => [c, columnValues(table, c)])),
          ...((options.segment as string[]).length > 0
            ? {
                segments: Object.fromEntries(
                  (options.segment as string[]).map((c) => [c, columnValues(table, c)]),
                ),
              }
            : {}),
          bootstrap: options.bootstrap > 0 ? { samples: options.bootstrap } : false,
        });
        // The constraint asked for, or the one the model was mitigated for, on every attribute
        // it names that this data has.
        const mitigated = manifest.mitigation;
        const constraint = (options.fairness as FairnessConstraint | undefined) ?? mitigated?.constraint;
        const attribute = (options.fairnessAttribute as string | undefined) ?? mitigated?.attribute;
        const bound =
          (options.fairnessBound as number | undefined) ??
          (constraint === mitigated?.constraint ? mitigated?.bound : undefined);
        let judged: (ConstraintOutcome & { readonly attribute: string }) | undefined;
        if (constraint && bound !== undefined) {
          const problem = boundProblem(constraint, bound);
          if (problem) throw new ValidationError('Invalid fairness bound', [problem]);
        }
        if (constraint) {
          const on = attribute ?? (protectedColumns.length === 1 ? protectedColumns[0] : undefined);
          const fair = on === undefined ? undefined : report.fairness[on];
          if (on === undefined || fair === undefined)
            throw new ValidationError('No attribute to judge the constraint on', [
              {
                path: 'fairness-attribute',
                message:
                  on === undefined
                    ? `name one of ${protectedColumns.join(', ') || 'the protected attributes (none given)'}`
                    : `${on} is not among the protected attributes evaluated (${protectedColumns.join(', ') || 'none'})`,
              },
            ]);
          judged = { attribute: on, ...constraintOutcome(constraint, fair, bound) };
        }
        if (options.json)
          io.out(json({ model: manifest.id, ...report, ...(judged ? { constraint: judged } : {}) }));
        else {
          io.out(`${manifest.id} on ${table.rowCount} rows of ${options.data}`);
          io.out(summaryLines(report));
          if (judged) io.out(`${judged.constraint} on ${judged.attribute}: ${constraintLine(judged)}`);
        }
      } finally {
        await model.release();
      }
    });

  program
    .command('predict')
    .description('Score CSV data with a trained model: one probability per row')
    .requiredOption('--model <dir>', 'model directory written by keel train')
    .requiredOption('--data <csv>', 'rows to score (extra columns are ignored)')
    .option('--json', 'print a JSON array of probabilities')
    .action(async (options) => {
      const { model } = await loadModelDir(options.model);
      try {
        const { table } = await readData(options.data);
        const { probabilities } = await model.scoreTable(table);
        if (options.json) io.out(JSON.stringify(Array.from(probabilities)));
        else io.out(Array.from(probabilities, (p) => String(p)).join('\n'));
      } finally {
        await model.release();
      }
    });

  program
    .command('audit')
    .description(
      'Audit a labelled CSV file: missing values, constants, identifiers, ranges, duplicates, label conflicts, imbalance and shift',
    )
    .requiredOption('--data <csv>', 'data to audit')
    .requiredOption('--label <column>', 'label column')
    .option('--reference <csv>', 'reference data (training set, earlier window) for the shift check')
    .option('--exclude <column>', 'column that is not a feature (repeatable)', collect, [])
    .addOption(
      new Option('--fail-on <severity>', 'exit 1 when a finding is this severe or worse').choices([
        'critical',
        'warning',
      ]),
    )
    .option('--lineage', 'store the report in the lineage store')
    .option('--json', 'print the report as JSON')
    .action(async (options, command: Command) => {
      const { table } = await readData(options.data);
      if (!table.columns.has(options.label))
        throw new ValidationError('Missing label', [
          { path: options.label, message: 'label column not found' },
        ]);
      const reference = options.reference ? (await readData(options.reference)).table : undefined;
      const report: AuditReport = auditTable(table, {
        label: options.label,
        ignore: options.exclude,
        ...(reference ? { reference } : {}),
      });
      let stored: ArtifactRef | undefined;
      if (options.lineage) {
        const target = await openTarget((command.optsWithGlobals() as { config: string }).config);
        try {
          stored = await target.lineage.putJson('audits', report);
        } finally {
          await target.close();
        }
      }
      if (options.json) io.out(json({ ...report, ...(stored ? { lineage: stored } : {}) }));
      else {
        io.out(
          `${report.passed ? 'PASSED' : 'FAILED'}: ${report.rows} rows, ${report.columns} columns, ${report.findings.length} finding(s)`,
        );
        if (report.findings.length > 0)
          io.out(
            formatTable(
              report.findings.map((f) => ({ ...f, value: Number(f.value.toPrecision(4)) })),
              ['severity', 'check', 'column', 'value', 'threshold', 'message'],
            ),
          );
        if (stored) io.out(`stored ${stored.uri}`);
      }
      const failing = options.failOn === 'warning' ? report.findings.length > 0 : !report.passed;
      if (options.failOn && failing)
        throw new KeelError(
          `audit failed: ${report.findings.filter((f) => options.failOn === 'warning' || f.severity === 'critical').length} finding(s) at or above ${options.failOn}`,
        );
    });
}

/** Writes what `keel train` trained, and says so. */
async function finishTraining(
  io: Io,
  options: { readonly out: string; readonly json?: boolean },
  result: ReturnType<typeof train>,
  manifest: Manifest & { lineage?: Record<string, ArtifactRef> },
): Promise<void> {
  await writeAtomically(options.out, {
    'model.onnx': result.onnx,
    'manifest.json': json(manifest),
    'pipeline.json': json(result.pipeline),
    'metrics.json': json(result.metrics),
    'audit.json': json(result.audit),
    'explainer.json': json(result.explainer),
  });
  if (options.json) io.out(json({ manifest, metrics: result.metrics }));
  else {
    io.out(
      `trained ${manifest.id} (${manifest.algorithm}, ${manifest.rows.train} training rows) → ${options.out}`,
    );
    io.out(summaryLines(result.metrics));
    const m = manifest.mitigation;
    if (m)
      io.out(
        `mitigation: ${m.method} for ${m.constraint} on ${m.attribute}: holdout ${constraintLine(m.holdout)}`,
      );
    if (m?.attributeIsInput)
      io.out(
        `note: ${m.attribute} is now a model input: the model decides each group by its own threshold, so every request must send ${m.attribute}`,
      );
    const p = manifest.privacy;
    if (p)
      io.out(
        `privacy: ε = ${p.epsilon.toFixed(3)} at δ = ${p.delta} on ${p.rows} rows (DP-SGD: σ = ${p.noiseMultiplier.toFixed(3)}, q = ${p.sampleRate.toFixed(5)}, ${p.steps} steps, clip ${p.clip}; RDP accountant, order ${p.order})`,
      );
    if (p?.ledger)
      io.out(
        `spent from the privacy ledger of ${p.ledger.name} (entry ${p.ledger.seq}); see keel privacy ledger --ledger ${p.ledger.name}`,
      );
    if (!result.audit.passed) io.err('keel: warning: the data audit found critical problems; see audit.json');
  }
}
