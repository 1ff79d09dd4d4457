/**
 * Publishes a training run: its artifacts into content-addressed lineage (model, pipeline,
 * evaluation, audit, and the training data when given) and a new registry version whose
 * metadata points at them. The retraining pipeline and `keel train --register` both use it.
 */

import type { VersionMetadataInput } from '../contracts/registry.ts';
import type { EvaluationReport } from '../core/evaluation/report.ts';
import type { TrainingResult } from '../core/training/train.ts';
import type { ArtifactRef, LineageStore } from '../lineage/store.ts';
import { ensureModelCard } from './card-record.ts';
import type { ModelRegistry } from './registry.ts';

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
  /** The config's risk and business statements, kept with the version for its model card. @default none */
  readonly card?: VersionMetadataInput['card'];
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

/** A training run's artifacts as stored in lineage, and what registering it needs. */
export interface StoredTraining {
  readonly manifest: TrainingResult['manifest'];
  readonly inputs: TrainingResult['pipeline']['inputs'];
  readonly auditPassed: boolean;
  readonly refs: {
    readonly model: ArtifactRef;
    readonly pipeline: ArtifactRef;
    readonly evaluation: ArtifactRef;
    readonly audit: ArtifactRef;
    readonly goldenSet: ArtifactRef;
    readonly manifest: ArtifactRef;
    /** The drift baseline (inputs and scores on the holdout); absent for models trained elsewhere. */
    readonly profile?: ArtifactRef;
    /** What explains its predictions; absent for models trained elsewhere that bring none. */
    readonly explainer?: ArtifactRef;
    readonly data?: ArtifactRef;
  };
}

/** Stores a run's model, pipeline, evaluation, audit, golden set and manifest (and data file). */
export async function storeTrainingResult(
  lineage: LineageStore,
  result: TrainingResult,
  options: { readonly trainingDataFile?: string } = {},
): Promise<StoredTraining> {
  const model = await lineage.putBytes('models', result.onnx);
  const pipeline = await lineage.putJson('pipelines', result.pipeline);
  const evaluation = await lineage.putJson('evaluations', result.metrics);
  const audit = await lineage.putJson('audits', result.audit);
  const goldenSet = await lineage.putJson('evaluations', result.goldenSet);
  const manifest = await lineage.putJson('records', result.manifest);
  const profile = await lineage.putJson('profiles', result.baseline);
  const explainer = await lineage.putJson('explainers', result.explainer);
  const data = options.trainingDataFile
    ? await lineage.putFile('datasets', options.trainingDataFile)
    : undefined;
  return {
    manifest: result.manifest,
    // The model's raw inputs: the pipeline's, and the attribute a post-processed model reads.
    inputs: result.manifest.schema.inputs,
    auditPassed: result.audit.passed,
    refs: {
      model,
      pipeline,
      evaluation,
      audit,
      goldenSet,
      manifest,
      profile,
      explainer,
      ...(data ? { data } : {}),
    },
  };
}

/**
 * Registers a stored run as a new `candidate` version. Idempotent per model file: registering
 * the same model again returns the version it created first.
 */
