import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import protobuf from 'protobufjs/minimal.js';
import { describe, expect, it } from 'vitest';
import { type Transform, transformSchema } from '../../../functions/contracts/config/schema.ts';
import {
  CategoricalBuilder,
  type CategoricalColumn,
  type Column,
  NumericBuilder,
  type Table,
} from '../../../functions/core/data/table.ts';
import { fitPipeline, transform } from '../../../functions/core/features/pipeline.ts';
import { predictProba } from '../../../functions/core/models/model.ts';
import { exportPipelineOnnx, OPSETS } from '../../../functions/core/onnx/export.ts';
import { onnx } from '../../../functions/core/onnx/graph.ts';
import { modelMetadata, OnnxModel } from '../../../functions/core/onnx/runtime.ts';
import { generateCredit } from '../../../functions/core/synthetic/credit.ts';
import { ValidationError } from '../../../functions/kernel/errors.ts';
import { referenceModels } from '../../support/onnx-reference.ts';

// Written by test/fixtures/reference/generate_onnx.py (onnx.checker full_check + onnxruntime for Python).
const python = JSON.parse(readFileSync('test/fixtures/reference/onnx.json', 'utf8')) as {
  models: Record<
    string,
    { sha256: string; fullCheck: string; metadataKeys: string[]; label: number[]; probabilities: number[] }
  >;
};

const reference = referenceModels();
const SESSION = { intraOpNumThreads: 1, interOpNumThreads: 1 };

describe('exported model', () => {
  it.each(reference.models)(
    '$name: ONNX probabilities equal the TypeScript model within 1e-5',
    async ({ model, bytes }) => {
      // Prepare
      const onnxModel = await OnnxModel.load(bytes);
      const expected = predictProba(model, transform(reference.pipeline, reference.scoring).matrix);

      // Act
      const { probabilities, labels } = await onnxModel.scoreTable(reference.scoring);

      // Assess
      expect(probabilities).toHaveLength(reference.scoring.rowCount);
      let largest = 0;
      expected.forEach((p, i) => {
        largest = Math.max(largest, Math.abs(p - (probabilities[i] as number)));
        if (Math.abs(p - 0.5) > 1e-6) expect(labels[i]).toBe(p > 0.5 ? 1 : 0);
      });
      expect(largest).toBeLessThan(1e-5);
    },
  );

  it.each(reference.models)(
    '$name: is the file Python checked, and its outputs equal onnxruntime for Python',
    async ({ name, bytes }) => {
      // Prepare
      const checked = python.models[name];
      const onnxModel = await OnnxModel.load(bytes);

      // Act
      const { probabilities, labels } = await onnxModel.scoreTable(reference.scoring);

      // Assess: a changed exporter must regenerate the fixture (and so pass the checker again).
      expect(checked?.fullCheck).toBe('passed');
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(checked?.sha256);
      expect(Array.from(labels)).toEqual(checked?.label);
      checked?.probabilities.forEach((p, i) => {
        expect(probabilities[i]).toBeCloseTo(p, 6);
      });
    },
  );

  it('declares one [N,1] input per raw column and the skl2onnx classifier outputs', async () => {
    // Prepare
    const [lr] = reference.models;
    const session = await ort.InferenceSession.create(lr?.bytes as Uint8Array);

    // Act
    const inputs = session.inputMetadata;
    const outputs = session.outputMetadata;

    // Assess
    expect(inputs.map((i) => i.name)).toEqual(reference.pipeline.inputs.map((i) => i.name));
    for (const input of inputs) {
      const declared = reference.pipeline.inputs.find((i) => i.name === input.name);
      expect(input).toMatchObject({
        isTensor: true,
        type: declared?.type === 'numeric' ? 'float32' : 'string',
        shape: ['N', 1],
      });
    }
    expect(outputs).toEqual([
      expect.objectContaining({ name: 'label', type: 'int64', shape: ['N'] }),
      expect.objectContaining({ name: 'probabilities', type: 'float32', shape: ['N', 2] }),
    ]);
  });

  it('carries feature names, kind, inputs and the caller metadata in metadata props', async () => {
    // Act
    const loaded = await Promise.all(reference.models.map((m) => OnnxModel.load(m.bytes)));

    // Assess
    for (const [k, model] of loaded.entries()) {
      expect(model.featureNames).toEqual(reference.pipeline.features.map((f) => f.name));
      expect(model.metadata['keel.model_kind']).toBe(reference.models[k]?.name);
      expect(model.metadata['keel.pipeline_hash']).toBe('reference');
      expect(Object.keys(model.metadata).sort()).toEqual(
        python.models[reference.models[k]?.name ?? '']?.metadataKeys,
      );
    }
    expect(OPSETS).toEqual({ 'ai.onnx': 15, 'ai.onnx.ml': 3 });
  });

  it('sends unknown categories to the other bucket and missing ones to the imputed category', async () => {
    // Prepare
    const [lr] = reference.models;
    const model = await OnnxModel.load(lr?.bytes as Uint8Array);
    const base = Object.fromEntries(
      model.inputs.map((i) => [
        i.name,
        i.type === 'numeric' ? [1000, 1000, 1000] : ['north', 'north', 'north'],
      ]),
    );

    // Act
    const scored = await model.score(
      new Map(
        Object.entries({ ...base, employment: ['astronaut', null, 'salaried'] }) as [
          string,
          (string | number)[],
        ][],
      ),
      3,
    );

    // Assess: missing employment was imputed as salaried; astronaut is scored as the other bucket.
    expect(scored.probabilities[1]).toBeCloseTo(scored.probabilities[2] as number, 7);
    expect(scored.probabilities[0]).not.toBeCloseTo(scored.probabilities[2] as number, 4);
  });

  it.each([
    ['a missing column', (m: Map<string, unknown>) => m.delete('income'), 'income'],
    ['a string in a numeric column', (m: Map<string, unknown>) => m.set('income', ['x']), 'income[0]'],
    ['a number in a categorical column', (m: Map<string, unknown>) => m.set('region', [3]), 'region[0]'],
    ['a column of the wrong length', (m: Map<string, unknown>) => m.set('debt', [1, 2]), 'debt'],
  ])('rejects %s with a field-level ValidationError', async (_, mutate, path) => {
    // Prepare
    const model = await OnnxModel.load(reference.models[0]?.bytes as Uint8Array);
    const columns = new Map<string, unknown>(
      model.inputs.map((i) => [i.name, i.type === 'numeric' ? [1] : ['north']]),
    );
    mutate(columns);

    // Act
    const scoring = model.score(columns as Map<string, number[]>, 1);

    // Assess
    await expect(scoring).rejects.toBeInstanceOf(ValidationError);
    await expect(scoring).rejects.toMatchObject({ issues: [expect.objectContaining({ path })] });
  });
});

