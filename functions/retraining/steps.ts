/**
 * The retraining pipeline's steps, one function per Task state of
 * `state-machines/retraining.asl.json`. Each takes the execution state (settings, request and
 * what earlier steps returned) and its dependencies, does its work, and returns what the state
 * machine stores at the state's `ResultPath`: references into lineage, never data.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Transform } from '../contracts/config/schema.ts';
import type { FederatedCandidate } from '../contracts/federated.ts';
import {
  type GateRow,
  type ParetoRow,
  PIPELINE_ACTOR,
  RETRAINING_ENDED_METRIC,
  RETRAINING_EVENT_SOURCE,
  RETRAINING_FINISHED,
  type RetrainingFinished,
  type RetrainingSettings,
} from '../contracts/retraining.ts';
import { auditTable } from '../core/audit/audit.ts';
import { readCsv } from '../core/data/csv.ts';
import { type Column, columnStrings, type Schema, schemaOf, type Table, toCsv } from '../core/data/table.ts';
import { type GlobalDiagnostics, globalDiagnostics } from '../core/explain/diagnostics.ts';
import type { ExplainerArtifact, Explanation } from '../core/explain/explainer.ts';
import { type MitigationOptions, mitigationInapplicable } from '../core/fairness/mitigation.ts';
import { type FittedPipeline, pipelineHash } from '../core/features/pipeline.ts';
import { asLogisticModel } from '../core/federated/fedavg.ts';
import { loadLinearProgramSolver } from '../core/lp.ts';
import type { ModelKind } from '../core/models/model.ts';
import { OnnxModel } from '../core/onnx/runtime.ts';
import { modelExplainer } from '../core/onnx/trees.ts';
import { type GoldenSet, type Manifest, type TrainOptions, train } from '../core/training/train.ts';
import { joinOutcomes, labelledTable } from '../inference/capture.ts';
import { settleDeployment, startDeployment } from '../inference/deploy.ts';
import {
  ConflictError,
  failureMessage,
  IntegrityError,
  KeelError,
  ValidationError,
} from '../kernel/errors.ts';
import type { ArtifactRef, LineageStore } from '../lineage/store.ts';
import type { ApprovalStore } from '../ports/approval-store.ts';
import type { CaptureReader } from '../ports/capture.ts';
import type { Deployer, TrafficShift } from '../ports/deployer.ts';
import type { EventBus } from '../ports/event-bus.ts';
import type { MetricsSink } from '../ports/metrics-sink.ts';
import { ensureModelCard } from '../registry/card-record.ts';
import { ModelNotFoundError } from '../registry/errors.ts';
import type { PrivacyLedger } from '../registry/ledger.ts';
import { grantPrivateTraining } from '../registry/private-training.ts';
import {
  type PublishOptions,
  registerStoredTraining,
  type registryEvaluation,
  type StoredTraining,
  storeTrainingResult,
} from '../registry/publish.ts';
import type { ModelRegistry } from '../registry/registry.ts';
import { renderEvaluationHtml } from '../reports/evaluation.ts';
import { loadBaseData } from './base-data.ts';
import { missingDataColumns, splitDataset } from './data.ts';
import {
  compareDatasets,
  type DatasetScores,
  evaluationOutput,
  holdoutHeadline,
  judgeCandidate,
  markPareto,
  monotoneConstraints,
  productionBaseline,
} from './evaluation.ts';
import type { FairnessFailure } from './gates.ts';
import { safetyChecks } from './safety.ts';

export { baseDataColumns, loadBaseData } from './base-data.ts';
export { PIPELINE_ACTOR, RETRAINING_EVENT_SOURCE };

/** The data failed its audit: a critical finding stops the pipeline (not retried). */
export class DataAuditFailedError extends KeelError {}

