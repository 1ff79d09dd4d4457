/**
 * The models whose ONNX exports are checked in Python (onnx.checker full_check and onnxruntime):
 * deterministic training on the synthetic credit population with every transform in the
 * pipeline. `test/fixtures/reference/export_onnx_models.ts` writes them for
 * `generate_onnx.py`; the tests rebuild them and compare hashes and outputs.
 */
import { transformSchema } from '../../functions/contracts/config/schema.ts';
import type { NumericColumn, Table } from '../../functions/core/data/table.ts';
import { type FittedPipeline, fitPipeline, transform } from '../../functions/core/features/pipeline.ts';
import { fitGbdt } from '../../functions/core/models/gbdt.ts';
import { fitLogistic } from '../../functions/core/models/logistic.ts';
import type { TrainedModel } from '../../functions/core/models/model.ts';
import { exportOnnx } from '../../functions/core/onnx/export.ts';
import { generateCredit } from '../../functions/core/synthetic/credit.ts';
import type { LineageStore } from '../../functions/lineage/store.ts';
import type { ModelRegistry } from '../../functions/registry/registry.ts';
import { sampleMetadata } from './registry-fixtures.ts';

export const REFERENCE_SPEC = [
  {
    type: 'impute',
    column: 'income',
    strategy: 'median',
    owner: 'risk',
    assumption: 'income missing at random',
  },
  { type: 'log', column: 'income' },
  { type: 'ratio', name: 'debt_to_loan', numerator: 'debt', denominator: 'loan_amount' },
  { type: 'clip', column: 'late_payments', max: 6 },
  { type: 'standardise', column: 'age' },
  { type: 'bucketise', column: 'credit_history_years', bins: 5 },
  { type: 'impute', column: 'employment', strategy: 'constant', value: 'salaried' },
  { type: 'one-hot', column: 'employment', maxCategories: 3 },
  { type: 'one-hot', column: 'region', maxCategories: 4 },
].map((s) => transformSchema.parse(s));

/** The raw inputs of the reference pipeline (fitted on the reference training data). */
export const REFERENCE_INPUTS = fitPipeline(REFERENCE_SPEC, generateCredit({ rows: 200, seed: 11 })).inputs;

/** Numeric columns rounded to float32, as they reach the graph. */
export function asFloat32(table: Table): Table {
  return {
    rowCount: table.rowCount,
    columns: new Map(
      [...table.columns].map(([name, c]) => [
        name,
        c.kind === 'numeric'
          ? ({ kind: 'numeric', values: c.values.map(Math.fround) } satisfies NumericColumn)
          : c,
      ]),
    ),
  };
}

export interface ReferenceModel {
  readonly name: 'lr' | 'gbdt';
  readonly model: TrainedModel;
  readonly bytes: Uint8Array;
}

export function referenceModels(): {
  pipeline: FittedPipeline;
  scoring: Table;
  models: ReferenceModel[];
} {
  const train = asFloat32(generateCredit({ rows: 3000, seed: 11, missingIncome: 0.1 }));
  const scoring = asFloat32(generateCredit({ rows: 400, seed: 12, missingIncome: 0.2, covariateDrift: 0.3 }));
  const pipeline = fitPipeline(REFERENCE_SPEC, train);
  const { matrix } = transform(pipeline, train);
  const y = (train.columns.get('default') as NumericColumn).values;
  const trained: [ReferenceModel['name'], TrainedModel][] = [
    ['lr', fitLogistic(matrix, y, { C: 1 })],
    ['gbdt', fitGbdt(matrix, y, { trees: 60, maxDepth: 5, seed: 3 })],
  ];
  return {
    pipeline,
    scoring,
    models: trained.map(([name, model]) => ({
      name,
      model,
      bytes: exportOnnx(pipeline, model, {
        producerVersion: 'reference',
        metadata: { 'keel.pipeline_hash': 'reference', 'keel.training_data_hash': 'reference' },
      }),
    })),
  };
}

/**
 * Registers model bytes (a reference model, or anything) as a version of `model`: the artifact
 * into lineage, metadata whose input schema is the reference pipeline's. Returns the version.
 */
export async function registerModelBytes(
  registry: ModelRegistry,
  lineage: LineageStore,
  bytes: Uint8Array,
  options: {
    readonly model?: string;
    readonly seed?: number;
    readonly approve?: boolean;
    /** Registry tags, e.g. `profile`: the sha256 of the version's evaluation profile. */
    readonly tags?: Readonly<Record<string, string>>;
  } = {},
): Promise<number> {
  const artifact = await lineage.putBytes('models', bytes);
  const { version } = await registry.registerVersion(
    options.model ?? 'credit',
    sampleMetadata(options.seed ?? 1, {
      artifact: { sha256: artifact.sha256, uri: artifact.uri, sizeBytes: artifact.sizeBytes },
      inputSchema: REFERENCE_INPUTS.map((i) => ({
        name: i.name,
        type: i.type === 'numeric' ? 'number' : 'string',
        nullable: true,
        pii: false,
      })),
      ...(options.tags ? { tags: { ...options.tags } } : {}),
    }),
    { actor: 'test' },
  );
  if (options.approve ?? true)
    await registry.approve(options.model ?? 'credit', version, { actor: 'test', reason: 'reference model' });
  return version;
}
