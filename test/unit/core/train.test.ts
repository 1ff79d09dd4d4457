import { describe, expect, it } from 'vitest';
import { transformSchema } from '../../../functions/contracts/config/schema.ts';
import {
  CategoricalBuilder,
  type Column,
  NumericBuilder,
  type Table,
} from '../../../functions/core/data/table.ts';
import { transform } from '../../../functions/core/features/pipeline.ts';
import { predictProba } from '../../../functions/core/models/model.ts';
import { OnnxModel } from '../../../functions/core/onnx/runtime.ts';
import { generateCredit } from '../../../functions/core/synthetic/credit.ts';
import { SCORE_COLUMN, type TrainOptions, takeRows, train } from '../../../functions/core/training/train.ts';
import { ValidationError } from '../../../functions/kernel/errors.ts';
import { asFloat32 } from '../../support/onnx-reference.ts';

const data = asFloat32(generateCredit({ rows: 3000, seed: 21, missingIncome: 0.1 }));
const base: TrainOptions = {
  label: 'default',
  protected: ['sex', 'age_band'],
  dataHash: 'a'.repeat(64),
  codeVersion: 'test',
  bootstrapSamples: 100,
};

describe('train', () => {
  it.each(['lr', 'gbdt'] as const)(
    '%s: trains, evaluates the holdout and exports a model that scores like TypeScript',
    async (algorithm) => {
      // Act
      const result = train(data, {
        ...base,
        algorithm,
        hyperparameters: algorithm === 'gbdt' ? { trees: 40 } : {},
      });

      // Assess
      const { manifest, metrics } = result;
      expect(manifest).toMatchObject({
        format: 'keel.model/v1',
        algorithm,
        label: 'default',
        seed: 42,
        holdout: 0.2,
      });
      expect(manifest.id).toBe(`${algorithm}-${manifest.hashes.model.slice(0, 12)}`);
      expect(manifest.rows.holdout).toBe(600);
      expect(manifest.rows.train + manifest.rows.validation).toBe(2400);
      expect(manifest.schema.inputs.map((i) => i.name)).not.toContain('sex');
      expect(manifest.schema.inputs.map((i) => i.name)).not.toContain('applicant_id');
      expect(metrics.rows).toBe(600);
      expect(metrics.auc).toBeGreaterThan(0.7);
      expect(metrics.intervals?.auc.lower).toBeLessThan(metrics.auc);
      expect(Object.keys(metrics.fairness)).toEqual(['sex', 'age_band']);
      const model = await OnnxModel.load(result.onnx);
      const scored = await model.scoreTable(data);
      const expected = predictProba(result.model, transform(result.pipeline, data).matrix);
      expected.forEach((p, i) => {
        expect(Math.abs(p - (scored.probabilities[i] as number))).toBeLessThan(1e-5);
      });
      expect(model.metadata['keel.pipeline_hash']).toBe(manifest.hashes.pipeline);
      expect(model.metadata['keel.training_data_hash']).toBe('a'.repeat(64));
      // The drift baseline: every model input and the scores, over the holdout rows.
      expect(Object.keys(result.baseline.columns)).toEqual([
        ...manifest.schema.inputs.map((i) => i.name),
        SCORE_COLUMN,
      ]);
      expect(result.baseline.rows).toBe(600);
      const score = result.baseline.columns[SCORE_COLUMN];
      expect(score?.kind === 'numeric' && score.n).toBe(600);
      // A calibrated model's mean score is near the prevalence.
      expect(score?.kind === 'numeric' && score.sum / score.n).toBeCloseTo(metrics.prevalence, 1);
    },
  );

  it('is deterministic for a seed, and the seed matters', () => {
    // Act
    const a = train(data, { ...base, hyperparameters: { trees: 15, subsample: 0.8 } });
    const b = train(data, { ...base, hyperparameters: { trees: 15, subsample: 0.8 } });
    const c = train(data, { ...base, seed: 7, hyperparameters: { trees: 15, subsample: 0.8 } });

    // Assess
    expect(Buffer.from(a.onnx).equals(Buffer.from(b.onnx))).toBe(true);
    expect(a.manifest.id).toBe(b.manifest.id);
    expect(c.manifest.id).not.toBe(a.manifest.id);
  });

  it('stops early on the validation split and applies monotone constraints by feature name', () => {
    // Act
    const result = train(data, {
      ...base,
      hyperparameters: { trees: 400, learningRate: 0.3, earlyStoppingRounds: 5, 'monotone.late_payments': 1 },
    });

    // Assess
    expect(result.manifest.trees).toBeLessThan(400);
    expect(result.manifest.rows.validation).toBeGreaterThan(0);
  });

  it('trains a tiny fallback model: logistic regression on a few features', async () => {
    // Prepare
    const features = [
      { type: 'impute', column: 'income', strategy: 'median' },
      { type: 'log', column: 'income', offset: 1 },
      { type: 'standardise', column: 'income' },
      { type: 'clip', column: 'late_payments', max: 6 },
    ].map((t) => transformSchema.parse(t));

    // Act
    const result = train(data, { ...base, algorithm: 'lr', features });

    // Assess: two raw inputs, a model a few hundred bytes, still better than chance.
    expect(result.manifest.schema.inputs.map((i) => i.name)).toEqual(['income', 'late_payments']);
    expect(result.onnx.byteLength).toBeLessThan(3000);
    expect(result.metrics.auc).toBeGreaterThan(0.6);
    const model = await OnnxModel.load(result.onnx);
    const scored = await model.score(
      new Map<string, unknown[]>([
        ['income', [30000, null]],
        ['late_payments', [0, 9]],
      ]),
      2,
    );
    expect(scored.probabilities[1]).toBeGreaterThan(scored.probabilities[0] as number);
  });

  it('reports progress of every phase', () => {
    // Prepare
    const phases = new Set<string>();

    // Act
    train(data, { ...base, hyperparameters: { trees: 5 }, onProgress: (p) => phases.add(p.phase) });

    // Assess
    expect([...phases]).toEqual(['audit', 'features', 'training', 'evaluation', 'export']);
  });

  it('audits the data and the holdout against the training part', () => {
    // Act
    const { audit } = train(data, { ...base, hyperparameters: { trees: 5 } });

    // Assess
    expect(audit.rows).toBe(3000);
    expect(Object.keys(audit.shift ?? {})).toContain('income');
    expect(audit.findings.filter((f) => f.check === 'shift')).toEqual([]);
  });
});

