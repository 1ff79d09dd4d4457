/**
 * Publishes a training run: its artifacts into content-addressed lineage (model, pipeline,
 * evaluation, audit, and the training data when given) and a new registry version whose
 * metadata points at them. The retraining pipeline and `keel train --register` both use it.
 */
import type { EvaluationReport } from '../core/evaluation/report.ts';
import type { TrainingResult } from '../core/training/train.ts';
import type { ArtifactRef, LineageStore } from '../lineage/store.ts';
import type { ModelRegistry } from './registry.ts';
import type { VersionMetadataInput } from './schema.ts';

export interface PublishOptions {
  readonly model: string;
  readonly owner: string;
  readonly intendedUse: string;
  readonly limitations?: readonly string[];
  /** Git commit of the code that trained it. */
  readonly codeVersion: string;
  /** Input columns holding personal data: hashed or dropped in captures. @default none */
  readonly piiFields?: readonly string[];
  /** The training data file, stored in lineage under its hash. @default only its hash is recorded */
  readonly trainingDataFile?: string;
  readonly parent?: { readonly model: string; readonly version: number };
  readonly pipelineExecution?: string;
  readonly actor: string;
  readonly reason?: string;
}

/** Headline numbers of a report, flattened as the registry stores them. */
export function registryEvaluation(metrics: EvaluationReport, report?: ArtifactRef) {
  const numbers: Record<string, number> = {};
  for (const key of ['auc', 'logLoss', 'brier', 'ece', 'accuracy', 'precision', 'recall', 'f1'] as const) {
    const value = metrics[key];
    if (Number.isFinite(value)) numbers[key] = value;
  }
  if (metrics.intervals) {
    numbers.aucLower = metrics.intervals.auc.lower;
    numbers.aucUpper = metrics.intervals.auc.upper;
  }
  const fairness = Object.fromEntries(
    Object.entries(metrics.fairness).map(([attribute, f]) => [
      attribute,
      {
        demographicParityDifference: f.demographicParityDifference,
        demographicParityRatio: f.demographicParityRatio,
        equalizedOddsDifference: f.equalizedOddsDifference,
        equalOpportunityDifference: f.equalOpportunityDifference,
      },
    ]),
  );
  return {
    metrics: numbers,
    fairness,
    safety: { finiteScores: Number.isFinite(metrics.logLoss) },
    ...(report ? { report: { sha256: report.sha256, uri: report.uri, sizeBytes: report.sizeBytes } } : {}),
  };
}

export async function publishTrainingResult(
  registry: ModelRegistry,
  lineage: LineageStore,
  result: TrainingResult,
  options: PublishOptions,
): Promise<{ version: number; refs: Record<string, ArtifactRef> }> {
  const ref = (r: ArtifactRef) => ({ sha256: r.sha256, uri: r.uri, sizeBytes: r.sizeBytes });
  const model = await lineage.putBytes('models', result.onnx);
  const pipeline = await lineage.putJson('pipelines', result.pipeline);
  const evaluation = await lineage.putJson('evaluations', result.metrics);
  const audit = await lineage.putJson('audits', result.audit);
  const goldenSet = await lineage.putJson('evaluations', result.goldenSet);
  const data = options.trainingDataFile
    ? await lineage.putFile('datasets', options.trainingDataFile)
    : undefined;
  const pii = new Set(options.piiFields ?? []);
  const metadata: VersionMetadataInput = {
    framework: `onnx/keel-${result.manifest.algorithm}`,
    artifact: ref(model),
    inputSchema: result.pipeline.inputs.map((i) => ({
      name: i.name,
      type: i.type === 'numeric' ? 'number' : 'string',
      nullable: true,
      pii: pii.has(i.name),
    })),
    outputSchema: [
      { name: 'label', type: 'number', min: 0, max: 1 },
      { name: 'probabilities', type: 'number', min: 0, max: 1 },
    ],
    featurePipeline: { version: result.manifest.hashes.pipeline, uri: pipeline.uri },
    trainingData: [
      {
        name: 'training',
        sha256: result.manifest.hashes.trainingData,
        uri: data?.uri ?? `sha256:${result.manifest.hashes.trainingData}`,
        rows: result.manifest.rows.train + result.manifest.rows.validation + result.manifest.rows.holdout,
      },
    ],
    hyperparameters: { algorithm: result.manifest.algorithm, ...result.manifest.hyperparameters },
    seed: result.manifest.seed,
    codeVersion: options.codeVersion,
    evaluation: registryEvaluation(result.metrics, evaluation),
    owner: options.owner,
    intendedUse: options.intendedUse,
    limitations: [...(options.limitations ?? [])],
    ...(options.parent ? { parent: options.parent } : {}),
    ...(options.pipelineExecution ? { pipelineExecution: options.pipelineExecution } : {}),
    tags: {
      manifestId: result.manifest.id,
      auditPassed: String(result.audit.passed),
      audit: audit.sha256,
      goldenSet: goldenSet.sha256,
    },
  };
  const { version } = await registry.registerVersion(options.model, metadata, {
    actor: options.actor,
    reason: options.reason ?? `trained ${result.manifest.id}`,
    idempotencyKey: `${options.model}:${result.manifest.hashes.model}`,
  });
  return { version, refs: { model, pipeline, evaluation, audit, goldenSet, ...(data ? { data } : {}) } };
}