/** Tables of two numeric columns (float32 values, some missing) and one categorical column. */
const tableArbitrary = (minRows: number) =>
  fc
    .array(
      fc.record({
        a: fc.oneof(
          fc.constant(Number.NaN),
          fc.integer({ min: -50, max: 50 }),
          fc.float({ min: -1e4, max: 1e4, noNaN: true }).map(Math.fround),
        ),
        b: fc.oneof(fc.constant(0), fc.constant(Number.NaN), fc.float({ min: -100, max: 100, noNaN: true })),
        c: fc.constantFrom('x', 'y', 'z', 'w', null),
      }),
      { minLength: minRows, maxLength: 25 },
    )
    .map((rows): Table => {
      const a = new NumericBuilder();
      const b = new NumericBuilder();
      const c = new CategoricalBuilder();
      for (const r of rows) {
        a.push(Math.fround(r.a));
        b.push(Math.fround(r.b));
        c.push(r.c);
      }
      return {
        rowCount: rows.length,
        columns: new Map<string, Column>([
          ['a', a.build()],
          ['b', b.build()],
          ['c', c.build()],
        ]),
      };
    });

const specs: [string, unknown[]][] = [
  ['impute median', [{ type: 'impute', column: 'a', strategy: 'median' }]],
  ['impute mean', [{ type: 'impute', column: 'a', strategy: 'mean' }]],
  ['impute constant', [{ type: 'impute', column: 'a', strategy: 'constant', value: -3 }]],
  ['clip', [{ type: 'clip', column: 'a', min: -10, max: 10 }]],
  ['clip below only', [{ type: 'clip', column: 'a', min: 0 }]],
  ['standardise', [{ type: 'standardise', column: 'a' }]],
  ['log', [{ type: 'log', column: 'a', offset: 1 }]],
  ['bucketise', [{ type: 'bucketise', column: 'a', bins: 4 }]],
  ['one-hot', [{ type: 'one-hot', column: 'c', maxCategories: 2 }]],
  [
    'impute category then one-hot',
    [
      { type: 'impute', column: 'c', strategy: 'constant', value: 'y' },
      { type: 'one-hot', column: 'c', maxCategories: 3 },
    ],
  ],
  ['ratio', [{ type: 'ratio', name: 'a_per_b', numerator: 'a', denominator: 'b' }]],
  [
    'a chain',
    [
      { type: 'impute', column: 'a', strategy: 'median' },
      { type: 'clip', column: 'a', min: -100 },
      { type: 'ratio', name: 'r', numerator: 'a', denominator: 'b' },
      { type: 'standardise', column: 'b' },
      { type: 'one-hot', column: 'c', maxCategories: 4 },
    ],
  ],
];

const hasValue = (t: Table) =>
  Array.from((t.columns.get('a') as { values: Float64Array }).values).some((v) => !Number.isNaN(v));