export async function registerStoredTraining(
  registry: ModelRegistry,
  stored: StoredTraining,
  evaluation: ReturnType<typeof registryEvaluation>,
  options: PublishOptions & { readonly tags?: Readonly<Record<string, string>> },
): Promise<{ version: number }> {
  const ref = (r: ArtifactRef) => ({ sha256: r.sha256, uri: r.uri, sizeBytes: r.sizeBytes });
  const { manifest, refs } = stored;
  const pii = new Set(options.piiFields ?? []);
  const metadata: VersionMetadataInput = {
    framework: `onnx/keel-${manifest.algorithm}`,
    artifact: ref(refs.model),
    inputSchema: stored.inputs.map((i) => {
      const range = manifest.schema.ranges?.[i.name];
      return {
        name: i.name,
        type: i.type === 'numeric' ? 'number' : 'string',
        nullable: true,
        pii: pii.has(i.name),
        ...(range ? { min: range.min, max: range.max } : {}),
        ...(manifest.mitigation?.attributeIsInput && manifest.mitigation.attribute === i.name
          ? { protected: true }
          : {}),
      };
    }),
    outputSchema: [
      { name: 'label', type: 'number', min: 0, max: 1 },
      { name: 'probabilities', type: 'number', min: 0, max: 1 },
    ],
    featurePipeline: { version: manifest.hashes.pipeline, uri: refs.pipeline.uri },
    ...(refs.explainer ? { explainer: ref(refs.explainer) } : {}),
    trainingData: [
      {
        name: 'training',
        sha256: manifest.hashes.trainingData,
        uri: refs.data?.uri ?? `sha256:${manifest.hashes.trainingData}`,
        rows: manifest.rows.train + manifest.rows.validation + manifest.rows.holdout,
      },
    ],
    hyperparameters: { algorithm: manifest.algorithm, ...manifest.hyperparameters },
    seed: manifest.seed,
    ...(manifest.mitigation
      ? {
          mitigation: {
            method: manifest.mitigation.method,
            attribute: manifest.mitigation.attribute,
            constraint: manifest.mitigation.constraint,
            bound: manifest.mitigation.bound,
            value: manifest.mitigation.holdout.value,
            met: manifest.mitigation.holdout.met,
            attributeIsInput: manifest.mitigation.attributeIsInput,
          },
        }
      : {}),
    ...(manifest.privacy
      ? {
          privacy: {
            epsilon: manifest.privacy.epsilon,
            delta: manifest.privacy.delta,
            noiseMultiplier: manifest.privacy.noiseMultiplier,
            sampleRate: manifest.privacy.sampleRate,
            steps: manifest.privacy.steps,
            clip: manifest.privacy.clip,
            accountant: manifest.privacy.accountant,
            noise: manifest.privacy.noise,
            rows: manifest.privacy.rows,
            ...(manifest.privacy.ledger ? { ledger: manifest.privacy.ledger } : {}),
          },
        }
      : {}),
    ...(manifest.federated ? { federated: manifest.federated } : {}),
    codeVersion: options.codeVersion,
    evaluation,
    owner: options.owner,
    intendedUse: options.intendedUse,
    limitations: [...(options.limitations ?? [])],
    ...(options.card && Object.keys(options.card).length > 0 ? { card: options.card } : {}),
    ...(options.parent ? { parent: options.parent } : {}),
    ...(options.pipelineExecution ? { pipelineExecution: options.pipelineExecution } : {}),
    tags: {
      manifestId: manifest.id,
      auditPassed: String(stored.auditPassed),
      audit: refs.audit.sha256,
      goldenSet: refs.goldenSet.sha256,
      manifest: refs.manifest.sha256,
      ...(refs.profile ? { profile: refs.profile.sha256 } : {}),
      ...options.tags,
    },
  };
  return registry.registerVersion(options.model, metadata, {
    actor: options.actor,
    reason: options.reason ?? `trained ${manifest.id}`,
    idempotencyKey: `${options.model}:${manifest.hashes.model}`,
  });
}

export async function publishTrainingResult(
  registry: ModelRegistry,
  lineage: LineageStore,
  result: TrainingResult,
  options: PublishOptions,
): Promise<{ version: number; refs: Record<string, ArtifactRef> }> {
  const stored = await storeTrainingResult(
    lineage,
    result,
    options.trainingDataFile ? { trainingDataFile: options.trainingDataFile } : {},
  );
  const { version } = await registerStoredTraining(
    registry,
    stored,
    registryEvaluation(result.metrics, stored.refs.evaluation),
    options,
  );
  await ensureModelCard({ registry, lineage }, options.model, version, options.actor);
  return { version, refs: { ...stored.refs } };
}
