/**
 * One training run, as `keel train` and the retraining pipeline perform it: validate the data,
 * audit it, split it (stratified, seeded), fit the feature pipeline on the training part, train
 * the model, evaluate it on the holdout, and compile pipeline and model into one ONNX file.
 * Pure and deterministic for a seed: the same data and options give byte-identical model.onnx.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../kernel/canonical-json.ts';
import { type FieldIssue, IntegrityError, ValidationError } from '../../kernel/errors.ts';
import { type AuditReport, auditTable } from '../audit/audit.ts';
import { type Column, columnStrings, schemaOf, type Table } from '../data/table.ts';
import { type Profile, profileTable } from '../drift/profile.ts';
import {
  attributeGroups,
  type EvaluationOptions,
  type EvaluationReport,
  evaluate,
} from '../evaluation/report.ts';
import { buildExplainerArtifact, type ExplainerArtifact } from '../explain/explainer.ts';
import { type ImportanceSummary, importanceSummary } from '../explain/feature-review.ts';
import { permutationImportanceSync } from '../explain/importance.ts';
import { type AdversarialStep, adversarialDebiasing } from '../fairness/adversarial.ts';
import { CONSTRAINTS, checkBound, constraintOutcome, FAIRNESS_CONSTRAINTS } from '../fairness/constraints.ts';
import { chooseIterate, exponentiatedGradient } from '../fairness/exponentiated-gradient.ts';
import {
  MITIGATION_METHODS,
  type MitigationOptions,
  type MitigationRecord,
  mitigationInapplicable,
} from '../fairness/mitigation.ts';
import { reweighing } from '../fairness/reweighing.ts';
import { adjustedMargins, fitThresholds, ThresholdError } from '../fairness/threshold.ts';
import { type FittedPipeline, fitPipeline, pipelineHash, transform } from '../features/pipeline.ts';
import { dataFittedStatistics, type Transform, withoutColumns } from '../features/transforms.ts';
import { type Matrix, sigmoid } from '../linalg.ts';
import type { LinearProgramSolver } from '../lp.ts';
import type { FairnessReport } from '../metrics/fairness.ts';
import { fitGbdt, type GbdtOptions } from '../models/gbdt.ts';
import { fitLogistic, type LogisticModel, type LogisticOptions } from '../models/logistic.ts';
import { type ModelKind, predictMargins, predictProba, type TrainedModel } from '../models/model.ts';
import { outcomeBaseline } from '../monitoring/outcomes.ts';
import { exportOnnx, OPSETS, OUTPUTS } from '../onnx/export.ts';
import { dpSgdLogistic } from '../privacy/dp-sgd.ts';
import { calibrateNoise, PrivacyBudgetError } from '../privacy/rdp.ts';
import { Rng } from '../random.ts';

export type Hyperparameters = Readonly<Record<string, number | string | boolean>>;

export interface TrainOptions {
  readonly label: string;
  /** Protected attributes: evaluated for fairness, never model inputs. @default none */
  readonly protected?: readonly string[];
  /** Columns that are not features (identifiers, free text). @default none */
  readonly exclude?: readonly string[];
  /** @default 'gbdt' */
  readonly algorithm?: ModelKind;
  /** @default 42 */
  readonly seed?: number;
  /** Share of rows held out for evaluation. @default 0.2 */
  readonly holdout?: number;
  /** The feature pipeline spec. @default inferred: median-impute numbers (and standardise for lr), one-hot categories */
  readonly features?: readonly Transform[];
  /** Algorithm settings; see {@link HYPERPARAMETERS}. @default the algorithm's defaults */
  readonly hyperparameters?: Hyperparameters;
  /** Business costs for the holdout evaluation. @default none */
  readonly costs?: EvaluationOptions['costs'];
  /** Bootstrap resamples for the holdout's confidence intervals. @default 1000 */
  readonly bootstrapSamples?: number;
  /** Quantile buckets per numeric column of the drift baseline profile. @default 10 */
  readonly profileBins?: number;
  /** Values sampled per numeric column of the baseline profile (0: counts only). @default 20,000 */
  readonly profileSampleSize?: number;
  /** SHA-256 of the training data as read (the caller hashes the bytes). */
  readonly dataHash: string;
  /** Keel's version, recorded in the model and the manifest. */
  readonly codeVersion: string;
  /**
   * Fairness mitigation: the method, the protected attribute it acts on (one of `protected`),
   * the constraint and its bound; the holdout's outcome is recorded in the manifest. @default none
   */
  readonly mitigation?: MitigationOptions;
  /**
   * The linear-program solver threshold post-processing needs (HiGHS: `loadLinearProgramSolver`,
   * loaded asynchronously once by the caller, since training is synchronous). @default none
   */
  readonly linearProgramSolver?: LinearProgramSolver;
  /**
   * Differentially private training (logistic regression only): DP-SGD calibrated by the RDP
   * accountant to spend at most `epsilon` at `delta` on the rows the model is fitted on. Every
   * pipeline statistic must be declared (nothing is learnt from the data but the weights), and
   * the explainer's background comes from the holdout. @default not private
   */
  readonly privacy?: PrivacyOptions;
  /**
   * A logistic regression fitted elsewhere (by federated clients): nothing is fitted here, and
   * these rows only evaluate it and give its golden set, baseline and explainer. The feature
   * pipeline must declare its statistics (it is the one the clients used). @default fit here
   */
  readonly fitted?: { readonly model: LogisticModel; readonly record: FederatedRecord };
  /** Progress of the long phases, for progress bars. */
  readonly onProgress?: (progress: { phase: TrainingPhase; done: number; total: number }) => void;
}

export interface PrivacyOptions {
  readonly epsilon: number;
  readonly delta: number;
  /** C: the largest norm a row's gradient keeps. @default 1 */
  readonly clip?: number;
  /** Passes over the data, in expectation. @default 5 */
  readonly epochs?: number;
  /** Expected rows per step (Poisson sampling at rate batch / rows). @default 256 */
  readonly batchSize?: number;
  /** @default 1 */
  readonly learningRate?: number;
  /**
   * Draw DP-SGD's batches and noise from the training seed, to reproduce a run exactly: for
   * tests and benchmarks only (whoever has the seed can regenerate the noise).
   * @default false: a cryptographic generator
   */
  readonly seededNoise?: boolean;
  /**
   * The spend a privacy ledger granted for this run ({@link privateTrainingPlan}'s mechanism):
   * training refuses to run any other, and records where it was spent. @default none checked
   */
  readonly granted?: {
    readonly ledger: string;
    readonly seq: number;
    readonly mechanism: {
      readonly noiseMultiplier: number;
      readonly sampleRate: number;
      readonly steps: number;
    };
  };
}