function withColumn(table: Table, name: string, column: Column): Table {
  return { rowCount: table.rowCount, columns: new Map([...table.columns, [name, column]]) };
}

const small = takeRows(
  data,
  Array.from({ length: 200 }, (_, i) => i),
);
const numbers = (values: number[]) => {
  const b = new NumericBuilder();
  for (const v of values) b.push(v);
  return b.build();
};
const words = (values: (string | null)[]) => {
  const b = new CategoricalBuilder();
  for (const v of values) b.push(v);
  return b.build();
};

describe('train refuses bad input', () => {
  it.each<[string, Table, Partial<TrainOptions>, string]>([
    ['no rows', takeRows(data, []), {}, 'data'],
    ['a missing label column', small, { label: 'outcome' }, 'outcome'],
    [
      'a label that is not binary',
      withColumn(small, 'default', numbers(Array.from({ length: 200 }, (_, i) => i % 3))),
      {},
      'default',
    ],
    [
      'a text label',
      withColumn(small, 'default', words(Array.from({ length: 200 }, (_, i) => (i % 2 ? 'yes' : 'no')))),
      {},
      'default',
    ],
    ['a label with one class', withColumn(small, 'default', numbers(Array(200).fill(0))), {}, 'default'],
    ['a missing protected column', small, { protected: ['race'] }, 'race'],
    ['an all-missing column', withColumn(small, 'notes', words(Array(200).fill(null))), {}, 'notes'],
    ['a seed that is not an integer', small, { seed: 1.5 }, 'seed'],
    ['an unknown hyperparameter', small, { hyperparameters: { depth: 3 } }, 'hyperparameters.depth'],
  ])('%s', (_, table, options, path) => {
    // Act
    const act = () => train(table, { ...base, ...options });

    // Assess
    expect(act).toThrow(ValidationError);
    try {
      act();
    } catch (error) {
      expect((error as ValidationError).issues.map((i) => i.path)).toContain(path);
    }
  });
});