export interface RetrainingDependencies {
  readonly registry: ModelRegistry;
  /** The privacy budget ledgers private training spends from. */
  readonly ledger: PrivacyLedger;
  readonly lineage: LineageStore;
  /** Captured predictions and outcomes. */
  readonly captured: CaptureReader;
  /** Reads an `s3://bucket/key` object (data sources, SageMaker outputs). */
  readonly readObject: (uri: string) => Promise<Uint8Array>;
  readonly deployer: Deployer;
  readonly eventBus: EventBus;
  readonly metrics: MetricsSink;
  readonly approvals: ApprovalStore;
  /** The inference function of a model. */
  readonly functionName: (model: string) => string;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** Why retraining runs, as the triggers (drift rule, schedule, `keel retrain`) say it. */
export interface RetrainingRequest {
  readonly trigger?: {
    readonly type?: 'drift' | 'schedule' | 'manual' | 'feature-review' | 'federated';
    readonly reason?: string;
  };
  /**
   * Raw columns the candidates must not use (a stale-feature review's finding, or `keel retrain
   * --without`). @default none
   */
  readonly without?: readonly string[];
  /** Who asked (the CLI's user). @default the pipeline */
  readonly requestedBy?: string;
  /** Snapshot time: production data up to it. @default the execution's start */
  readonly asOf?: string;
  /** Base data instead of the configured source (a path, `s3://…`, `lineage:<sha256>`, `synthetic:…`). */
  readonly source?: string;
  /**
   * A model federated clients fitted (the federated state machine's hand-over): judged instead
   * of one trained here, by the same gates, on the base data. @default train here
   */
  readonly federated?: FederatedCandidate;
}

export interface DatasetRef {
  readonly ref: ArtifactRef;
  readonly uri: string;
  readonly rows: number;
}

export interface PreparedData {
  readonly asOf: string;
  readonly trigger: {
    readonly type: 'drift' | 'schedule' | 'manual' | 'feature-review' | 'federated';
    readonly reason: string;
  };
  /** Raw columns the candidates do not use. */
  readonly without?: readonly string[];
  readonly requestedBy: string;
  readonly source: string;
  readonly schema: Schema;
  readonly baseRows: number;
  readonly productionRows: number;
  readonly trainingRows: number;
  readonly train: DatasetRef;
  readonly holdout: DatasetRef;
  readonly production: DatasetRef | null;
  /**
   * Columns of the base data that no labelled production row carries (not sent by callers, by
   * design: the model does not take them and they are not declared request fields). The audit
   * does not count them missing in the production rows.
   */
  readonly productionLacks?: readonly string[];
  /** Everything a SageMaker training container needs besides the data. */
  readonly spec: DatasetRef;
  /** A SageMaker training job name derived from the execution (≤ 63 characters). */
  readonly jobName: string;
}

export interface CandidateRefs extends StoredTraining {
  readonly algorithm: string;
  readonly hyperparameters: Readonly<Record<string, unknown>>;
  readonly validationAuc: number;
}

export interface TrainingOutput {
  readonly candidate: CandidateRefs;
  readonly configurations: readonly {
    readonly algorithm: string;
    readonly hyperparameters: Readonly<Record<string, unknown>>;
    readonly validationAuc: number;
    readonly manifestId: string;
  }[];
}

export interface EvaluationOutput {
  readonly gates: {
    readonly performance: { readonly passed: boolean; readonly reason: string };
    readonly fairness: { readonly passed: boolean; readonly reason: string };
    readonly safety: { readonly passed: boolean; readonly reason: string };
  };
  readonly table: readonly GateRow[];
  readonly report: ArtifactRef;
  readonly production: { readonly version: number } | null;
  /** Decision thresholds the threshold metrics and fairness were judged at. */
  readonly thresholds: { readonly candidate?: number; readonly production?: number };
  /** Headline numbers for the registry. */
  readonly registry: ReturnType<typeof registryEvaluation>;
  /**
   * The drift baseline the candidate is monitored against once live, when production rows were
   * held out: their inputs, the candidate's scores and decisions on them (the world it will
   * serve), rather than the base holdout training profiled.
   */
  readonly monitoringBaseline?: ArtifactRef;
  /** The report as HTML, with the diagnostics' charts. */
  readonly html?: ArtifactRef;
  /** The candidate's columns by permutation importance, the first five. */
  readonly topFeatures?: readonly string[];
  /** The fairness checks that failed: what Mitigate acts on. */
  readonly fairnessFailures?: readonly FairnessFailure[];
  /** The holdout's headline numbers: a row of the mitigations' table. */
  readonly holdout?: {
    readonly auc: number;
    readonly costPer1000: number | null;
    readonly fairness: Readonly<Record<string, Readonly<Record<string, number>>>>;
  };
  /** The mitigations tried when the fairness gate failed, beside the unmitigated candidate. */
  readonly pareto?: readonly ParetoRow[];
}

/** What Mitigate tried and chose, kept in the state once its candidate is adopted. */
export interface MitigationSummary {
  readonly tried: readonly string[];
  /** Configured mitigations that cannot train this candidate's algorithm, with why. */
  readonly skipped?: readonly string[];
  /** The mitigation whose candidate passed every gate and was adopted, or null. */
  readonly chosen: string | null;
  readonly reason: string;
}

export interface MitigationOutput {
  readonly training: TrainingOutput;
  readonly evaluation: EvaluationOutput;
  readonly summary: MitigationSummary;
}

/** The execution state as the Task states receive it. */
export interface RetrainingState {
  readonly settings: RetrainingSettings;
  readonly request: RetrainingRequest;
  readonly execution: string;
  readonly startedAt: string;
  readonly data?: PreparedData;
  readonly audit?: { readonly passed: boolean; readonly report: ArtifactRef };
  readonly training?: TrainingOutput;
  readonly evaluation?: EvaluationOutput;
  /** Set once Mitigate ran: the pipeline tries the mitigations once. */
  readonly mitigation?: MitigationSummary;
  readonly rejection?: { readonly gate: string; readonly reason: string; readonly actor?: string };
  readonly approval?: { readonly decision: string; readonly actor: string; readonly reason: string };
  readonly registered?: { readonly version: number; readonly status: string };
  readonly rollout?: {
    readonly deploymentId: string;
    readonly functionVersion: string;
    readonly status: string;
    readonly reason?: string;
  };
  readonly failure?: { readonly Error?: string; readonly Cause?: string };
}

const now = (deps: RetrainingDependencies) => (deps.now ?? (() => new Date()))();

function need<K extends keyof RetrainingState>(
  state: RetrainingState,
  key: K,
): NonNullable<RetrainingState[K]> {
  const value = state[key];
  if (value === undefined || value === null)
    throw new ValidationError(`The execution state has no ${String(key)}`, [
      { path: String(key), message: 'missing' },
    ]);
  return value as NonNullable<RetrainingState[K]>;
}

async function putTable(lineage: LineageStore, table: Table): Promise<DatasetRef> {
  const ref = await lineage.putBytes('datasets', new TextEncoder().encode(toCsv(table)));
  return { ref, uri: ref.uri, rows: table.rowCount };
}

async function getTable(lineage: LineageStore, dataset: DatasetRef, schema: Schema): Promise<Table> {
  const bytes = await lineage.getBytes(dataset.ref);
  return readCsv(Readable.from([Buffer.from(bytes)]), { schema, source: dataset.uri });
}

// ── PrepareData ────────────────────────────────────────────────────────────────

export async function prepareData(
  state: RetrainingState,
  deps: RetrainingDependencies,
): Promise<PreparedData> {
  const { settings, request } = state;
  const asOf = new Date(request.asOf ?? state.startedAt);
  if (Number.isNaN(asOf.getTime()))
    throw new ValidationError('Invalid request', [
      { path: 'asOf', message: `not a timestamp: ${request.asOf}` },
    ]);
  const source = request.source ?? settings.data.source;
  const base = await loadBaseData(source, deps);
  const missing = missingDataColumns(base.columns.keys(), settings.data);
  if (missing) throw missing;
  const without = [...new Set(request.without ?? [])];
  const unknown = without.flatMap((name, i) =>
    base.columns.has(name) && name !== settings.data.label
      ? []
      : [{ path: `without.${i}`, message: `"${name}" is not a column of the base data that can be dropped` }],
  );
  if (unknown.length > 0) throw new ValidationError('Invalid request', unknown);
  const schema = schemaOf(base);
  const from = new Date(asOf.getTime() - settings.sampling.productionWindowDays * 86_400_000);
  const captured = await deps.captured.read(settings.model, { from, to: asOf });
  const labelled = joinOutcomes(captured.predictions, captured.feedback, settings.sampling.maxProductionRows);
  const production = labelledTable(labelled, schema, settings.data.label);
  const productionLacks =
    production.rowCount === 0
      ? []
      : [...production.columns].filter(([, column]) => isAllMissing(column)).map(([name]) => name);
  const split = splitDataset(base, production, {
    label: settings.data.label,
    holdout: settings.training.holdout,
    productionEvaluationShare: settings.sampling.productionEvaluationShare,
    minProductionRows: settings.sampling.minProductionRows,
    seed: settings.training.seed,
  });
  const [train, holdout, productionRef] = await Promise.all([
    putTable(deps.lineage, split.train),
    putTable(deps.lineage, split.holdout),
    split.production ? putTable(deps.lineage, split.production) : Promise.resolve(null),
  ]);
  const specRef = await deps.lineage.putJson('records', {
    settings,
    schema,
    train: train.ref,
    holdout: holdout.ref,
  });
  const type = request.trigger?.type ?? 'manual';
  return {
    asOf: asOf.toISOString(),
    trigger: { type, reason: request.trigger?.reason ?? `${type} retraining` },
    requestedBy: request.requestedBy ?? PIPELINE_ACTOR,
    ...(without.length > 0 ? { without } : {}),
    source,
    schema,
    baseRows: base.rowCount,
    productionRows: production.rowCount,
    trainingRows: split.train.rowCount,
    train,
    holdout,
    production: productionRef,
    ...(productionLacks.length > 0 ? { productionLacks } : {}),
    spec: { ref: specRef, uri: specRef.uri, rows: 0 },
    jobName: `${settings.model.slice(0, 30)}-${createHash('sha256').update(state.execution).digest('hex').slice(0, 16)}`,
  };
}

function isAllMissing(column: Column): boolean {
  if (column.kind === 'numeric') {
    for (const v of column.values) if (!Number.isNaN(v)) return false;
    return true;
  }
  for (const code of column.codes) if (code >= 0) return false;
  return true;
}

// ── AuditData ──────────────────────────────────────────────────────────────────

export async function auditData(
  state: RetrainingState,
  deps: RetrainingDependencies,
): Promise<{ passed: boolean; critical: string[]; warnings: number; report: ArtifactRef }> {
  const data = need(state, 'data');
  const train = await getTable(deps.lineage, data.train, data.schema);
  const holdout = await getTable(deps.lineage, data.holdout, data.schema);
  const report = auditTable(train, {
    label: state.settings.data.label,
    // Columns no production row carries (by design: not model inputs, not sent) would count as
    // missing in every production row; they are left out of this audit (the base data's first
    // training audited them) and listed in the prepared data.
    ignore: [...state.settings.data.piiFields, ...(data.productionLacks ?? [])],
    reference: holdout,
    // With production rows in the training set (a retrain after drift), its shift from the base
    // holdout is the drift being learnt: a warning to read, not a reason to refuse to train.
    ...(data.productionRows > 0
      ? { thresholds: { shiftPsi: { warning: 0.1, critical: Number.POSITIVE_INFINITY } } }
      : {}),
  });
  const ref = await deps.lineage.putJson('audits', report);
  const critical = report.findings.filter((f) => f.severity === 'critical').map((f) => f.message);
  if (critical.length > 0) {
    throw new DataAuditFailedError(
      `The data audit found ${critical.length} critical problem(s): ${critical.join('; ')} (report ${ref.uri})`,
    );
  }
  return { passed: report.passed, critical, warnings: report.findings.length, report: ref };
}

// ── Train ──────────────────────────────────────────────────────────────────────

/** One configuration's training run as the pipeline runs it (Train, and Mitigate again). */
function trainingOptions(
  settings: RetrainingSettings,
  configuration: { readonly algorithm: string; readonly hyperparameters: Readonly<Record<string, unknown>> },
  dataHash: string,
  without: readonly string[] = [],
  mitigation?: MitigationOptions,
): TrainOptions {
  return {
    label: settings.data.label,
    protected: settings.data.protectedAttributes,
    exclude: [...settings.data.piiFields, ...without],
    algorithm: configuration.algorithm as TrainOptions['algorithm'] & string,
    seed: settings.training.seed,
    holdout: settings.training.holdout,
    ...(settings.features.length > 0 ? { features: settings.features as unknown as Transform[] } : {}),
    hyperparameters: configuration.hyperparameters as TrainOptions['hyperparameters'] & object,
    costs: settings.costs,
    // Training's own holdout report only ranks the configurations; the gates bootstrap in Evaluate.
    bootstrapSamples: 200,
    profileBins: settings.training.profileBins,
    profileSampleSize: settings.training.profileSampleSize,
    ...(mitigation ? { mitigation } : {}),
    dataHash,
    codeVersion: settings.codeVersion,
  };
}

export async function trainCandidates(
  state: RetrainingState,
  deps: RetrainingDependencies,
): Promise<TrainingOutput> {
  const { settings } = state;
  const data = need(state, 'data');
  const table = await getTable(deps.lineage, data.train, data.schema);
  const dataHash = data.train.ref.sha256;
  if (state.request.federated) return trainFederated(state, deps, table, dataHash);
  const trained: CandidateRefs[] = [];
  for (const [index, configuration] of settings.training.configurations.entries()) {
    const options = await spendForTraining(
      state,
      deps,
      table,
      trainingOptions(settings, configuration, dataHash, data.without),
      index,
    );
    const result = train(table, options);
    const stored = await storeTrainingResult(deps.lineage, result);
    trained.push({
      ...stored,
      algorithm: configuration.algorithm,
      hyperparameters: configuration.hyperparameters,
      validationAuc: result.metrics.auc,
    });
  }
  const best = trained.reduce((a, b) => (b.validationAuc > a.validationAuc ? b : a));
  return {
    candidate: best,
    configurations: trained.map((t) => ({
      algorithm: t.algorithm,
      hyperparameters: t.hyperparameters,
      validationAuc: t.validationAuc,
      manifestId: t.manifest.id,
    })),
  };
}

/**
 * A model federated clients fitted: nothing is trained here; train() packages it (evaluation,
 * golden set, baseline, explainer, ONNX) over the pipeline the clients used, which must be the
 * config's still.
 */
async function trainFederated(
  state: RetrainingState,
  deps: RetrainingDependencies,
  table: Table,
  dataHash: string,
): Promise<TrainingOutput> {
  const candidate = state.request.federated as FederatedCandidate;
  const { weights } = await deps.lineage.getJson<{ weights: number[] }>(candidate.model);
  const configuration = { algorithm: 'lr', hyperparameters: {} };
  const result = train(table, {
    ...trainingOptions(state.settings, configuration, dataHash, need(state, 'data').without),
    fitted: { model: asLogisticModel(weights, candidate.record.rounds), record: candidate.record },
  });
  const used = await deps.lineage.getJson<FittedPipeline>(candidate.pipeline);
  if (pipelineHash(used) !== result.manifest.hashes.pipeline)
    throw new IntegrityError(
      `the federated clients transformed their rows with pipeline ${candidate.pipeline.sha256.slice(0, 12)}, and the config's pipeline is no longer that one; run the federated training again`,
    );
  const stored = await storeTrainingResult(deps.lineage, result);
  const trained = { ...stored, ...configuration, validationAuc: result.metrics.auc };
  return {
    candidate: trained,
    configurations: [
      { ...configuration, validationAuc: trained.validationAuc, manifestId: result.manifest.id },
    ],
  };
}

/**
 * Private training: each configuration's DP-SGD run is granted by the data source's ledger
 * before a row is touched, else the step fails with the refusal, which the ledger keeps. A
 * retried step spends again: it draws new noise, and what the first attempt stored is a release.
 */
async function spendForTraining(
  state: RetrainingState,
  deps: RetrainingDependencies,
  table: Table,
  options: TrainOptions,
  index: number,
): Promise<TrainOptions> {
  const { settings } = state;
  const target = settings.training.privacy;
  if (!target) return options;
  const budget = settings.data.privacy;
  if (!budget)
    throw new ValidationError('Private training needs a budget', [
      { path: 'data.privacy', message: 'declare the data source’s ε and δ' },
    ]);
  const data = need(state, 'data');
  return grantPrivateTraining(
    deps.ledger,
    table,
    { ...options, privacy: target },
    {
      ledger: budget.ledger,
      budget: { epsilon: budget.epsilon, delta: budget.delta },
      purpose: { kind: 'training', model: settings.model, run: data.jobName },
      attribution: {
        actor: PIPELINE_ACTOR,
        reason: `${settings.model}, configuration ${index + 1}, ${data.trigger.type}: ${data.trigger.reason}`,
      },
    },
  );
}

// ── Evaluate ───────────────────────────────────────────────────────────────────

async function loadProduction(deps: RetrainingDependencies, model: string) {
  const production = (await deps.registry.aliasesOrNone(model)).production;
  if (production === undefined) return undefined;
  const version = await deps.registry.get(model, production);
  const bytes = await deps.lineage.getBytes({ kind: 'models', sha256: version.metadata.artifact.sha256 });
  return { version: production, model: await OnnxModel.load(bytes) };
}

/** Rows where every protected attribute is known: fairness is judged on those only. */
function hasGroups(table: Table, attributes: readonly string[]): boolean {
  return attributes.every((a) => columnStrings(table, a).some((v) => v !== null));
}

export async function evaluateCandidate(
  state: RetrainingState,
  deps: RetrainingDependencies,
): Promise<EvaluationOutput> {
  return record(await assess(need(state, 'training').candidate, state, deps), state, deps);
}

/** What judging a candidate found, before anything is stored. */
interface Assessment {
  readonly candidate: CandidateRefs;
  readonly compared: ReturnType<typeof compareDatasets>;
  readonly gates: ReturnType<typeof judgeCandidate>;
  readonly safety: Awaited<ReturnType<typeof safetyChecks>>;
  readonly diagnostics: GlobalDiagnostics | { readonly error: string };
  readonly production: { readonly version: number } | null;
  /** The production rows and the candidate's scores on them, when rows were held out. */
  readonly onProduction?: { readonly table: Table; readonly scores: ArrayLike<number> };
}

/**
 * Scores a candidate and production on the holdout and the production rows, runs the gates and
 * the diagnostics: Evaluate's work, and Mitigate's for each mitigated candidate. Stores nothing,
 * so Mitigate can judge every candidate once and record only the one it keeps.
 */
async function assess(
  candidate: CandidateRefs,
  state: RetrainingState,
  deps: RetrainingDependencies,
): Promise<Assessment> {
  const { settings } = state;
  const data = need(state, 'data');
  const label = settings.data.label;
  const holdout = await getTable(deps.lineage, data.holdout, data.schema);
  const productionData = data.production
    ? await getTable(deps.lineage, data.production, data.schema)
    : undefined;
  const candidateModel = await OnnxModel.load(await deps.lineage.getBytes(candidate.refs.model));
  const production = await loadProduction(deps, settings.model);
  try {
    // Scoring: both models on each dataset.
    const datasets: DatasetScores[] = [];
    for (const [name, table] of [
      ['holdout', holdout],
      ...(productionData ? [['production', productionData]] : []),
    ] as ['holdout' | 'production', Table][]) {
      datasets.push({
        name,
        y: (table.columns.get(label) as { values: Float64Array }).values,
        groups: hasGroups(table, settings.data.protectedAttributes)
          ? Object.fromEntries(settings.data.protectedAttributes.map((a) => [a, columnStrings(table, a)]))
          : {},
        candidate: (await candidateModel.scoreTable(table)).probabilities,
        ...(production ? { production: (await production.model.scoreTable(table)).probabilities } : {}),
      });
    }
    const goldenSet = await deps.lineage.getJson<GoldenSet>(candidate.refs.goldenSet);
    const manifest = await deps.lineage.getJson<Manifest>(candidate.refs.manifest);
    const compared = compareDatasets(datasets, settings, manifest.mitigation?.postprocess?.decisionThreshold);
    const safety = await safetyChecks(
      (table) => candidateModel.scoreTable(table),
      {
        holdout,
        ...(productionData ? { production: productionData } : {}),
        inputs: candidateModel.inputs,
        goldenSet,
      },
      {
        ...settings.gates,
        monotone: monotoneConstraints(settings.gates.monotone, manifest.hyperparameters, data.schema),
        seed: settings.training.seed,
      },
    );
    const gates = judgeCandidate(compared, safety, settings.gates, data.trigger.type === 'drift');
    // What the candidate relies on: never the reason a candidate fails, so a failure here is noted, not thrown.
    const diagnostics = await candidateDiagnostics(
      candidate,
      candidateModel,
      holdout,
      label,
      settings,
      deps,
    ).catch((error: unknown) => ({ error: error instanceof Error ? error.message : String(error) }));
    const productionScores = datasets.find((d) => d.name === 'production')?.candidate;
    const productionRef = production ? { version: production.version } : null;
    return {
      candidate,
      compared,
      gates,
      safety,
      diagnostics,
      production: productionRef,
      ...(productionData && productionScores
        ? { onProduction: { table: productionData, scores: productionScores } }
        : {}),
    };
  } finally {
    await candidateModel.release();
    await production?.model.release();
  }
}

/** The evaluation report as stored in lineage: what its HTML is rendered from. */
interface EvaluationDocument {
  readonly model: string;
  readonly execution: string;
  readonly candidate: { readonly manifestId: string; readonly algorithm: string };
  readonly production: { readonly version: number } | null;
  readonly reports: Assessment['compared']['reports'];
  readonly comparisons: Assessment['compared']['comparisons'];
  readonly thresholds: Assessment['compared']['thresholds'];
  readonly fairness: Assessment['compared']['fairness'];
  readonly safety: Assessment['safety'];
  readonly gates: Readonly<
    Record<'performance' | 'fairness' | 'safety', { passed: boolean; reason: string }>
  >;
  readonly diagnostics: Assessment['diagnostics'];
  readonly mitigations?: readonly ParetoRow[];
}

/** Stores the report as JSON and as HTML (with the diagnostics' charts). */
async function storeReport(
  deps: RetrainingDependencies,
  doc: EvaluationDocument,
  table: EvaluationOutput['table'],
): Promise<{ report: ArtifactRef; html: ArtifactRef }> {
  const report = await deps.lineage.putJson('evaluations', doc);
  const gates = [doc.gates.performance, doc.gates.fairness, doc.gates.safety];
  const html = await deps.lineage.putBytes(
    'evaluations',
    new TextEncoder().encode(
      await renderEvaluationHtml({
        model: doc.model,
        execution: doc.execution,
        candidate: doc.candidate,
        production: doc.production,
        decision: gates.every((g) => g.passed)
          ? 'Every gate passed.'
          : `Failed: ${gates
              .filter((g) => !g.passed)
              .map((g) => g.reason)
              .join('; ')}`,
        table,
        metrics: Object.fromEntries(
          (['auc', 'logLoss', 'brier', 'ece'] as const).map((k) => [
            k,
            {
              candidate: doc.reports.holdout?.candidate[k] ?? null,
              production: doc.reports.holdout?.production?.[k] ?? null,
            },
          ]),
        ),
        diagnostics: 'error' in doc.diagnostics ? null : doc.diagnostics,
        ...(doc.mitigations ? { mitigations: doc.mitigations } : {}),
      }),
    ),
    { contentType: 'text/html; charset=utf-8' },
  );
  return { report, html };
}

/**
 * Stores what an assessment found: the report (JSON and HTML, with `pareto` when given) and the
 * candidate's monitoring baseline on the production rows.
 */
async function record(
  assessment: Assessment,
  state: RetrainingState,
  deps: RetrainingDependencies,
  pareto?: readonly ParetoRow[],
): Promise<EvaluationOutput> {
  const { settings } = state;
  const { candidate, compared, gates, safety, diagnostics, production, onProduction } = assessment;
  const { report, html } = await storeReport(
    deps,
    {
      model: settings.model,
      execution: state.execution,
      candidate: { manifestId: candidate.manifest.id, algorithm: candidate.algorithm },
      production,
      reports: compared.reports,
      comparisons: compared.comparisons,
      thresholds: compared.thresholds,
      fairness: compared.fairness,
      safety,
      gates: { performance: gates.performance, fairness: gates.fairness, safety: gates.safety },
      diagnostics,
      ...(pareto ? { mitigations: pareto } : {}),
    },
    gates.table,
  );
  const monitoringBaseline = onProduction
    ? await deps.lineage.putJson(
        'profiles',
        productionBaseline(
          onProduction.table,
          onProduction.scores,
          candidate.inputs,
          settings,
          candidate.refs.model.sha256,
        ),
      )
    : undefined;
  return evaluationOutput(compared, gates, safety, {
    report,
    html,
    ...(pareto ? { pareto } : {}),
    ...('error' in diagnostics
      ? {}
      : { topFeatures: diagnostics.permutation.slice(0, 5).map((p) => p.column) }),
    production,
    ...(monitoringBaseline ? { monitoringBaseline } : {}),
  });
}

/** Importance and partial dependence of the candidate on the holdout, with its explainer when it has one. */
async function candidateDiagnostics(
  candidate: StoredTraining,
  model: OnnxModel,
  holdout: Table,
  label: string,
  settings: RetrainingSettings,
  deps: RetrainingDependencies,
): Promise<GlobalDiagnostics> {
  let explain: ((table: Table) => Explanation) | undefined;
  if (candidate.refs.explainer) {
    const explainer = modelExplainer(
      await deps.lineage.getJson<ExplainerArtifact>(candidate.refs.explainer),
      await deps.lineage.getBytes(candidate.refs.model),
    );
    explain = (table) => explainer.explain(table);
  }
  return globalDiagnostics(
    async (table) => (await model.scoreTable(table)).probabilities,
    holdout,
    (holdout.columns.get(label) as { values: Float64Array }).values,
    model.inputs.map((i) => i.name),
    { seed: settings.training.seed, ...(explain ? { explain } : {}) },
  );
}

// ── Mitigate ───────────────────────────────────────────────────────────────────

/**
 * The candidate failed the fairness gate: train its configuration again with each configured
 * mitigation (on the attribute that failed, for the constraint asked or the one that failed),
 * judge each exactly as Evaluate judged the candidate, and tabulate all of them, the
 * unmitigated candidate first, with which are Pareto-optimal. The best that passes every gate
 * (highest holdout AUC) becomes the candidate, with the table in its report; if none passes,
 * the candidate stays and its fairness reason says so, with the table.
 */
export async function mitigateCandidate(
  state: RetrainingState,
  deps: RetrainingDependencies,
): Promise<MitigationOutput> {
  const { settings } = state;
  const data = need(state, 'data');
  const training = need(state, 'training');
  const evaluation = need(state, 'evaluation');
  const mitigations = settings.gates.mitigations;
  const failure = evaluation.fairnessFailures?.[0];
  if (!failure || mitigations.length === 0)
    return {
      training,
      evaluation,
      summary: {
        tried: [],
        chosen: null,
        reason: failure ? 'no mitigations configured (gates.mitigations)' : 'the fairness gate did not fail',
      },
    };
  const table = await getTable(deps.lineage, data.train, data.schema);
  const base = training.candidate;
  const rowOf = (
    method: string,
    constraint: string | null,
    candidate: CandidateRefs,
    holdout: NonNullable<EvaluationOutput['holdout']> | undefined,
    gates: Pick<EvaluationOutput['gates'], 'performance' | 'fairness' | 'safety'>,
  ): Omit<ParetoRow, 'paretoOptimal'> => ({
    method,
    constraint,
    attribute: constraint ? failure.attribute : null,
    manifestId: candidate.manifest.id,
    auc: holdout?.auc ?? Number.NaN,
    costPer1000: holdout?.costPer1000 ?? null,
    fairness: holdout?.fairness ?? {},
    gates: {
      performance: gates.performance.passed,
      fairness: gates.fairness.passed,
      safety: gates.safety.passed,
    },
  });
  const rows = [rowOf('none', null, base, evaluation.holdout, evaluation.gates)];
  const tried: { label: string; assessment: Assessment }[] = [];
  const skipped: string[] = [];
  for (const m of mitigations) {
    const constraint = m.constraint ?? failure.constraint;
    const inapplicable = mitigationInapplicable(m.method, base.algorithm as ModelKind);
    if (inapplicable) {
      skipped.push(`${m.method} skipped: ${inapplicable}`);
      continue;
    }
    const result = train(table, {
      ...trainingOptions(settings, base, data.train.ref.sha256, data.without, {
        method: m.method,
        attribute: failure.attribute,
        constraint,
        ...(m.iterations !== undefined ? { iterations: m.iterations } : {}),
      }),
      ...(m.method === 'threshold' ? { linearProgramSolver: await loadLinearProgramSolver() } : {}),
    });
    const stored = await storeTrainingResult(deps.lineage, result);
    const candidate: CandidateRefs = {
      ...stored,
      algorithm: base.algorithm,
      hyperparameters: base.hyperparameters,
      validationAuc: result.metrics.auc,
    };
    // Judged once; only the one adopted is recorded.
    const assessment = await assess(candidate, state, deps);
    rows.push(rowOf(m.method, constraint, candidate, holdoutHeadline(assessment.compared), assessment.gates));
    tried.push({ label: `${m.method} (${constraint} on ${failure.attribute})`, assessment });
  }
  const pareto = markPareto(rows);
  const passing = tried.filter(({ assessment: { gates } }) =>
    [gates.performance, gates.fairness, gates.safety].every((g) => g.passed),
  );
  const aucOf = (t: (typeof tried)[number]) => holdoutHeadline(t.assessment.compared).auc;
  const chosen = passing.reduce<(typeof passing)[number] | undefined>(
    (a, b) => (a === undefined || aucOf(b) > aucOf(a) ? b : a),
    undefined,
  );
  const labels = tried.map((t) => t.label);
  if (chosen) {
    return {
      training: { ...training, candidate: chosen.assessment.candidate },
      evaluation: await record(chosen.assessment, state, deps, pareto),
      summary: {
        tried: labels,
        skipped,
        chosen: chosen.label,
        reason: `${chosen.label} passed every gate (holdout AUC ${aucOf(chosen).toFixed(4)})`,
      },
    };
  }
  const failedBy = tried
    .map(({ label, assessment: { gates } }) => {
      const failed = (['performance', 'fairness', 'safety'] as const).filter((g) => !gates[g].passed);
      return `${label}: ${failed.join(', ')}`;
    })
    .join('; ');
  const why = [failedBy, ...skipped].filter(Boolean).join('; ');
  // The candidate stays as Evaluate judged it: its stored report is written again with the table
  // and the reason, without scoring it again.
  const fairness = {
    passed: false,
    reason: `${evaluation.gates.fairness.reason}; no mitigation passed every gate (${why})`,
  };
  const doc = await deps.lineage.getJson<EvaluationDocument>(evaluation.report);
  const { report, html } = await storeReport(
    deps,
    { ...doc, gates: { ...doc.gates, fairness }, mitigations: pareto },
    evaluation.table,
  );
  return {
    training,
    evaluation: {
      ...evaluation,
      gates: { ...evaluation.gates, fairness },
      report,
      html,
      registry: {
        ...evaluation.registry,
        report: { sha256: report.sha256, uri: report.uri, sizeBytes: report.sizeBytes },
      },
      pareto,
    },
    summary: { tried: labels, skipped, chosen: null, reason: `no mitigation passed every gate (${why})` },
  };
}

// ── Register / RecordRejection ─────────────────────────────────────────────────

async function registerCandidate(state: RetrainingState, deps: RetrainingDependencies, reason: string) {
  const registered = await registerCandidateVersion(state, deps, reason);
  await ensureModelCard(deps, state.settings.model, registered.version, PIPELINE_ACTOR);
  return registered;
}

function registerCandidateVersion(state: RetrainingState, deps: RetrainingDependencies, reason: string) {
  const { settings } = state;
  const { candidate } = need(state, 'training');
  const evaluation = need(state, 'evaluation');
  const data = need(state, 'data');
  return registerStoredTraining(
    deps.registry,
    { ...candidate, refs: { ...candidate.refs, data: data.train.ref } },
    evaluation.registry,
    {
      model: settings.model,
      owner: settings.owner,
      intendedUse: settings.intendedUse,
      limitations: settings.limitations,
      ...(settings.card ? { card: settings.card as PublishOptions['card'] } : {}),
      codeVersion: settings.codeVersion,
      piiFields: settings.data.piiFields,
      ...(evaluation.production
        ? { parent: { model: settings.model, version: evaluation.production.version } }
        : {}),
      pipelineExecution: state.execution,
      actor: PIPELINE_ACTOR,
      reason,
      tags: {
        trigger: data.trigger.type,
        gates: evaluation.report.sha256,
        // Monitored against the production rows it was judged on, when there were some.
        ...(evaluation.monitoringBaseline ? { profile: evaluation.monitoringBaseline.sha256 } : {}),
        ...(evaluation.html ? { evaluationHtml: evaluation.html.sha256 } : {}),
        ...(evaluation.topFeatures ? { topFeatures: evaluation.topFeatures.join(', ') } : {}),
        ...(data.without ? { droppedFeatures: data.without.join(', ') } : {}),
      },
    },
  );
}

export async function recordRejection(
  state: RetrainingState,
  deps: RetrainingDependencies,
): Promise<{ version: number; status: string }> {
  const rejection = need(state, 'rejection');
  const { version } = await registerCandidate(state, deps, `retraining candidate (${state.execution})`);
  const current = await deps.registry.get(state.settings.model, version);
  // The same model file may have been decided before (a re-run): its earlier decision stands.
  if (current.status !== 'candidate') return { version, status: current.status };
  await deps.registry.reject(state.settings.model, version, {
    actor: rejection.actor ?? PIPELINE_ACTOR,
    reason: `${rejection.gate} gate: ${rejection.reason}`,
  });
  return { version, status: 'rejected' };
}

export async function registerApproved(
  state: RetrainingState,
  deps: RetrainingDependencies,
): Promise<{ version: number; status: 'approved' }> {
  const { settings } = state;
  const { version } = await registerCandidate(state, deps, `retraining candidate (${state.execution})`);
  const current = await deps.registry.get(settings.model, version);
  if (current.status === 'candidate') {
    const approval = state.approval;
    await deps.registry.approve(settings.model, version, {
      actor: approval?.actor ?? PIPELINE_ACTOR,
      reason: approval
        ? `approved by ${approval.actor}: ${approval.reason}`
        : `passed the performance, fairness and safety gates (${state.execution})`,
    });
  } else if (current.status !== 'approved') {
    throw new ConflictError(`${settings.model}@${version} is ${current.status}; it cannot be promoted`);
  }
  const aliases = await deps.registry.aliases(settings.model);
  if (aliases.candidate !== version) {
    await deps.registry.moveAlias(
      settings.model,
      'candidate',
      { to: version, expected: aliases.candidate ?? null },
      { actor: PIPELINE_ACTOR, reason: `retraining candidate of ${state.execution}` },
    );
  }
  return { version, status: 'approved' };
}

// ── RequestApproval ────────────────────────────────────────────────────────────

export async function requestApproval(
  payload: Pick<RetrainingState, 'execution' | 'settings' | 'training' | 'evaluation'> & {
    readonly taskToken: string;
    readonly timeoutSeconds: number;
  },
  deps: RetrainingDependencies,
): Promise<{ requested: true }> {
  const at = now(deps);
  const candidate = payload.training?.candidate;
  await deps.approvals.put({
    execution: payload.execution,
    model: payload.settings.model,
    taskToken: payload.taskToken,
    requestedAt: at.toISOString(),
    expiresAt: new Date(at.getTime() + payload.timeoutSeconds * 1000).toISOString(),
    candidate: {
      algorithm: candidate?.algorithm ?? 'unknown',
      manifestId: candidate?.manifest.id ?? 'unknown',
      validationAuc: candidate?.validationAuc ?? Number.NaN,
    },
    gates: payload.evaluation?.table ?? [],
    status: 'pending',
  });
  await deps.eventBus.publish([
    {
      source: RETRAINING_EVENT_SOURCE,
      detailType: 'Retraining Approval Requested',
      detail: {
        model: payload.settings.model,
        execution: payload.execution,
        expiresInSeconds: payload.timeoutSeconds,
      },
    },
  ]);
  return { requested: true };
}

// ── Rollout ────────────────────────────────────────────────────────────────────

function deployDeps(deps: RetrainingDependencies) {
  return {
    registry: deps.registry,
    deployer: deps.deployer,
    functionName: deps.functionName,
    lineage: deps.lineage,
  };
}

/** The deployment id of a rollout that was not needed: the version already serves all traffic. */
export const ALREADY_LIVE = 'already-live';

export async function startRollout(state: RetrainingState, deps: RetrainingDependencies) {
  const { settings } = state;
  const { version } = need(state, 'registered');
  // A re-run of an execution whose version already went out deploys nothing again.
  if ((await deps.registry.aliases(settings.model)).production === version) {
    return { deploymentId: ALREADY_LIVE, functionVersion: '', status: 'Succeeded' };
  }
  const started = await startDeployment(deployDeps(deps), {
    model: settings.model,
    version,
    shift: settings.deploy.shift as TrafficShift,
    actor: PIPELINE_ACTOR,
    reason: `retraining ${state.execution}`,
  });
  return { ...started, status: 'InProgress' };
}

export async function checkRollout(state: RetrainingState, deps: RetrainingDependencies) {
  const { version } = need(state, 'registered');
  const rollout = need(state, 'rollout');
  if (rollout.deploymentId === ALREADY_LIVE) return rollout;
  const settled = await settleDeployment(deployDeps(deps), {
    model: state.settings.model,
    version,
    deploymentId: rollout.deploymentId,
    actor: PIPELINE_ACTOR,
  });
  return {
    deploymentId: rollout.deploymentId,
    functionVersion: rollout.functionVersion,
    status: settled.status,
    ...(settled.reason ? { reason: settled.reason } : {}),
  };
}

// ── Notify / RecordFailure ─────────────────────────────────────────────────────

export type RetrainingOutcome = 'promoted' | 'rolled-back' | 'rejected' | 'failed';

export function outcomeOf(state: RetrainingState): RetrainingOutcome {
  if (state.failure) return 'failed';
  if (state.rejection) return 'rejected';
  if (state.rollout?.status === 'Succeeded') return 'promoted';
  return 'rolled-back';
}

/** Why a run ended as it did, in one line for the status panel, the CLI and the audit log. */
export function outcomeReason(state: RetrainingState, outcome: RetrainingOutcome): string {
  switch (outcome) {
    case 'failed':
      return failureMessage(state.failure ?? {});
    case 'rejected':
      return state.rejection ? `${state.rejection.gate} gate: ${state.rejection.reason}` : 'rejected';
    case 'rolled-back':
      return `the canary was rolled back${state.rollout?.reason ? `: ${state.rollout.reason}` : ''}`;
    case 'promoted':
      return `v${state.registered?.version ?? '?'} promoted to production`;
  }
}

export async function notify(
  state: RetrainingState,
  deps: RetrainingDependencies,
): Promise<{ outcome: RetrainingOutcome; reason: string }> {
  const outcome = outcomeOf(state);
  const reason = outcomeReason(state, outcome);
  const trigger = state.data?.trigger ?? state.request.trigger ?? { type: 'manual' };
  if (outcome !== 'promoted') await recordEndOnProduction(state, deps, outcome, reason);
  const detail: RetrainingFinished = {
    model: state.settings.model,
    execution: state.execution,
    outcome,
    reason,
    trigger,
    ...(state.registered ? { version: state.registered.version } : {}),
    ...(state.rejection ? { gate: state.rejection.gate, reason: state.rejection.reason } : {}),
    ...(state.rollout ? { deploymentId: state.rollout.deploymentId, rollout: state.rollout.status } : {}),
    ...(state.failure ? { error: state.failure.Error ?? 'Error', cause: state.failure.Cause ?? '' } : {}),
    ...(state.evaluation ? { report: state.evaluation.report.uri } : {}),
  };
  await deps.eventBus.publish([{ source: RETRAINING_EVENT_SOURCE, detailType: RETRAINING_FINISHED, detail }]);
  await deps.metrics.publish('Keel/Retraining', [
    { name: `Retraining_${outcome}`, value: 1, unit: 'Count', dimensions: { model: state.settings.model } },
  ]);
  return { outcome, reason };
}

/**
 * A run that ended without promotion is recorded on the production version's audit trail (what
 * it was retrained from): the audit log says why, and the drift check knows the retraining it
 * asked for is over, so it may ask again once enough new labelled data has come in.
 */
async function recordEndOnProduction(
  state: RetrainingState,
  deps: RetrainingDependencies,
  outcome: Exclude<RetrainingOutcome, 'promoted'>,
  reason: string,
): Promise<void> {
  let production: number | undefined;
  try {
    production = (await deps.registry.aliases(state.settings.model)).production;
  } catch (error) {
    if (error instanceof ModelNotFoundError) return; // a first run: nothing in production to annotate
    throw error;
  }
  if (production === undefined) return;
  const trigger = state.data?.trigger ?? state.request.trigger ?? { type: 'manual' };
  await deps.registry.recordEvaluation(
    state.settings.model,
    production,
    {
      metrics: {
        [RETRAINING_ENDED_METRIC]: 1,
        'retraining.rejected': outcome === 'rejected' ? 1 : 0,
        'retraining.drift': trigger.type === 'drift' ? 1 : 0,
        'retraining.productionRows': state.data?.productionRows ?? 0,
      },
    },
    {
      actor: PIPELINE_ACTOR,
      reason: `retraining ${state.execution} (${trigger.type}) ${outcome}: ${reason}`,
    },
  );
}

export async function recordFailure(
  state: RetrainingState,
  deps: RetrainingDependencies,
): Promise<{ record: ArtifactRef }> {
  const failure = state.failure ?? {};
  const record = await deps.lineage.putJson('records', {
    type: 'retraining-failure',
    model: state.settings.model,
    execution: state.execution,
    at: now(deps).toISOString(),
    error: failure.Error ?? 'Error',
    cause: failure.Cause ?? '',
    reached: Object.keys(state).filter((k) => !['settings', 'request', 'failure'].includes(k)),
  });
  await deps.metrics.publish('Keel/Retraining', [
    { name: 'RetrainingFailures', value: 1, unit: 'Count', dimensions: { model: state.settings.model } },
  ]);
  return { record };
}