/** How a model fitted elsewhere was fitted: federated training, as its session recorded it. */
export interface FederatedRecord {
  readonly method: 'fedavg' | 'fedprox';
  /** FedProx's μ (0 for FedAvg). */
  readonly mu: number;
  readonly rounds: number;
  /** Clients whose models were averaged in the last round. */
  readonly clients: number;
  /** Rows those clients hold. */
  readonly rows: number;
  readonly secureAggregation: boolean;
  /** The federated run (its state machine execution). */
  readonly session: string;
}

/** What a private training spent, as the manifest and the registry keep it. */
export interface PrivacyRecord {
  /** ε spent at δ, by the accountant from the parameters below (at most the target). */
  readonly epsilon: number;
  readonly delta: number;
  readonly targetEpsilon: number;
  readonly noiseMultiplier: number;
  readonly sampleRate: number;
  readonly steps: number;
  readonly clip: number;
  readonly order: number;
  readonly accountant: 'rdp';
  /** Where the batches and noise came from: `seeded` runs are reproducible, and not private to whoever has the seed. */
  readonly noise: 'cryptographic' | 'seeded';
  /** The rows ε protects: those the model was fitted on (the holdout is not private). */
  readonly rows: number;
  /** What the feature pipeline spent: nothing, its statistics were declared. */
  readonly pipelineEpsilon: 0;
  /** The ledger entry that granted the spend, when a ledger did. */
  readonly ledger?: { readonly name: string; readonly seq: number };
}

export type TrainingPhase = 'audit' | 'features' | 'training' | 'evaluation' | 'export';

/** Hyperparameters by algorithm, with their types; anything else is refused. */
export const HYPERPARAMETERS = {
  lr: { C: 'number', classWeight: 'balanced' },
  gbdt: {
    trees: 'number',
    learningRate: 'number',
    maxDepth: 'number',
    maxLeaves: 'number',
    minSamplesLeaf: 'number',
    lambda: 'number',
    subsample: 'number',
    colsample: 'number',
    /** Share of the training part kept aside for early stopping; 0 turns it off. */
    validation: 'number',
    earlyStoppingRounds: 'number',
    /** `monotone.<feature>`: 1 increasing, -1 decreasing. */
    'monotone.*': 'number',
  },
} as const;

/** The smallest and largest finite value of a numeric column. */
export interface InputRange {
  readonly min: number;
  readonly max: number;
}

