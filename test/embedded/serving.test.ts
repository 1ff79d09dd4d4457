import { readFileSync } from 'node:fs';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Client } from '../../functions/commons/clients.ts';
import { createLineageStore, createRegistry } from '../../functions/composition/aws.ts';
import { parseConfig } from '../../functions/contracts/config/load.ts';
import { cell } from '../../functions/core/data/table.ts';
import { LocalRuntime } from '../../local/runtime.ts';
import { renderStatus, runtimeStatus } from '../../local/status.ts';
import { referenceModels, registerModelBytes } from '../support/onnx-reference.ts';

// onnxruntime for Python's outputs for the reference models (test/fixtures/reference/generate_onnx.py).
const python = JSON.parse(readFileSync('test/fixtures/reference/onnx.json', 'utf8')) as {
  models: Record<string, { probabilities: number[]; label: number[] }>;
};
const reference = referenceModels();
let runtime: LocalRuntime;

async function post(path: string, body: unknown) {
  const response = await fetch(`${runtime.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field below
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

function instances(from: number, to: number) {
  return Array.from({ length: to - from }, (_, k) =>
    Object.fromEntries(
      reference.pipeline.inputs.map((i) => [
        i.name,
        cell(reference.scoring.columns.get(i.name) as never, from + k),
      ]),
    ),
  );
}

beforeAll(async () => {
  const raw = JSON.parse(readFileSync('keel.config.json', 'utf8'));
  raw.models.credit.serving.shadowSampleRate = 1; // the shadow scores all traffic here
  const config = parseConfig(raw);
  runtime = await LocalRuntime.start({ config, ephemeral: true, timeScale: 0.01, port: 0 });
  const registry = createRegistry();
  const lineage = createLineageStore();
  // v1: the LR reference model (the fallback), v2: the GBDT one (production).
  for (const { name, bytes } of reference.models)
    await registerModelBytes(registry, lineage, bytes, { seed: name === 'lr' ? 1 : 2 });
  await registry.moveAlias(
    'credit',
    'fallback',
    { to: 1, expected: null },
    { actor: 'test', reason: 'fallback' },
  );
  await registry.moveAlias(
    'credit',
    'production',
    { to: 2, expected: null },
    { actor: 'test', reason: 'go live' },
  );
  await registry.moveAlias(
    'credit',
    'shadow',
    { to: 1, expected: null },
    { actor: 'test', reason: 'try the LR' },
  );
  expect(await runtime.syncServing()).toEqual(['credit']);
}, 60_000);

afterAll(async () => {
  await runtime?.stop();
});

describe('local serving over HTTP', () => {
  it('answers /v1/models/credit:predict as onnxruntime for Python does on the same artifact', async () => {
    // Act
    const response = await post('/v1/models/credit:predict', { instances: instances(0, 400) });

    // Assess
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body).toMatchObject({ model_version: '2', served_by: 'primary' });
    const expected = python.models.gbdt as { probabilities: number[]; label: number[] };
    response.body.predictions.forEach((p: { probability: number; label: number }, i: number) => {
      expect(Math.abs(p.probability - (expected.probabilities[i] as number))).toBeLessThan(1e-5);
      expect(p.label).toBe(expected.label[i]);
    });
  });

  it('answers the Open Inference Protocol and the health routes', async () => {
    // Prepare
    const rows = instances(0, 3);
    const inputs = reference.pipeline.inputs.map((i) => ({
      name: i.name,
      shape: [3, 1],
      datatype: i.type === 'numeric' ? 'FP32' : 'BYTES',
      data: rows.map((r) => r[i.name] ?? null),
    }));

    // Act
    const infer = await post('/v2/models/credit/infer', { inputs });
    const live = await fetch(`${runtime.url}/v2/health/live`);
    const metadata = await fetch(`${runtime.url}/v2/models/credit`);

    // Assess
    expect(infer.status).toBe(200);
    const probabilities = infer.body.outputs[0].data as number[];
    expect(probabilities[1]).toBeCloseTo(python.models.gbdt?.probabilities[0] as number, 5);
    expect(live.status).toBe(200);
    expect(((await metadata.json()) as { versions: string[] }).versions).toEqual(['2', '1']);
  });

  it('captures predictions and feedback to S3, joinable by prediction id', async () => {
    // Prepare
    const predicted = await post('/v1/models/credit:predict', { instances: instances(5, 6) });
    const id = predicted.body.predictions[0].prediction_id as string;

    // Act
    const feedback = await post('/v1/feedback', { prediction_id: id, outcome: 1 });
    await runtime.capture.flush();

    // Assess
    expect(feedback.status).toBe(202);
    const bucket = runtime.resources.captureBucket;
    const listed = await s3Client().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'capture/' }));
    const keys = (listed.Contents ?? []).map((o) => o.Key as string);
    expect(
      keys.some((k) => /^capture\/prediction\/model=credit\/date=\d{4}-\d{2}-\d{2}\/hour=\d{2}\//.test(k)),
    ).toBe(true);
    const records = [];
    for (const key of keys) {
      const object = await s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const text = (await object.Body?.transformToString()) ?? '';
      records.push(
        ...text
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l)),
      );
    }
    // The shadow model (sample rate 1 here) may already have scored it under the same id, off
    // the request path: its record says so (`shadow_of`), and is not the served prediction.
    const sameId = records.filter((r) => r.prediction_id === id);
    const joined = sameId.filter((r) => r.shadow_of === undefined);
    expect(joined.map((r) => r.type).sort()).toEqual(['feedback', 'prediction']);
    expect(sameId.filter((r) => r.shadow_of !== undefined).every((r) => r.type === 'prediction')).toBe(true);
    expect(joined.find((r) => r.type === 'prediction')).toMatchObject({
      model: 'credit',
      model_version: '2',
      served_by: 'primary',
    });
  });

  it('scores captured traffic with the shadow model under the same prediction ids, off the request path', async () => {
    // Act
    const response = await post('/v1/models/credit:predict', { instances: instances(10, 60) });
    const report = await runtime.shadowReport('credit');
    await runtime.capture.flush();

    // Assess
    expect(response.body.served_by).toBe('primary');
    expect(report?.version).toBe('1');
    expect(report?.scored).toBeGreaterThanOrEqual(50);
    expect(report?.labelAgreement).toBeGreaterThan(0.5);
    expect(report?.meanAbsoluteDifference).toBeGreaterThan(0);
    expect(typeof report?.psi).toBe('number');
    const bucket = runtime.resources.captureBucket;
    const listed = await s3Client().send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: 'capture/prediction/' }),
    );
    const records = [];
    for (const object of listed.Contents ?? []) {
      const body = await s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: object.Key as string }));
      const text = (await body.Body?.transformToString()) ?? '';
      records.push(
        ...text
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l)),
      );
    }
    const id = response.body.predictions[0].prediction_id as string;
    const pair = records.filter((r) => r.prediction_id === id);
    expect(pair.map((r) => r.served_by).sort()).toEqual(['primary', 'shadow']);
    expect(pair.find((r) => r.served_by === 'shadow')).toMatchObject({ model_version: '1', shadow_of: '2' });
  });

  it('rejects bad requests with 4xx over HTTP, and a body over 6 MB with 413', async () => {
    // Act
    const bad = await post('/v1/models/credit:predict', { instances: [{ income: 'a lot' }] });
    const huge = await fetch(`${runtime.url}/v1/models/credit:predict`, {
      method: 'POST',
      body: 'x'.repeat(6 * 1024 * 1024 + 10),
    });
    const unknown = await post('/v1/models/nope:predict', { instances: [] });

    // Assess
    expect(bad.status).toBe(400);
    expect(bad.body.issues.length).toBeGreaterThan(1);
    expect(huge.status).toBe(413);
    expect(unknown.status).toBe(404);
  });

  it('splits traffic by the live alias weights during a canary and ends on the new version', async () => {
    // Act: canary the fallback's version (v1) in: 10 % for 5 minutes × 0.01 = 3 s, then all.
    const { deploymentId } = await runtime.serving.deploy('credit', 1, {
      type: 'canary',
      percentage: 10,
      intervalMinutes: 5,
    });
    const during: string[] = [];
    for (let k = 0; k < 100; k++)
      during.push(
        (await post('/v1/models/credit:predict', { instances: instances(0, 1) })).body.model_version,
      );
    let state = await runtime.deployer.getDeployment(deploymentId);
    for (let wait = 0; wait < 100 && state.status === 'InProgress'; wait++) {
      await new Promise((r) => setTimeout(r, 100));
      state = await runtime.deployer.getDeployment(deploymentId);
    }
    const after = (await post('/v1/models/credit:predict', { instances: instances(0, 1) })).body
      .model_version;

    // Assess
    const canary = during.filter((v) => v === '1').length;
    expect(canary).toBeGreaterThan(0);
    expect(canary).toBeLessThan(40);
    expect(state.status).toBe('Succeeded');
    expect(after).toBe('1');
  }, 30_000);

  it('rolls a canary back when its fallback-rate alarm fires, computed from local metrics', async () => {
    // Prepare: version 3's artifact is not a model, so the fallback answers for it.
    const registry = createRegistry();
    const version = await registerModelBytes(
      registry,
      createLineageStore(),
      new TextEncoder().encode('not an onnx model'),
      { seed: 3 },
    );
    const before = (await post('/v1/models/credit:predict', { instances: instances(0, 1) })).body
      .model_version;

    // Act: 50 % canary for 5 minutes × 0.01 = 3 s; the alarm is checked on every tick.
    const { deploymentId } = await runtime.serving.deploy('credit', version, {
      type: 'canary',
      percentage: 50,
      intervalMinutes: 5,
    });
    const answers: { version: string; servedBy: string }[] = [];
    let state = await runtime.deployer.getDeployment(deploymentId);
    for (let k = 0; k < 200 && state.status === 'InProgress'; k++) {
      const r = await post('/v1/models/credit:predict', { instances: instances(0, 1) });
      answers.push({ version: r.body.model_version, servedBy: r.body.served_by });
      await new Promise((resolve) => setTimeout(resolve, 20));
      state = await runtime.deployer.getDeployment(deploymentId);
    }
    const after = (await post('/v1/models/credit:predict', { instances: instances(0, 1) })).body;

    // Assess: callers were answered throughout; the rollout failed on the alarm and traffic is back.
    expect(answers.every((a) => a.servedBy === 'primary' || a.servedBy === 'fallback')).toBe(true);
    expect(answers.some((a) => a.servedBy === 'fallback')).toBe(true);
    expect(state.status).toBe('Failed');
    expect(state.reason).toMatch(/fallback-rate/);
    // Named by the model version it watches, not only the function version.
    expect(state.reason).toMatch(new RegExp(`model-v${version}-fn\\d+-fallback-rate`));
    expect(after).toMatchObject({ model_version: before, served_by: 'primary' });
  }, 30_000);

  it('says it is degraded, and who answers, when the primary cannot load (readiness and the panel)', async () => {
    // Prepare: healthy first.
    await post('/v1/models/credit:predict', { instances: instances(0, 1) });
    const healthy = (await (await fetch(`${runtime.url}/v2/health/ready`)).json()) as Record<string, unknown>;
    const broken = await registerModelBytes(
      createRegistry(),
      createLineageStore(),
      new TextEncoder().encode('a corrupted artifact'),
      { seed: 4 },
    );

    // Act: all at once, so nothing rolls it back before we look.
    const { deploymentId } = await runtime.serving.deploy('credit', broken, { type: 'all-at-once' });
    for (
      let k = 0;
      k < 50 && (await runtime.deployer.getDeployment(deploymentId)).status === 'InProgress';
      k++
    )
      await new Promise((r) => setTimeout(r, 50));
    const answers = [];
    for (let k = 0; k < 100; k++)
      answers.push((await post('/v1/models/credit:predict', { instances: instances(0, 1) })).body);
    const ready = (await (await fetch(`${runtime.url}/v2/health/ready`)).json()) as Record<string, unknown>;
    await new Promise((r) => setImmediate(r)); // the capture tap runs off the request path
    const panel = renderStatus(await runtimeStatus(runtime));

    // Assess
    expect(healthy).toMatchObject({ ready: true, degraded: false, served_by: 'primary' });
    expect(answers.every((a) => a.served_by === 'fallback' && a.model_version === '1')).toBe(true);
    expect(ready).toMatchObject({
      ready: true,
      degraded: true,
      served_by: 'fallback',
      answering_version: '1',
      primary: { version: String(broken), available: false },
      reason: expect.stringMatching(new RegExp(`^the primary \\(v${broken}\\) is unavailable`)),
    });
    expect(panel).toMatch(/DEGRADED: answered by fallback v1 100 % of recent predictions/);
  }, 30_000);
});