describe('pipeline in ONNX', () => {
  it.each(specs)(
    '%s: ONNX features equal the TypeScript transform',
    async (_, raw) => {
      const spec = raw.map((s) => transformSchema.parse(s)) as Transform[];
      await fc.assert(
        fc.asyncProperty(tableArbitrary(2).filter(hasValue), tableArbitrary(1), async (train, scoring) => {
          // Prepare
          const pipeline = fitPipeline(spec, train);
          const model = await ort.InferenceSession.create(
            exportPipelineOnnx(pipeline, { producerVersion: 'test' }),
            SESSION,
          );
          const feeds: Record<string, ort.Tensor> = {};
          for (const { name, type } of pipeline.inputs) {
            const column = scoring.columns.get(name);
            if (column?.kind === 'numeric')
              feeds[name] = new ort.Tensor('float32', Float32Array.from(column.values), [
                scoring.rowCount,
                1,
              ]);
            else if (column?.kind === 'categorical' && type === 'categorical')
              feeds[name] = new ort.Tensor(
                'string',
                Array.from(column.codes, (k) => column.dictionary[k] ?? ''),
                [scoring.rowCount, 1],
              );
          }

          // Act
          const onnxFeatures = (await model.run(feeds)).features?.data as Float64Array;
          await model.release();
          const expected = transform(pipeline, scoring).matrix.data;

          // Assess
          expect(onnxFeatures).toHaveLength(expected.length);
          expected.forEach((v, i) => {
            const got = onnxFeatures[i] as number;
            if (Number.isNaN(v)) expect(got).toBeNaN();
            else expect(Math.abs(got - v)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(v)));
          });
        }),
        { numRuns: 40, seed: 4242 },
      );
    },
    30_000,
  );

  it('scores a realistic population the same way across seeds (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), async (seed) => {
        // Prepare
        const train = generateCredit({ rows: 300, seed, missingIncome: 0.2 });
        const spec = [
          { type: 'impute', column: 'income', strategy: 'median' },
          { type: 'one-hot', column: 'employment', maxCategories: 2 },
        ].map((s) => transformSchema.parse(s));
        const pipeline = fitPipeline(spec, train);
        const model = await ort.InferenceSession.create(
          exportPipelineOnnx(pipeline, { producerVersion: 'test' }),
          SESSION,
        );
        const income = train.columns.get('income') as { values: Float64Array };
        const employment = train.columns.get('employment') as CategoricalColumn;

        // Act
        const out = await model.run({
          income: new ort.Tensor('float32', Float32Array.from(income.values), [train.rowCount, 1]),
          employment: new ort.Tensor(
            'string',
            Array.from(employment.codes, (k) => employment.dictionary[k] ?? ''),
            [train.rowCount, 1],
          ),
        });

        // Assess: float32 inputs; the imputed median is float64 in both.
        const expected = transform(pipeline, {
          ...train,
          columns: new Map(
            [...train.columns].map(([k, c]) => [
              k,
              c.kind === 'numeric' ? { ...c, values: c.values.map(Math.fround) } : c,
            ]),
          ),
        }).matrix.data;
        const got = out.features?.data as Float64Array;
        await model.release();
        expected.forEach((v, i) => {
          expect(got[i]).toBeCloseTo(v, 9);
        });
      }),
      { numRuns: 10, seed: 7 },
    );
  });
});

describe('modelMetadata', () => {
  it.each(['lr', 'gbdt'] as const)('reads the %s model’s metadata as a full ONNX decode does', (name) => {
    // Prepare
    const model = referenceModels().models.find((m) => m.name === name);
    if (!model) throw new Error(`no ${name} reference model`);
    const decoded = onnx.ModelProto.decode(model.bytes);
    const expected = Object.fromEntries(
      (decoded.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? '']),
    );

    // Act
    const metadata = modelMetadata(model.bytes);

    // Assess
    expect(Object.keys(expected).length).toBeGreaterThan(0);
    expect(metadata).toEqual(expected);
  });

  it('skips every wire type a message can hold, as protobufjs writes them', () => {
    // Prepare: fields around two entries, each kind of field the reader must step over.
    const entry = (key: string, value: string) =>
      protobuf.Writer.create()
        .uint32(10)
        .string(key)
        .uint32(18)
        .string(value)
        .uint32(24)
        .uint64(2 ** 40)
        .finish();
    const writer = protobuf.Writer.create()
      .uint32((1 << 3) | 0)
      .uint64(2 ** 52 + 1)
      .uint32((14 << 3) | 2)
      .bytes(entry('keel.a', 'é, 日本'))
      .uint32((3 << 3) | 1)
      .fixed64(7)
      .uint32((4 << 3) | 5)
      .fixed32(9)
      .uint32((8 << 3) | 2)
      .bytes(new Uint8Array(300))
      .uint32((14 << 3) | 2)
      .bytes(entry('keel.b', ''));

    // Act
    const metadata = modelMetadata(writer.finish());

    // Assess
    expect(metadata).toEqual({ 'keel.a': 'é, 日本', 'keel.b': '' });
    expect(() => modelMetadata(Uint8Array.of((2 << 3) | 3))).toThrow(/wire type 3/);
  });

  it('reads nothing from bytes without metadata, and fails on truncated bytes', () => {
    expect(modelMetadata(new Uint8Array())).toEqual({});
    const model = referenceModels().models[0];
    if (!model) throw new Error('no reference model');
    expect(() => modelMetadata(model.bytes.subarray(0, model.bytes.length - 3))).toThrow();
  });
});
