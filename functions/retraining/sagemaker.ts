/**
 * The SageMaker training path's contract. A training job runs a user-supplied image that reads
 * the `train` channel (CSV) and the `spec` channel (the pipeline's settings and schema), trains
 * with Keel's core (or anything producing the same files), and writes to `/opt/ml/model`:
 * `model.onnx`, `manifest.json`, `pipeline.json`, `metrics.json`, `audit.json` and
 * `golden-set.json` (and, for drift monitoring, `profile.json`). SageMaker packs that directory as `model.tar.gz`; `CollectSageMakerModel`
 * unpacks it into lineage, in the shape `TrainCandidates` returns, so evaluation and gates are
 * the same whichever trained.
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import type { AuditReport } from '../core/audit/audit.ts';
import type { EvaluationReport } from '../core/evaluation/report.ts';
import type { FittedPipeline } from '../core/features/pipeline.ts';
import type { GoldenSet, Manifest } from '../core/training/train.ts';
import { ValidationError } from '../kernel/errors.ts';
import type { RetrainingDependencies, RetrainingState, TrainingOutput } from './steps.ts';

export const SAGEMAKER_MODEL_FILES = [
  'model.onnx',
  'manifest.json',
  'pipeline.json',
  'metrics.json',
  'audit.json',
  'golden-set.json',
] as const;

/** The files of a tar.gz archive, by base name (SageMaker may prefix them with `./`). */
export async function untarGz(bytes: Uint8Array): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const unpack = extract();
  const done = (async () => {
    for await (const entry of unpack) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      if (entry.header.type === 'file')
        files.set(
          entry.header.name
            .replace(/^(\.\/)+/, '')
            .split('/')
            .at(-1) as string,
          Buffer.concat(chunks),
        );
    }
  })();
  Readable.from([Buffer.from(bytes)])
    .pipe(createGunzip())
    .pipe(unpack);
  await done;
  return files;
}

export async function collectSageMakerModel(
  state: RetrainingState,
  deps: RetrainingDependencies,
): Promise<TrainingOutput> {
  const job = (state as RetrainingState & { sagemakerJob?: { jobName: string; modelArtifacts: string } })
    .sagemakerJob;
  const uri = job?.modelArtifacts;
  if (!uri)
    throw new ValidationError('No SageMaker model artifacts to collect', [
      { path: 'sagemakerJob.modelArtifacts', message: 'the training job reported none' },
    ]);
  const files = await untarGz(await deps.readObject(uri));
  const missing = SAGEMAKER_MODEL_FILES.filter((f) => !files.has(f));
  if (missing.length > 0) {
    throw new ValidationError(
      `${uri} lacks files the training image must write`,
      missing.map((f) => ({ path: f, message: 'missing from model.tar.gz' })),
    );
  }
  const json = <T>(name: string) => JSON.parse((files.get(name) as Buffer).toString('utf8')) as T;
  const manifest = json<Manifest>('manifest.json');
  const pipeline = json<FittedPipeline>('pipeline.json');
  const metrics = json<EvaluationReport>('metrics.json');
  const audit = json<AuditReport>('audit.json');
  // The drift baseline is optional from an image: without it, monitoring has nothing to compare.
  const profile = files.has('profile.json')
    ? await deps.lineage.putBytes('profiles', files.get('profile.json') as Buffer)
    : undefined;
  const [model, pipelineRef, evaluation, auditRef, goldenSet, manifestRef] = await Promise.all([
    deps.lineage.putBytes('models', files.get('model.onnx') as Buffer),
    deps.lineage.putJson('pipelines', pipeline),
    deps.lineage.putJson('evaluations', metrics),
    deps.lineage.putJson('audits', audit),
    deps.lineage.putJson('evaluations', json<GoldenSet>('golden-set.json')),
    deps.lineage.putJson('records', manifest),
  ]);
  if (model.sha256 !== manifest.hashes.model) {
    throw new ValidationError('The model does not match its manifest', [
      { path: 'model.onnx', message: `SHA-256 ${model.sha256}, manifest says ${manifest.hashes.model}` },
    ]);
  }
  const candidate = {
    manifest,
    inputs: manifest.schema.inputs,
    auditPassed: audit.passed,
    refs: {
      model,
      pipeline: pipelineRef,
      evaluation,
      audit: auditRef,
      goldenSet,
      manifest: manifestRef,
      ...(profile ? { profile } : {}),
    },
    algorithm: manifest.algorithm,
    hyperparameters: manifest.hyperparameters,
    validationAuc: metrics.auc,
  };
  return {
    candidate,
    configurations: [
      {
        algorithm: manifest.algorithm,
        hyperparameters: manifest.hyperparameters,
        validationAuc: metrics.auc,
        manifestId: manifest.id,
      },
    ],
  };
}
