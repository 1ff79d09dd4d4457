import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLineageStore, createRegistry } from '../../functions/composition/aws.ts';
import { parseConfig } from '../../functions/contracts/config/load.ts';
import { cell } from '../../functions/core/data/table.ts';
import { loadLinearProgramSolver } from '../../functions/core/lp.ts';
import { OnnxModel } from '../../functions/core/onnx/runtime.ts';
import { generateCredit } from '../../functions/core/synthetic/credit.ts';
import { type TrainingResult, train } from '../../functions/core/training/train.ts';
import { validateCardContent } from '../../functions/registry/card-record.ts';
import { publishTrainingResult } from '../../functions/registry/publish.ts';
import { LocalRuntime } from '../../local/runtime.ts';

// A model post-processed by group thresholds decides by sex: serving takes sex as an input,
// says so in its metadata, refuses a request without it, and explains the group's step.
let runtime: LocalRuntime;
let model: TrainingResult;
const traffic = generateCredit({ rows: 30, seed: 78, groupBias: 2, groupProxy: 0.9 });

async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${runtime.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field below
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

const rows = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, k) =>
    Object.fromEntries(
      model.manifest.schema.inputs.map((i) => [i.name, cell(traffic.columns.get(i.name) as never, from + k)]),
    ),
  );

beforeAll(async () => {
  const config = parseConfig(JSON.parse(readFileSync('keel.config.json', 'utf8')));
  runtime = await LocalRuntime.start({ config, ephemeral: true, timeScale: 0.01, port: 0 });
  const registry = createRegistry();
  model = train(generateCredit({ rows: 6000, seed: 5, groupBias: 2, groupProxy: 0.9 }), {
    label: 'default',
    protected: ['sex'],
    exclude: ['applicant_id'],
    features: config.models.credit?.features as never,
    hyperparameters: { trees: 30 },
    bootstrapSamples: 50,
    mitigation: { method: 'threshold', attribute: 'sex', constraint: 'equalized-odds' },
    linearProgramSolver: await loadLinearProgramSolver(),
    dataHash: 'e'.repeat(64),
    codeVersion: 'abc1234',
  });
  const { version } = await publishTrainingResult(registry, createLineageStore(), model, {
    model: 'credit',
    owner: 'risk',
    intendedUse: 'test',
    codeVersion: 'abc1234',
    actor: 'test',
  });
  await registry.approve('credit', version, { actor: 'test', reason: 'post-processed' });
  await registry.moveAlias(
    'credit',
    'production',
    { to: version, expected: null },
    { actor: 't', reason: 'live' },
  );
  expect(await runtime.syncServing()).toEqual(['credit']);
}, 120_000);

afterAll(async () => {
  await runtime?.stop();
});

describe('a threshold-post-processed model over local HTTP', () => {
  it('says in its metadata that it reads sex, and answers as onnxruntime does for each group', async () => {
    // Act
    const metadata = await call('GET', '/v2/models/credit');
    const predicted = await call('POST', '/v1/models/credit:predict', { instances: rows(0, 30) });

    // Assess
    expect(metadata.status).toBe(200);
    expect(metadata.body.parameters).toEqual({ protected_inputs: ['sex'] });
    expect(metadata.body.inputs.map((i: { name: string }) => i.name)).toContain('sex');
    expect(predicted.status, JSON.stringify(predicted.body)).toBe(200);
    const onnx = await OnnxModel.load(model.onnx);
    const expected = await onnx.scoreTable(traffic);
    await onnx.release();
    predicted.body.predictions.forEach((p: { probability: number }, i: number) => {
      expect(Math.abs(p.probability - (expected.probabilities[i] as number))).toBeLessThan(1e-6);
    });
  });

  it('refuses a request without sex, or with it null, naming each row, and scores nothing', async () => {
    // Prepare
    const [first, second] = rows(0, 2);
    const { sex: _, ...withoutSex } = first as Record<string, unknown>;

    // Act
    const response = await call('POST', '/v1/models/credit:predict', {
      instances: [withoutSex, { ...second, sex: null }],
    });

    // Assess
    expect(response.status).toBe(400);
    const paths = (response.body.issues ?? response.body.error?.issues ?? []).map(
      (i: { path: string }) => i.path,
    );
    expect(paths).toEqual(expect.arrayContaining(['instances.0.sex', 'instances.1.sex']));
    expect(JSON.stringify(response.body)).toMatch(/decides by sex/);
    // The same on the Open Inference Protocol.
    const two = rows(0, 2);
    const v2 = await call('POST', '/v2/models/credit/infer', {
      inputs: model.manifest.schema.inputs.map((i) => ({
        name: i.name,
        datatype: i.type === 'numeric' ? 'FP32' : 'BYTES',
        shape: [2],
        data: two.map((r) => (i.name === 'sex' ? null : r[i.name])),
      })),
    });
    expect(v2.status).toBe(400);
    expect(JSON.stringify(v2.body)).toMatch(/decides by sex/);
  });

  it('explains each decision with the group’s step as sex’s contribution, adding up to the served margin', async () => {
    // Act
    const response = await call('POST', '/v1/models/credit:explain', { instances: rows(0, 10) });

    // Assess
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const base = response.body.explanation.base_value as number;
    for (const row of response.body.explanations) {
      const total = Object.values(row.contributions as Record<string, number>).reduce((s, v) => s + v, base);
      expect(Math.abs(total - row.margin)).toBeLessThan(1e-6);
      expect(Math.abs(1 / (1 + Math.exp(-row.margin)) - row.probability)).toBeLessThan(1e-5);
      expect(row.contributions).toHaveProperty('sex');
    }
  });

  it('serves its model card: JSON valid against the SageMaker schema, Markdown, and a 400 naming a bad format', async () => {
    // Act
    const json = await call('GET', '/v1/models/credit/card');
    const byVersion = await call('GET', '/v1/models/credit/card?version=production');
    const markdown = await fetch(`${runtime.url}/v1/models/credit/card?format=md`);
    const bad = await call('GET', '/v1/models/credit/card?format=pdf&version=__');
    const missing = await call('GET', '/v1/models/credit/card?version=9');

    // Assess: the card says plainly that sex is read to decide.
    expect(json.status, JSON.stringify(json.body)).toBe(200);
    expect(() => validateCardContent(json.body.content)).not.toThrow();
    expect(json.body.keel.inputs).toContainEqual({
      name: 'sex',
      type: 'string',
      protected: true,
      pii: false,
    });
    expect(json.body.keel.knownBiases.join(' ')).toMatch(/sex is a model input/);
    expect(byVersion.body.version).toBe(json.body.version);
    expect(markdown.status).toBe(200);
    expect(markdown.headers.get('content-type')).toMatch(/text\/markdown/);
    expect(await markdown.text()).toMatch(/^# Model card: credit version 1/);
    expect(bad.status).toBe(400);
    expect(bad.body.issues.map((i: { path: string }) => i.path).sort()).toEqual(['format', 'version']);
    expect(missing.status).toBe(404);
  });
});