/** Each numeric input's finite range in `table` (inputs with no finite value have none). */
export function inputRanges(table: Table, inputs: FittedPipeline['inputs']): Record<string, InputRange> {
  const ranges: Record<string, InputRange> = {};
  for (const { name, type } of inputs) {
    const column = table.columns.get(name);
    if (type !== 'numeric' || column?.kind !== 'numeric') continue;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (const v of column.values) {
      if (!Number.isFinite(v)) continue;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    if (min <= max) ranges[name] = { min, max };
  }
  return ranges;
}

export interface Manifest {
  readonly format: 'keel.model/v1';
  /** `<algorithm>-<first 12 hex of model.onnx's SHA-256>`: the same model, the same id. */
  readonly id: string;
  readonly createdAt: string;
  readonly algorithm: ModelKind;
  readonly label: string;
  readonly protected: readonly string[];
  readonly seed: number;
  readonly holdout: number;
  readonly hyperparameters: Hyperparameters;
  readonly codeVersion: string;
  readonly hashes: {
    readonly model: string;
    readonly pipeline: string;
    readonly trainingData: string;
    readonly audit: string;
  };
  readonly schema: {
    /** Raw input columns the model takes, in graph-input order. */
    readonly inputs: FittedPipeline['inputs'];
    /** Every column of the training data and its type. */
    readonly columns: Readonly<Record<string, 'numeric' | 'categorical'>>;
    readonly features: readonly string[];
    /**
     * The finite range of each numeric input in the training data: serving judges requests
     * against it (`serving.inputRange`). Absent in manifests written before it existed.
     */
    readonly ranges?: Readonly<Record<string, InputRange>>;
  };
  readonly rows: { readonly train: number; readonly validation: number; readonly holdout: number };
  readonly trees?: number;
  readonly onnx: {
    readonly opsets: typeof OPSETS;
    readonly outputs: typeof OUTPUTS;
  };
  /** The fairness mitigation applied and the constraint it met on the holdout, if one was asked for. */
  readonly mitigation?: MitigationRecord;
  /**
   * Each raw input's permutation importance on the holdout (at most
   * {@link IMPORTANCE_ROWS} rows), with standard errors: what the stale-feature review compares
   * production with. Absent in models trained before the review existed.
   */
  readonly importance?: ImportanceSummary;
  /** What private training spent (DP-SGD, the RDP accountant); absent when not private. */
  readonly privacy?: PrivacyRecord;
  /** How federated clients fitted it; absent when fitted here. */
  readonly federated?: FederatedRecord;
}

/** Holdout rows the training-time importance is measured on, at most. */
export const IMPORTANCE_ROWS = 10_000;
/** Shuffles per column of the training-time importance. */
export const IMPORTANCE_REPEATS = 5;

export interface TrainingResult {
  readonly manifest: Manifest;
  readonly pipeline: FittedPipeline;
  readonly model: TrainedModel;
  readonly onnx: Uint8Array;
  readonly metrics: EvaluationReport;
  readonly audit: AuditReport;
  /**
   * Holdout rows with the trained model's probabilities: the smoke test a new deployment must
   * pass before it takes traffic (its predictions must match these).
   */
  readonly goldenSet: GoldenSet;
  /**
   * Profile of the holdout's model inputs and the model's scores on them (column
   * {@link SCORE_COLUMN}): the baseline every drift check compares current traffic with.
   */
  readonly baseline: Profile;
  /** What explains its predictions: the pipeline, a sample of training rows, covers or coefficients. */
  readonly explainer: ExplainerArtifact;
}

/** The profile column holding the model's predicted probabilities (prediction drift). */
export const SCORE_COLUMN = '__score__';

export interface GoldenSet {
  readonly instances: readonly Readonly<Record<string, number | string | null>>[];
  readonly probabilities: readonly number[];
}

/** Rows kept in a golden set. */
export const GOLDEN_SET_ROWS = 32;

function isMissing(column: Column, row: number): boolean {
  return column.kind === 'numeric'
    ? Number.isNaN(column.values[row] as number)
    : (column.codes[row] as number) < 0;
}

/** Everything wrong with the data for this run, at once. */
export function validateTrainingData(table: Table, options: TrainOptions): void {
  const issues: FieldIssue[] = [];
  if (table.rowCount === 0) issues.push({ path: 'data', message: 'has no rows' });
  const label = table.columns.get(options.label);
  if (label === undefined) {
    issues.push({
      path: options.label,
      message: `label column not found; columns are ${[...table.columns.keys()].join(', ')}`,
    });
  } else if (table.rowCount > 0) {
    if (label.kind !== 'numeric') {
      const seen = label.dictionary.slice(0, 5).map((v) => JSON.stringify(v));
      issues.push({ path: options.label, message: `label must be 0 or 1; found ${seen.join(', ')}` });
    } else {
      const other = new Set<number>();
      let missing = 0;
      for (const v of label.values) {
        if (Number.isNaN(v)) missing++;
        else if (v !== 0 && v !== 1) other.add(v);
      }
      if (other.size > 0)
        issues.push({
          path: options.label,
          message: `label must be 0 or 1; found ${[...other].slice(0, 5).join(', ')}`,
        });
      if (missing > 0) issues.push({ path: options.label, message: `${missing} row(s) have no label` });
      const positives = label.values.reduce((s, v) => s + (v === 1 ? 1 : 0), 0);
      if (other.size === 0 && missing === 0 && (positives === 0 || positives === table.rowCount))
        issues.push({ path: options.label, message: `has one class only (${positives === 0 ? 0 : 1})` });
    }
  }
  for (const name of options.protected ?? []) {
    if (!table.columns.has(name)) issues.push({ path: name, message: 'protected column not found' });
  }
  for (const name of options.exclude ?? []) {
    if (!table.columns.has(name)) issues.push({ path: name, message: 'excluded column not found' });
  }
  const mitigation = options.mitigation;
  if (mitigation) {
    if (!(MITIGATION_METHODS as readonly string[]).includes(mitigation.method))
      issues.push({
        path: 'mitigation.method',
        message: `unknown method ${JSON.stringify(mitigation.method)}; known: ${MITIGATION_METHODS.join(', ')}`,
      });
    if (!(FAIRNESS_CONSTRAINTS as readonly string[]).includes(mitigation.constraint))
      issues.push({
        path: 'mitigation.constraint',
        message: `unknown constraint ${JSON.stringify(mitigation.constraint)}; known: ${FAIRNESS_CONSTRAINTS.join(', ')}`,
      });
    else if (mitigation.bound !== undefined)
      try {
        checkBound(mitigation.constraint, mitigation.bound);
      } catch (error) {
        issues.push({ path: 'mitigation.bound', message: (error as Error).message });
      }
    const maxIterations = mitigation.method === 'adversarial' ? 10_000 : 1000;
    if (
      mitigation.iterations !== undefined &&
      !(
        Number.isInteger(mitigation.iterations) &&
        mitigation.iterations >= 1 &&
        mitigation.iterations <= maxIterations
      )
    )
      issues.push({
        path: 'mitigation.iterations',
        message: `must be a whole number from 1 to ${maxIterations}, got ${mitigation.iterations}`,
      });
    if (
      mitigation.adversaryWeight !== undefined &&
      !(Number.isFinite(mitigation.adversaryWeight) && mitigation.adversaryWeight >= 0)
    )
      issues.push({
        path: 'mitigation.adversaryWeight',
        message: `must be a number ≥ 0, got ${mitigation.adversaryWeight}`,
      });
    const inapplicable = mitigationInapplicable(mitigation.method, options.algorithm ?? 'gbdt');
    if (inapplicable) issues.push({ path: 'mitigation.method', message: inapplicable });
    if (mitigation.method === 'threshold' && !options.linearProgramSolver)
      throw new Error(
        'threshold post-processing needs options.linearProgramSolver (loadLinearProgramSolver)',
      );
    const attributeColumn = table.columns.get(mitigation.attribute);
    if (mitigation.method === 'threshold' && attributeColumn && attributeColumn.kind !== 'categorical')
      issues.push({
        path: 'mitigation.attribute',
        message: `threshold post-processing makes ${mitigation.attribute} a model input, so it must be categorical (it holds numbers)`,
      });
    if (!(options.protected ?? []).includes(mitigation.attribute))
      issues.push({
        path: 'mitigation.attribute',
        message: `${JSON.stringify(mitigation.attribute)} is not a protected attribute of this training (${(options.protected ?? []).join(', ') || 'none declared'})`,
      });
  }
  if (table.rowCount > 0) {
    for (const [name, column] of table.columns) {
      let all = true;
      for (let r = 0; r < table.rowCount && all; r++) all = isMissing(column, r);
      if (all) issues.push({ path: name, message: 'every value is missing' });
    }
  }
  const privacy = options.privacy;
  if (privacy) {
    if ((options.algorithm ?? 'gbdt') !== 'lr')
      issues.push({
        path: 'privacy',
        message: `private training (DP-SGD) trains logistic regression only, not ${options.algorithm ?? 'gbdt'}`,
      });
    if (!options.features)
      issues.push({
        path: 'privacy',
        message: 'private training needs a declared feature pipeline (features)',
      });
    for (const leak of dataFittedStatistics(options.features ?? []))
      issues.push({ path: `features.${leak.index}`, message: `under privacy: ${leak.message}` });
    if (options.mitigation)
      issues.push({ path: 'privacy', message: 'private training with a fairness mitigation is not built' });
    if (!(privacy.epsilon > 0) || !Number.isFinite(privacy.epsilon))
      issues.push({
        path: 'privacy.epsilon',
        message: `must be a finite number > 0, got ${privacy.epsilon}`,
      });
    if (!(privacy.delta > 0 && privacy.delta < 1))
      issues.push({ path: 'privacy.delta', message: `must be in (0, 1), got ${privacy.delta}` });
    for (const key of ['clip', 'epochs', 'batchSize', 'learningRate'] as const) {
      const v = privacy[key];
      if (v !== undefined && !(v > 0 && Number.isFinite(v)))
        issues.push({ path: `privacy.${key}`, message: `must be a finite number > 0, got ${v}` });
    }
  }
  const fitted = options.fitted;
  if (fitted) {
    if ((options.algorithm ?? 'gbdt') !== 'lr')
      issues.push({
        path: 'algorithm',
        message: `a model fitted elsewhere is logistic regression, not ${options.algorithm ?? 'gbdt'}`,
      });
    if (!options.features)
      issues.push({
        path: 'fitted',
        message: 'a model fitted elsewhere needs the declared feature pipeline it was fitted on (features)',
      });
    for (const leak of dataFittedStatistics(options.features ?? []))
      issues.push({
        path: `features.${leak.index}`,
        message: `the clients could not have used it: ${leak.message}`,
      });
    if (options.mitigation || options.privacy)
      issues.push({ path: 'fitted', message: 'nothing is fitted here: no mitigation or privacy applies' });
    if (![...fitted.model.coefficients, fitted.model.intercept].every(Number.isFinite))
      issues.push({ path: 'fitted.model', message: 'a coefficient is not a finite number' });
  }
  const holdout = options.holdout ?? 0.2;
  if (!(holdout > 0 && holdout < 1))
    issues.push({ path: 'holdout', message: `must be in (0, 1), got ${holdout}` });
  if (!Number.isSafeInteger(options.seed ?? 42))
    issues.push({ path: 'seed', message: `must be an integer, got ${options.seed}` });
  if (issues.length > 0) throw new ValidationError('The training data cannot be used', issues);
}

/** The default feature spec: every usable column, numbers imputed (and standardised for LR), categories one-hot. */
export function inferFeatures(table: Table, options: TrainOptions, audit: AuditReport): Transform[] {
  const skip = new Set([options.label, ...(options.protected ?? []), ...(options.exclude ?? [])]);
  // Identifier-like and constant columns carry no signal a model should learn.
  for (const f of audit.findings)
    if (f.column && (f.check === 'cardinality' || f.check === 'constant')) skip.add(f.column);
  const spec: Transform[] = [];
  for (const [name, column] of table.columns) {
    if (skip.has(name)) continue;
    const provenance = { owner: 'keel', assumption: 'inferred default: missing values resemble the median' };
    if (column.kind === 'numeric') {
      spec.push({ type: 'impute', column: name, strategy: 'median', ...provenance });
      if ((options.algorithm ?? 'gbdt') === 'lr')
        spec.push({ type: 'standardise', column: name, owner: 'keel' });
    } else {
      spec.push({
        type: 'one-hot',
        column: name,
        maxCategories: 20,
        owner: 'keel',
        assumption: 'categories beyond the 20 most frequent behave alike',
      });
    }
  }
  if (spec.length === 0) {
    throw new ValidationError('No usable feature columns', [
      { path: 'data', message: 'every column is the label, protected, excluded, constant or an identifier' },
    ]);
  }
  return spec;
}

function checkHyperparameters(algorithm: ModelKind, given: Hyperparameters): void {
  const allowed = HYPERPARAMETERS[algorithm] as Readonly<Record<string, string>>;
  const issues: FieldIssue[] = [];
  for (const [key, value] of Object.entries(given)) {
    const rule = allowed[key] ?? (key.startsWith('monotone.') ? allowed['monotone.*'] : undefined);
    if (rule === undefined)
      issues.push({
        path: `hyperparameters.${key}`,
        message: `unknown for ${algorithm}; use ${Object.keys(allowed).join(', ')}`,
      });
    else if (rule === 'number' ? typeof value !== 'number' || !Number.isFinite(value) : value !== rule)
      issues.push({
        path: `hyperparameters.${key}`,
        message: `expected ${rule}, got ${JSON.stringify(value)}`,
      });
  }
  if (issues.length > 0) throw new ValidationError('Invalid hyperparameters', issues);
}

/** Row indices of a stratified split: the holdout takes `share` of each class. */
export function stratifiedSplit(
  labels: Float64Array,
  share: number,
  rng: Rng,
): { train: number[]; holdout: number[] } {
  const train: number[] = [];
  const holdout: number[] = [];
  for (const cls of [0, 1]) {
    const rows: number[] = [];
    for (let i = 0; i < labels.length; i++) if (labels[i] === cls) rows.push(i);
    const order = rng.permutation(rows.length);
    const cut = Math.round(rows.length * share);
    order.forEach((k, position) => {
      (position < cut ? holdout : train).push(rows[k] as number);
    });
  }
  return { train: train.sort((a, b) => a - b), holdout: holdout.sort((a, b) => a - b) };
}

export function takeRows(table: Table, rows: readonly number[]): Table {
  const index = Int32Array.from(rows);
  return {
    rowCount: rows.length,
    columns: new Map(
      [...table.columns].map(([name, c]): [string, Column] => [
        name,
        c.kind === 'numeric'
          ? { kind: 'numeric', values: Float64Array.from(index, (i) => c.values[i] as number) }
          : {
              kind: 'categorical',
              codes: Int32Array.from(index, (i) => c.codes[i] as number),
              dictionary: c.dictionary,
            },
      ]),
    ),
  };
}

function fitModel(
  algorithm: ModelKind,
  x: Matrix,
  y: Float64Array,
  features: readonly string[],
  h: Hyperparameters,
  seed: number,
  validation: { x: Matrix; y: Float64Array } | undefined,
  onIteration: GbdtOptions['onIteration'],
  sampleWeight?: Float64Array,
): TrainedModel {
  if (algorithm === 'lr') {
    const options: LogisticOptions = {
      ...(sampleWeight ? { sampleWeight } : {}),
      ...(h.C !== undefined ? { C: h.C as number } : {}),
      ...(h.classWeight === 'balanced' ? { classWeight: 'balanced' as const } : {}),
    };
    return fitLogistic(x, y, options);
  }
  const monotone = features.map((f) => Number(h[`monotone.${f}`] ?? 0));
  const num = (key: string) => (h[key] !== undefined ? { [key]: h[key] as number } : {});
  const options: GbdtOptions = {
    ...(sampleWeight ? { sampleWeight } : {}),
    ...num('trees'),
    ...num('learningRate'),
    ...num('maxDepth'),
    ...num('maxLeaves'),
    ...num('minSamplesLeaf'),
    ...num('lambda'),
    ...num('subsample'),
    ...num('colsample'),
    ...(monotone.some((m) => m !== 0) ? { monotone } : {}),
    ...(validation
      ? {
          earlyStopping: {
            validation: validation.x,
            labels: validation.y,
            rounds: (h.earlyStoppingRounds as number | undefined) ?? 20,
          },
        }
      : {}),
    seed,
    ...(onIteration ? { onIteration } : {}),
  };
  return fitGbdt(x, y, options);
}

/**
 * The mitigated model and what the record keeps of how: reweighing fits once with the
 * Kamiran–Calders weights (early stopping and the holdout judge the data as it is);
 * exponentiated gradient plays the reduction with the configured algorithm as its learner (no
 * early stopping: the learner's labels are the game's, not the data's) and ships the iterate
 * {@link chooseIterate} picks on the validation rows.
 */
function mitigatedFit(
  options: MitigationOptions,
  fitWith: (labels: Float64Array, weights: Float64Array | undefined, earlyStopping?: boolean) => TrainedModel,
  data: {
    readonly x: Matrix;
    readonly y: Float64Array;
    readonly groups: readonly string[];
    /** Logistic regression's C, for adversarial debiasing's penalty. */
    readonly C: number;
    readonly validation?: {
      readonly x: Matrix;
      readonly y: Float64Array;
      readonly groups: readonly string[];
    };
  },
): { model: TrainedModel; record: Pick<MitigationRecord, 'weights' | 'reduction' | 'adversarial'> } {
  if (options.method === 'reweighing') {
    const { weights, cells } = reweighing(data.y, data.groups);
    return { model: fitWith(data.y, weights), record: { weights: cells } };
  }
  if (options.method === 'adversarial') {
    // Warm-started from the unconstrained fit, as the paper: the game only has to undo the bias.
    const start = fitWith(data.y, undefined) as LogisticModel;
    const adversaryWeight = options.adversaryWeight ?? 1;
    const played = adversarialDebiasing(data.x, data.y, data.groups, {
      constraint: options.constraint,
      adversaryWeight,
      C: data.C,
      init: start,
      ...(options.iterations !== undefined ? { steps: options.iterations } : {}),
    });
    const first = played.history[0] as AdversarialStep;
    const last = played.history.at(-1) as AdversarialStep;
    return {
      model: played.model,
      record: {
        adversarial: {
          steps: last.step,
          adversaryWeight,
          groups: played.groups,
          adversaryLoss: {
            start: first.adversaryLoss,
            end: last.adversaryLoss,
            chance: chanceLoss(data.y, data.groups, options.constraint),
          },
          predictorLoss: { start: first.predictorLoss, end: last.predictorLoss },
        },
      },
    };
  }
  const validation = data.validation;
  if (!validation) throw new Error('exponentiated gradient needs validation rows'); // train() always makes them
  const game = exponentiatedGradient(
    data.y,
    data.groups,
    (labels, weights) => {
      const model = fitWith(labels, weights, false);
      return {
        model,
        decisions: Uint8Array.from(predictProba(model, data.x), (p) => (p >= 0.5 ? 1 : 0)),
      };
    },
    {
      constraint: options.constraint,
      ...(options.iterations !== undefined ? { maxIterations: options.iterations } : {}),
    },
  );
  const { chosen, iterates } = chooseIterate(
    game.models.map((m) => predictProba(m, validation.x)),
    validation.y,
    validation.groups,
    options.constraint,
    options.bound,
  );
  return {
    model: game.models[chosen - 1] as TrainedModel,
    record: {
      reduction: {
        rounds: game.steps.length,
        converged: game.converged,
        gap: game.steps.at(-1)?.gap ?? Number.NaN,
        validationRows: validation.y.length,
        iterates,
        chosen,
      },
    },
  };
}

/**
 * Threshold post-processing fitted on the validation rows; what makes it impossible (one group
 * only among them) is the caller's data, so a 400-style error naming the attribute.
 */
function postprocess(
  mitigation: MitigationOptions,
  options: TrainOptions,
  margins: Float64Array,
  y: Float64Array,
  rows: Table,
) {
  try {
    return fitThresholds(margins, y, attributeGroups(rows, mitigation.attribute), {
      attribute: mitigation.attribute,
      constraint: mitigation.constraint,
      ...(options.costs ? { costs: options.costs } : {}),
      solve: options.linearProgramSolver as LinearProgramSolver,
    });
  } catch (error) {
    if (error instanceof ThresholdError)
      throw new ValidationError('Threshold post-processing cannot be fitted', [
        { path: `mitigation.${error.field}`, message: error.message },
      ]);
    throw error;
  }
}

/**
 * The adversary's loss when the score tells it nothing: the entropy of the groups among the
 * rows it plays on (the positives only, for equal opportunity), given the label for equalised
 * odds (which it sees).
 */
function chanceLoss(y: Float64Array, groups: readonly string[], constraint: MitigationOptions['constraint']) {
  const entropy = (rows: number[]) => {
    const counts = new Map<string, number>();
    for (const i of rows) counts.set(groups[i] as string, (counts.get(groups[i] as string) ?? 0) + 1);
    let h = 0;
    for (const c of counts.values()) h -= (c / rows.length) * Math.log(c / rows.length);
    return h;
  };
  const all = groups.map((_, i) => i);
  if (constraint === 'equal-opportunity') return entropy(all.filter((i) => y[i] === 1));
  if (constraint === 'demographic-parity') return entropy(all);
  const parts = [0, 1].map((label) => all.filter((i) => y[i] === label));
  return parts.reduce((h, rows) => h + (rows.length / all.length) * entropy(rows), 0);
}

function mitigationRecord(
  options: MitigationOptions,
  how: Pick<MitigationRecord, 'weights' | 'reduction' | 'adversarial' | 'postprocess'>,
  metrics: EvaluationReport,
): MitigationRecord {
  const report = metrics.fairness[options.attribute] as FairnessReport;
  return {
    method: options.method,
    attribute: options.attribute,
    constraint: options.constraint,
    bound: options.bound ?? CONSTRAINTS[options.constraint].bound,
    ...how,
    holdout: constraintOutcome(options.constraint, report, options.bound),
    attributeIsInput: how.postprocess !== undefined,
  };
}

/** What a private training run will do to its rows: the mechanism a ledger is asked to grant. */
export interface PrivateFitPlan {
  readonly noiseMultiplier: number;
  readonly sampleRate: number;
  readonly steps: number;
  readonly clip: number;
  /** ε at the run's δ, by the accountant (at most the target), and its best order. */
  readonly epsilon: number;
  readonly order: number;
  readonly rows: number;
}

/**
 * DP-SGD's parameters for `rows` fitted rows, its noise calibrated by the RDP accountant to the
 * target ε: q is the expected batch over the rows, the steps cover `epochs` passes in expectation.
 */
export function planPrivateFit(rows: number, privacy: PrivacyOptions): PrivateFitPlan {
  const sampleRate = Math.min(1, (privacy.batchSize ?? 256) / rows);
  const steps = Math.max(1, Math.ceil((privacy.epochs ?? 5) / sampleRate));
  try {
    const calibrated = calibrateNoise({ epsilon: privacy.epsilon, delta: privacy.delta, sampleRate, steps });
    return { ...calibrated, sampleRate, steps, clip: privacy.clip ?? 1, rows };
  } catch (error) {
    if (error instanceof PrivacyBudgetError)
      throw new ValidationError('The privacy budget cannot be met', [
        {
          path: 'privacy.epsilon',
          message: `${error.message}; ${rows} rows to fit, ${privacy.epochs ?? 5} epochs of expected batch ${privacy.batchSize ?? 256}`,
        },
      ]);
    throw error;
  }
}

/**
 * The plan `train(table, options)` will follow, computed before any private row is touched, so
 * that a ledger can grant (or refuse) the spend first. Only the row count of the split is read.
 */
export function privateTrainingPlan(table: Table, options: TrainOptions): PrivateFitPlan {
  if (!options.privacy)
    throw new ValidationError('Not a private training run', [
      { path: 'privacy', message: 'give the budget' },
    ]);
  validateTrainingData(table, options);
  const labels = (table.columns.get(options.label) as { values: Float64Array }).values;
  // The same split as train()'s, from the same seed: private LR has no validation rows.
  const split = stratifiedSplit(labels, options.holdout ?? 0.2, new Rng(options.seed ?? 42));
  return planPrivateFit(split.train.length, options.privacy);
}

/** DP-SGD on the fitted rows, by the plan (the one a ledger granted, when one did). */
function fitPrivately(x: Matrix, y: Float64Array, privacy: PrivacyOptions, seed: number) {
  const plan = planPrivateFit(x.rows, privacy);
  const granted = privacy.granted;
  if (
    granted &&
    (granted.mechanism.noiseMultiplier !== plan.noiseMultiplier ||
      granted.mechanism.sampleRate !== plan.sampleRate ||
      granted.mechanism.steps !== plan.steps)
  )
    throw new IntegrityError(
      `the ledger granted σ = ${granted.mechanism.noiseMultiplier}, q = ${granted.mechanism.sampleRate}, ${granted.mechanism.steps} steps, but this run would use σ = ${plan.noiseMultiplier}, q = ${plan.sampleRate}, ${plan.steps} steps; nothing was trained`,
    );
  const result = dpSgdLogistic(x, y, {
    clip: plan.clip,
    noiseMultiplier: plan.noiseMultiplier,
    sampleRate: plan.sampleRate,
    steps: plan.steps,
    learningRate: privacy.learningRate ?? 1,
    ...(privacy.seededNoise ? { seed: seed + 5 } : {}),
  });
  const record: PrivacyRecord = {
    epsilon: plan.epsilon,
    delta: privacy.delta,
    targetEpsilon: privacy.epsilon,
    noiseMultiplier: plan.noiseMultiplier,
    sampleRate: plan.sampleRate,
    steps: plan.steps,
    clip: plan.clip,
    order: plan.order,
    accountant: 'rdp',
    noise: privacy.seededNoise ? 'seeded' : 'cryptographic',
    rows: plan.rows,
    pipelineEpsilon: 0,
    ...(granted ? { ledger: { name: granted.ledger, seq: granted.seq } } : {}),
  };
  return { model: result.model, record };
}

/**
 * Each raw input's permutation importance on (a seeded sample of) the holdout, priced by the
 * costs when given: the stale-feature review's "at training".
 */
function holdoutImportance(
  holdout: Table,
  labels: Float64Array,
  columns: readonly string[],
  score: (table: Table) => Float64Array,
  options: TrainOptions,
  seed: number,
): ImportanceSummary | undefined {
  let rows = Array.from({ length: holdout.rowCount }, (_, i) => i);
  if (rows.length > IMPORTANCE_ROWS)
    rows = Array.from(new Rng(seed + 3).permutation(rows.length).subarray(0, IMPORTANCE_ROWS)).sort(
      (a, b) => a - b,
    );
  const table = rows.length === holdout.rowCount ? holdout : takeRows(holdout, rows);
  const y = Float64Array.from(rows, (i) => labels[i] as number);
  if (y.every((v) => v === y[0])) return undefined; // one class: no AUC to lose
  const result = permutationImportanceSync(score, table, y, {
    repeats: IMPORTANCE_REPEATS,
    seed: seed + 4,
    columns,
    ...(options.costs ? { costs: options.costs } : {}),
  });
  return importanceSummary(result, table.rowCount, IMPORTANCE_REPEATS);
}

export function train(table: Table, options: TrainOptions): TrainingResult {
  validateTrainingData(table, options);
  const algorithm = options.algorithm ?? 'gbdt';
  const seed = options.seed ?? 42;
  const holdoutShare = options.holdout ?? 0.2;
  const h = options.hyperparameters ?? {};
  checkHyperparameters(algorithm, h);
  const progress = options.onProgress ?? (() => {});
  const rng = new Rng(seed);
  const labels = (table.columns.get(options.label) as { values: Float64Array }).values;

  progress({ phase: 'audit', done: 0, total: 1 });
  const split = stratifiedSplit(labels, holdoutShare, rng);
  const trainTable = takeRows(table, split.train);
  const holdoutTable = takeRows(table, split.holdout);
  // The whole data's quality, and the holdout's shift from the training part.
  const audit = auditTable(holdoutTable, {
    label: options.label,
    ignore: [...(options.exclude ?? [])],
    reference: trainTable,
  });
  const fullAudit = auditTable(table, { label: options.label, ignore: [...(options.exclude ?? [])] });
  const auditReport: AuditReport = options.privacy
    ? // Private training publishes nothing computed on the fitted rows: the report stored is the
      // holdout's own; the whole data's audit still gates training (one bit: passed or not).
      {
        ...auditTable(holdoutTable, { label: options.label, ignore: [...(options.exclude ?? [])] }),
        passed: fullAudit.passed && audit.passed,
      }
    : {
        ...fullAudit,
        passed: fullAudit.passed && audit.passed,
        findings: [
          ...fullAudit.findings,
          ...audit.findings.filter((f) => f.check === 'shift' || f.check === 'schema-mismatch'),
        ],
        ...(audit.shift ? { shift: audit.shift } : {}),
      };
  progress({ phase: 'audit', done: 1, total: 1 });

  progress({ phase: 'features', done: 0, total: 1 });
  // An excluded column is never a feature, whatever the given spec says of it.
  const spec = options.features
    ? withoutColumns(options.features, options.exclude ?? [])
    : inferFeatures(table, options, fullAudit);
  // Exponentiated gradient chooses its iterate on validation rows: logistic regression has none
  // of its own, so it gets the same share the GBDT keeps for early stopping.
  const reduction = options.mitigation?.method === 'exponentiated-gradient';
  // Threshold post-processing estimates each group's error rates on validation rows: 0.1 of the
  // training part left about 70 positives a group here, too few for a 0.1 bar on the TPR gap.
  const postprocessing = options.mitigation?.method === 'threshold';
  const configuredShare =
    algorithm === 'gbdt'
      ? ((h.validation as number | undefined) ?? 0.1) || (reduction ? 0.1 : 0)
      : reduction
        ? 0.1
        : 0;
  const validationShare = postprocessing ? Math.max(configuredShare, 0.25) : configuredShare;
  let fitRows = trainTable;
  let validationRows: Table | undefined;
  if (validationShare > 0) {
    const trainLabels = (trainTable.columns.get(options.label) as { values: Float64Array }).values;
    const inner = stratifiedSplit(trainLabels, validationShare, rng);
    fitRows = takeRows(trainTable, inner.train);
    validationRows = takeRows(trainTable, inner.holdout);
  }
  const pipeline = fitPipeline(spec, fitRows);
  const featureNames = pipeline.features.map((f) => f.name);
  const x = transform(pipeline, fitRows).matrix;
  const y = (fitRows.columns.get(options.label) as { values: Float64Array }).values;
  const validation = validationRows
    ? {
        x: transform(pipeline, validationRows).matrix,
        y: (validationRows.columns.get(options.label) as { values: Float64Array }).values,
      }
    : undefined;
  progress({ phase: 'features', done: 1, total: 1 });

  const total = algorithm === 'gbdt' ? ((h.trees as number | undefined) ?? 100) : 1;
  progress({ phase: 'training', done: 0, total });
  const fitWith = (labels: Float64Array, weights: Float64Array | undefined, earlyStopping = true) =>
    fitModel(
      algorithm,
      x,
      labels,
      featureNames,
      h,
      seed,
      earlyStopping ? validation : undefined,
      (done) => progress({ phase: 'training', done, total }),
      weights,
    );
  // Threshold post-processing trains the model as it is and acts on its margins afterwards.
  const mitigated =
    options.mitigation && options.mitigation.method !== 'threshold'
      ? mitigatedFit(options.mitigation, fitWith, {
          x,
          y,
          groups: attributeGroups(fitRows, options.mitigation.attribute),
          C: (h.C as number | undefined) ?? 1,
          ...(validation && validationRows
            ? {
                validation: {
                  ...validation,
                  groups: attributeGroups(validationRows, options.mitigation.attribute),
                },
              }
            : {}),
        })
      : undefined;
  const privateFit = options.privacy ? fitPrivately(x, y, options.privacy, seed) : undefined;
  if (options.fitted && options.fitted.model.coefficients.length !== featureNames.length)
    throw new ValidationError('The model does not fit the pipeline', [
      {
        path: 'fitted.model',
        message: `${options.fitted.model.coefficients.length} coefficients for ${featureNames.length} features (${featureNames.join(', ')})`,
      },
    ]);
  const model = options.fitted?.model ?? privateFit?.model ?? mitigated?.model ?? fitWith(y, undefined);
  const mitigation = options.mitigation;
  const rule =
    mitigation?.method === 'threshold' && validation && validationRows
      ? postprocess(mitigation, options, predictMargins(model, validation.x), validation.y, validationRows)
      : undefined;
  // What the shipped model answers: the base model's probabilities, post-processed when asked.
  const answer = (x: Matrix, table: Table): Float64Array =>
    rule
      ? adjustedMargins(rule, predictMargins(model, x), attributeGroups(table, rule.attribute)).map(sigmoid)
      : predictProba(model, x);
  progress({ phase: 'training', done: total, total });

  progress({ phase: 'evaluation', done: 0, total: 1 });
  const holdoutX = transform(pipeline, holdoutTable).matrix;
  const holdoutY = (holdoutTable.columns.get(options.label) as { values: Float64Array }).values;
  const scores = answer(holdoutX, holdoutTable);
  const metrics = evaluate(holdoutY, scores, {
    ...(options.costs ? { costs: options.costs } : {}),
    protected: Object.fromEntries(
      (options.protected ?? []).map((name) => [name, columnStrings(holdoutTable, name)]),
    ),
    bootstrap: { samples: options.bootstrapSamples ?? 1000, seed },
  });
  const importance = holdoutImportance(
    holdoutTable,
    holdoutY,
    [...pipeline.inputs.map((i) => i.name), ...(rule ? [rule.attribute] : [])],
    (table) => answer(transform(pipeline, table).matrix, table),
    options,
    seed,
  );
  progress({ phase: 'evaluation', done: 1, total: 1 });

  progress({ phase: 'export', done: 0, total: 1 });
  const pipelineVersion = pipelineHash(pipeline);
  const onnx = exportOnnx(pipeline, model, {
    producerVersion: options.codeVersion,
    ...(rule ? { postprocess: rule } : {}),
    metadata: {
      'keel.pipeline_hash': pipelineVersion,
      'keel.training_data_hash': options.dataHash,
      'keel.label': options.label,
      'keel.seed': String(seed),
    },
  });
  const modelHash = createHash('sha256').update(onnx).digest('hex');
  const goldenRows = Math.min(GOLDEN_SET_ROWS, holdoutTable.rowCount);
  // The raw columns the shipped model takes: the pipeline's, and the attribute a
  // post-processed model reads.
  const modelInputs: FittedPipeline['inputs'] = rule
    ? [...pipeline.inputs, { name: rule.attribute, type: 'categorical' }]
    : pipeline.inputs;
  const goldenSet: GoldenSet = {
    instances: Array.from({ length: goldenRows }, (_, i) =>
      Object.fromEntries(
        modelInputs.map(({ name }) => {
          const column = holdoutTable.columns.get(name) as Column;
          if (column.kind === 'numeric') {
            // float32, as the graph receives it: the expected outputs are for these exact inputs.
            const v = Math.fround(column.values[i] as number);
            return [name, Number.isNaN(v) ? null : v];
          }
          const code = column.codes[i] as number;
          return [name, code < 0 ? null : (column.dictionary[code] as string)];
        }),
      ),
    ),
    probabilities: [],
  };
  const manifest: Manifest = {
    format: 'keel.model/v1',
    id: `${algorithm}-${modelHash.slice(0, 12)}`,
    createdAt: new Date().toISOString(),
    algorithm,
    label: options.label,
    protected: [...(options.protected ?? [])],
    seed,
    holdout: holdoutShare,
    hyperparameters: h,
    codeVersion: options.codeVersion,
    hashes: {
      model: modelHash,
      pipeline: pipelineVersion,
      trainingData: options.dataHash,
      audit: createHash('sha256').update(canonicalJson(auditReport)).digest('hex'),
    },
    schema: {
      inputs: modelInputs,
      columns: schemaOf(table),
      features: featureNames,
      // Under privacy the fitted rows' extremes would be a release of their own: the holdout's.
      ranges: inputRanges(options.privacy ? holdoutTable : table, pipeline.inputs),
    },
    rows: {
      // A model fitted elsewhere was fitted on its clients' rows, none of these.
      train: options.fitted?.record.rows ?? fitRows.rowCount,
      validation: validationRows?.rowCount ?? 0,
      holdout: holdoutTable.rowCount,
    },
    ...(model.kind === 'gbdt' ? { trees: model.trees.length } : {}),
    onnx: { opsets: OPSETS, outputs: OUTPUTS },
    ...(options.mitigation && mitigated
      ? { mitigation: mitigationRecord(options.mitigation, mitigated.record, metrics) }
      : {}),
    ...(options.mitigation && rule
      ? {
          mitigation: mitigationRecord(
            options.mitigation,
            { postprocess: { ...rule, decisionThreshold: 0.5 } },
            metrics,
          ),
        }
      : {}),
    ...(importance ? { importance } : {}),
    ...(privateFit ? { privacy: privateFit.record } : {}),
    ...(options.fitted ? { federated: options.fitted.record } : {}),
  };
  progress({ phase: 'export', done: 1, total: 1 });
  const goldenTable = takeRows(
    holdoutTable,
    Array.from({ length: goldenRows }, (_, i) => i),
  );
  const roundedGolden: Table = {
    rowCount: goldenTable.rowCount,
    columns: new Map(
      [...goldenTable.columns].map(([name, c]): [string, Column] => [
        name,
        c.kind === 'numeric' ? { kind: 'numeric', values: c.values.map(Math.fround) } : c,
      ]),
    ),
  };
  const golden = {
    ...goldenSet,
    probabilities: Array.from(answer(transform(pipeline, roundedGolden).matrix, roundedGolden)),
  };
  // The drift checks' baseline: the holdout's model inputs and the model's scores on them.
  const baseline = profileTable(
    {
      rowCount: holdoutTable.rowCount,
      columns: new Map<string, Column>([
        ...modelInputs.map(({ name }): [string, Column] => [name, holdoutTable.columns.get(name) as Column]),
        [SCORE_COLUMN, { kind: 'numeric', values: Float64Array.from(scores) }],
      ]),
    },
    {
      keyPrefix: `baseline:${modelHash}`,
      ...(options.profileBins ? { bins: options.profileBins } : {}),
      ...(options.profileSampleSize !== undefined ? { sampleSize: options.profileSampleSize } : {}),
    },
  );
  // Its decisions per score bucket: what money at risk is measured against.
  baseline.outcomes = outcomeBaseline(holdoutY, scores);
  // The background is drawn from the rows the model was fitted on, as shap's and Clarify's; the
  // reference from the holdout, the population of the drift baseline.
  const explainer = buildExplainerArtifact(
    pipeline,
    model,
    // Private training keeps no fitted row: the background is drawn from the holdout too.
    { training: options.privacy ? holdoutTable : fitRows, holdout: holdoutTable },
    { seed, ...(rule ? { postprocess: rule } : {}) },
  );
  return {
    manifest,
    pipeline,
    model,
    onnx,
    metrics,
    audit: auditReport,
    goldenSet: golden,
    baseline,
    explainer,
  };
}
