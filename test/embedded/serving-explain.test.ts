import { readFileSync } from 'node:fs';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explainPrediction } from '../../cli/commands/explain.ts';
import { s3Client } from '../../functions/commons/clients.ts';
import { awsDataPorts, createLineageStore, createRegistry } from '../../functions/composition/aws.ts';
import { parseConfig } from '../../functions/contracts/config/load.ts';
import { cell, type Table } from '../../functions/core/data/table.ts';
import { generateCredit } from '../../functions/core/synthetic/credit.ts';
import { type TrainingResult, train } from '../../functions/core/training/train.ts';
import { publishTrainingResult } from '../../functions/registry/publish.ts';
import { LocalRuntime } from '../../local/runtime.ts';
import { referenceModels, registerModelBytes } from '../support/onnx-reference.ts';

let runtime: LocalRuntime;
let gbdt: TrainingResult;
const traffic = generateCredit({ rows: 40, seed: 77 });

async function post(path: string, body: unknown) {
  const response = await fetch(`${runtime.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field below
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

function instances(table: Table, from: number, to: number) {
  return Array.from({ length: to - from }, (_, k) =>
    Object.fromEntries(
      gbdt.pipeline.inputs.map((i) => [i.name, cell(table.columns.get(i.name) as never, from + k)]),
    ),
  );
}

async function capturedPredictions(): Promise<Record<string, unknown>[]> {
  await runtime.capture.flush();
  const bucket = runtime.resources.captureBucket;
  const listed = await s3Client().send(
    new ListObjectsV2Command({ Bucket: bucket, Prefix: 'capture/prediction/' }),
  );
  const records: Record<string, unknown>[] = [];
  for (const { Key } of listed.Contents ?? []) {
    const object = await s3Client().send(new GetObjectCommand({ Bucket: bucket, Key }));
    for (const line of ((await object.Body?.transformToString()) ?? '').trim().split('\n'))
      if (line) records.push(JSON.parse(line));
  }
  return records;
}

const sum = (o: Record<string, number>) => Object.values(o).reduce((s, v) => s + v, 0);

beforeAll(async () => {
  const raw = JSON.parse(readFileSync('keel.config.json', 'utf8'));
  raw.models.credit.serving.explanationSampleRate = 1;
  const config = parseConfig(raw);
  runtime = await LocalRuntime.start({ config, ephemeral: true, timeScale: 0.01, port: 0 });
  const registry = createRegistry();
  const lineage = createLineageStore();
  gbdt = train(generateCredit({ rows: 3000, seed: 5 }), {
    label: 'default',
    protected: ['sex'],
    exclude: ['applicant_id'],
    features: config.models.credit?.features as never,
    hyperparameters: { trees: 30 },
    bootstrapSamples: 50,
    dataHash: 'c'.repeat(64),
    codeVersion: 'abc1234',
  });
  const options = {
    model: 'credit',
    owner: 'risk',
    intendedUse: 'test',
    codeVersion: 'abc1234',
    actor: 'test',
  };
  const { version } = await publishTrainingResult(registry, lineage, gbdt, options);
  await registry.approve('credit', version, { actor: 'test', reason: 'explained' });
  await registry.moveAlias(
    'credit',
    'production',
    { to: version, expected: null },
    { actor: 't', reason: 'live' },
  );
  // A fallback registered without an explainer (a model trained elsewhere).
  const fallback = await registerModelBytes(
    registry,
    lineage,
    referenceModels().models[0]?.bytes as Uint8Array,
    {
      seed: 9,
    },
  );
  await registry.moveAlias(
    'credit',
    'fallback',
    { to: fallback, expected: null },
    { actor: 't', reason: 'fb' },
  );
  expect(await runtime.syncServing()).toEqual(['credit']);
}, 120_000);

afterAll(async () => {
  await runtime?.stop();
});

describe('explanations over local HTTP', () => {
  it('POST :explain gives each prediction its SHAP values, adding up to its log-odds, with its probability', async () => {
    // Act
    const response = await post('/v1/models/credit:explain', { instances: instances(traffic, 0, 20) });

    // Assess
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body).toMatchObject({
      served_by: 'primary',
      explanation: { method: 'tree', feature_perturbation: 'interventional', output_space: 'log-odds' },
    });
    expect(response.body.explanation.derived).toEqual([
      { name: 'debt_to_income', sources: ['debt', 'income'] },
    ]);
    const base = response.body.explanation.base_value as number;
    for (const row of response.body.explanations) {
      expect(Math.abs(base + sum(row.contributions) - row.margin)).toBeLessThan(1e-6);
      expect(Math.abs(base + sum(row.input_contributions) - row.margin)).toBeLessThan(1e-6);
      // The margin is the served model's: its sigmoid is the probability onnxruntime answered.
      expect(Math.abs(1 / (1 + Math.exp(-row.margin)) - row.probability)).toBeLessThan(1e-5);
      // Per raw column, and the ratio of two columns under its own name, listed as derived.
      expect(Object.keys(row.contributions).sort()).toEqual(
        [...gbdt.pipeline.inputs.map((i) => i.name), 'debt_to_income'].sort(),
      );
      expect(Object.keys(row.input_contributions)).toEqual(gbdt.pipeline.features.map((f) => f.name));
      expect(row.prediction_id).toMatch(/^[0-9a-f-]{36}$/);
    }
    // Captured with its prediction id, explanation included.
    const ids = new Set(response.body.explanations.map((r: { prediction_id: string }) => r.prediction_id));
    const captured = (await capturedPredictions()).filter((r) => ids.has(r.prediction_id as string));
    expect(captured).toHaveLength(20);
    for (const record of captured)
      expect(record.explanation).toMatchObject({ method: 'tree', base_value: base });
  });

  it('explains with node covers when asked for tree-path-dependent, and on OIP v2 with parameters.explain', async () => {
    // Prepare
    const rows = instances(traffic, 20, 25);
    const names = gbdt.pipeline.inputs;
    const body = {
      parameters: { explain: true, feature_perturbation: 'tree-path-dependent' },
      inputs: names.map((i) => ({
        name: i.name,
        datatype: i.type === 'numeric' ? 'FP32' : 'BYTES',
        shape: [rows.length],
        data: rows.map((r) => r[i.name]),
      })),
    };

    // Act
    const response = await post('/v2/models/credit/infer', body);

    // Assess
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const explanation = response.body.parameters.explanation;
    expect(explanation.feature_perturbation).toBe('tree-path-dependent');
    expect(explanation.rows).toHaveLength(5);
    const probabilities = response.body.outputs[0].data as number[];
    explanation.rows.forEach((row: { margin: number; contributions: Record<string, number> }, i: number) => {
      expect(Math.abs(explanation.base_value + sum(row.contributions) - row.margin)).toBeLessThan(1e-6);
      expect(Math.abs(1 / (1 + Math.exp(-row.margin)) - (probabilities[2 * i + 1] as number))).toBeLessThan(
        1e-5,
      );
    });
  });

  it('samples ordinary predictions into the capture with their explanation (rate 1 here)', async () => {
    // Act
    const predicted = await post('/v1/models/credit:predict', { instances: instances(traffic, 25, 28) });

    // Assess
    expect(predicted.status).toBe(200);
    expect(predicted.body.predictions[0].explanation).toBeUndefined(); // not asked: the answer is unchanged
    const ids = new Set(predicted.body.predictions.map((p: { prediction_id: string }) => p.prediction_id));
    const captured = (await capturedPredictions()).filter((r) => ids.has(r.prediction_id as string));
    expect(captured).toHaveLength(3);
    for (const record of captured) expect(record.explanation).toMatchObject({ method: 'tree' });
  });

  it('explains a past decision from its capture with the version that served it, as it was explained then', async () => {
    // Prepare
    const predicted = await post('/v1/models/credit:explain', { instances: instances(traffic, 30, 31) });
    const [row] = predicted.body.explanations;
    await runtime.capture.flush();
    const target = {
      registry: createRegistry(),
      lineage: createLineageStore(),
      capture: awsDataPorts().captureReader,
    };

    // Act
    const result = await explainPrediction(target, 'credit', row.prediction_id, 1, { method: 'auto' });
    const missing = explainPrediction(target, 'credit', 'no-such-id', 1, { method: 'auto' });

    // Assess
    expect(result).toMatchObject({
      predictionId: row.prediction_id,
      modelVersion: predicted.body.model_version,
    });
    expect(result.rows[0]?.margin).toBeCloseTo(row.margin, 9);
    for (const [name, value] of Object.entries(row.contributions as Record<string, number>)) {
      expect(result.rows[0]?.contributions[name]).toBeCloseTo(value, 9);
      expect(result.captured?.contributions[name]).toBeCloseTo(value, 9);
    }
    await expect(missing).rejects.toMatchObject({ name: 'NotFoundError' });
  });

  it.each([
    [{ explain: 'yes' }, 'parameters.explain'],
    [{ explain: true, feature_perturbation: 'marginal' }, 'parameters.feature_perturbation'],
  ])('refuses bad explanation parameters %j with a 400 naming them', async (parameters, path) => {
    // Act
    const response = await post('/v2/models/credit/infer', {
      parameters,
      inputs: [{ name: 'income', datatype: 'FP32', shape: [1], data: ['x'] }],
    });

    // Assess
    expect(response.status).toBe(400);
    const paths = response.body.issues.map((i: { path: string }) => i.path);
    expect(paths).toContain(path);
    expect(paths).toContain('inputs.0.data.0'); // and every other bad field, in the same 400
  });
});
