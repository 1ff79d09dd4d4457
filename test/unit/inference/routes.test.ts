import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cell } from '../../../functions/core/data/table.ts';
import { OnnxModel } from '../../../functions/core/onnx/runtime.ts';
import { MemoryCaptureSink } from '../../../functions/inference/capture.ts';
import { handleHttp, MAX_BODY_BYTES } from '../../../functions/inference/routes.ts';
import { onnxScorer } from '../../../functions/inference/scorers.ts';
import { InferenceService } from '../../../functions/inference/service.ts';
import { referenceModels } from '../../support/onnx-reference.ts';

const reference = referenceModels();
let model: OnnxModel;
let service: InferenceService;
const capture = new MemoryCaptureSink();

beforeAll(async () => {
  model = await OnnxModel.load(reference.models[0]?.bytes as Uint8Array);
  service = new InferenceService({
    modelName: 'credit',
    primary: onnxScorer(model, '3'),
    safeDefault: { probability: 1, label: 1 },
    maxBatch: 50,
    capture,
  });
});

afterAll(async () => {
  await model.release();
});

function event(method: string, path: string, body?: string): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: 'req',
      routeKey: '$default',
      stage: '$default',
      time: '',
      timeEpoch: 0,
    },
    isBase64Encoded: false,
    ...(body === undefined ? {} : { body }),
  };
}

async function call(method: string, path: string, body?: unknown) {
  const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const response = (await handleHttp(event(method, path, text), {
    service,
    capture,
  })) as APIGatewayProxyStructuredResultV2;
  return {
    status: response.statusCode as number,
    body: JSON.parse(response.body as string),
    headers: response.headers,
  };
}

function instance(row: number): Record<string, number | string | null> {
  return Object.fromEntries(
    model.inputs.map((i) => [
      i.name,
      cell(reference.scoring.columns.get(i.name) as never, row) as number | string | null,
    ]),
  );
}

describe('inference routes', () => {
  it('POST /v1/models/{name}:predict returns one prediction per instance with ids, version and path', async () => {
    // Act
    const response = await call('POST', '/v1/models/credit:predict', {
      instances: [instance(0), instance(1)],
    });

    // Assess
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ model_version: '3', served_by: 'primary' });
    expect(response.body.predictions).toHaveLength(2);
    const direct = await model.scoreTable(reference.scoring);
    expect(response.body.predictions[1].probability).toBeCloseTo(direct.probabilities[1] as number, 12);
    expect(response.body.predictions[0].prediction_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('POST /v2/models/{name}/infer speaks the Open Inference Protocol', async () => {
    // Prepare
    const rows = [0, 1, 2];
    const inputs = model.inputs.map((i) => ({
      name: i.name,
      shape: [rows.length, 1],
      datatype: i.type === 'numeric' ? 'FP32' : 'BYTES',
      data: rows.map((r) => instance(r)[i.name] ?? null),
    }));

    // Act
    const response = await call('POST', '/v2/models/credit/versions/3/infer', { id: 'r-1', inputs });

    // Assess
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ model_name: 'credit', model_version: '3', id: 'r-1' });
    expect(response.body.parameters.served_by).toBe('primary');
    expect(response.body.parameters.prediction_ids).toHaveLength(3);
    const [probabilities, label] = response.body.outputs;
    expect(probabilities).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [3, 2] });
    expect(label).toMatchObject({ name: 'label', datatype: 'INT64', shape: [3] });
    expect(probabilities.data[0] + probabilities.data[1]).toBeCloseTo(1, 6);
  });

  it('POST :explain answers 501 with the reason when the model has no explainer, capturing nothing', async () => {
    // Prepare
    const before = capture.records.length;

    // Act
    const response = await call('POST', '/v1/models/credit:explain', { instances: [instance(0)] });

    // Assess
    expect(response.status).toBe(501);
    expect(response.body).toMatchObject({ error: 'ExplanationUnavailableError' });
    expect(response.body.message).toMatch(/no explainers/);
    expect(capture.records.length).toBe(before);
  });

  it('describes the model and answers health checks', async () => {
    // Act
    const metadata = await call('GET', '/v2/models/credit');
    const live = await call('GET', '/v2/health/live');
    const ready = await call('GET', '/v2/health/ready');

    // Assess
    expect(metadata.body.inputs.map((i: { name: string }) => i.name)).toEqual(
      model.inputs.map((i) => i.name),
    );
    expect(metadata.body.versions).toEqual(['3']);
    expect(live).toMatchObject({ status: 200, body: { live: true } });
    expect(ready).toMatchObject({ status: 200, body: { ready: true } });
  });

  it('POST /v1/feedback accepts an outcome for a prediction id and captures it', async () => {
    // Prepare
    const predicted = await call('POST', '/v1/models/credit:predict', { instances: [instance(3)] });
    const id = predicted.body.predictions[0].prediction_id;

    // Act
    const response = await call('POST', '/v1/feedback', { prediction_id: id, outcome: 1 });

    // Assess
    expect(response.status).toBe(202);
    const records = capture.records.filter((r) => r.prediction_id === id);
    expect(records.map((r) => r.type).sort()).toEqual(['feedback', 'prediction']);
  });

  it.each([
    ['bad JSON', 'POST', '/v1/models/credit:predict', '{"instances": [', 400],
    ['NaN', 'POST', '/v1/models/credit:predict', '{"instances": [{"income": NaN}]}', 400],
    ['an unknown model', 'POST', '/v1/models/other:predict', { instances: [] }, 404],
    ['an unknown version', 'POST', '/v2/models/credit/versions/9/infer', { inputs: [] }, 404],
    ['a wrong method', 'GET', '/v1/models/credit:predict', undefined, 405],
    ['an unknown route', 'GET', '/v3/anything', undefined, 404],
    ['a malformed path escape', 'POST', '/v2/models/%zz/infer', { inputs: [] }, 400],
    ['no body', 'POST', '/v1/feedback', undefined, 400],
    ['a bad outcome', 'POST', '/v1/feedback', { prediction_id: 'x', outcome: 2 }, 400],
  ])('answers %s with the right status', async (_, method, path, body, status) => {
    const response = await call(method, path, body);
    expect(response.status).toBe(status);
  });

  it.each([
    ['a __proto__ key', '{"prediction_id":"x","outcome":1,"__proto__":{"polluted":true}}'],
    ['an escaped __proto__ key', '{"prediction_id":"x","outcome":1,"\\u005f_proto__":{"polluted":true}}'],
    ['a constructor key with a prototype', '{"a":{"constructor":{"prototype":{"polluted":true}}}}'],
  ])('refuses %s before validation, as middy does', async (_, text) => {
    // Act
    const response = await call('POST', '/v1/feedback', text);

    // Assess: the parser's guard, not the schema, turned it away.
    expect(response.status).toBe(400);
    expect(response.body.issues).toEqual([{ path: 'body', message: 'Forbidden key in JSON body' }]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('parses a body that only mentions a guarded word in a value', async () => {
    const response = await call('POST', '/v1/feedback', { prediction_id: 'constructor', outcome: 1 });
    expect(response.status).toBe(202);
  });

  it('lists every bad field of a request in one 400', async () => {
    // Prepare
    const bad = { ...instance(0), income: 'lots', region: 7, surprise: true };
    delete (bad as Record<string, unknown>).age;

    // Act
    const response = await call('POST', '/v1/models/credit:predict', { instances: [instance(1), bad] });

    // Assess
    expect(response.status).toBe(400);
    const paths = response.body.issues.map((i: { path: string }) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining(['instances.1.income', 'instances.1.region', 'instances.1.age', 'instances.1']),
    );
  });

  it('refuses more rows than the batch limit and a body over 6 MB', async () => {
    // Act
    const many = await call('POST', '/v1/models/credit:predict', {
      instances: Array.from({ length: 51 }, () => instance(0)),
    });
    const huge = await call(
      'POST',
      '/v1/models/credit:predict',
      `{"instances":[{"region":"${'x'.repeat(MAX_BODY_BYTES)}"}]}`,
    );

    // Assess
    expect(many.status).toBe(400);
    expect(many.body.issues[0].message).toMatch(/at most 50/);
    expect(huge.status).toBe(413);
  });
});

describe('inference routes under fuzzing', () => {
  const names = reference.pipeline.inputs.map((i) => i.name);
  const value = fc.oneof(
    fc.double(),
    fc.integer(),
    fc.string(),
    fc.constant(null),
    fc.boolean(),
    fc.constant('x'.repeat(5000)),
    fc.array(fc.integer(), { maxLength: 3 }),
    fc.object({ maxDepth: 1 }),
  );
  const v1Body = fc.record({
    instances: fc.array(
      fc.dictionary(fc.oneof(fc.constantFrom(...names), fc.string()), value, {
        maxKeys: 14,
      }),
      { maxLength: 60 },
    ),
  });
  const v2Body = fc.record({
    inputs: fc.array(
      fc.record({
        name: fc.oneof(fc.constantFrom('income', 'region', 'age'), fc.string()),
        shape: fc.array(fc.integer({ min: -1, max: 60 }), { maxLength: 3 }),
        datatype: fc.constantFrom('FP32', 'BYTES', 'INT64', 'BOOL', 'nonsense'),
        data: fc.array(value, { maxLength: 60 }),
      }),
      { maxLength: 12 },
    ),
  });
  const text = (body: fc.Arbitrary<unknown>) => body.map((b) => JSON.stringify(b));
  const raw = fc.oneof(
    fc.string(),
    fc.json(),
    text(v1Body),
    text(v2Body),
    text(fc.record({ prediction_id: value, outcome: value })),
    // Tokens JSON cannot carry: NaN, Infinity, truncated documents.
    fc.constantFrom(
      '{"instances":[{"income":NaN}]}',
      '{"instances":[{"income":Infinity}]}',
      '{"instances":[',
      '[]',
      'null',
    ),
  );
  const target = fc.constantFrom(
    ['POST', '/v1/models/credit:predict'],
    ['POST', '/v2/models/credit/infer'],
    ['POST', '/v2/models/credit/versions/3/infer'],
    ['POST', '/v1/feedback'],
    ['GET', '/v2/models/credit'],
    ['PUT', '/v1/models/credit:predict'],
    ['POST', '/v2/models/%zz/infer'],
  );

  it('never answers 5xx to 10,000 random and malformed requests', async () => {
    let count = 0;
    await fc.assert(
      fc.asyncProperty(target, raw, async ([method, path], body) => {
        count++;
        const response = (await handleHttp(event(method as string, path as string, body), {
          service,
          capture: new MemoryCaptureSink(),
        })) as APIGatewayProxyStructuredResultV2;
        expect(response.statusCode).toBeLessThan(500);
        expect(() => JSON.parse(response.body as string)).not.toThrow();
      }),
      { numRuns: 10_000, seed: 2026 },
    );
    expect(count).toBeGreaterThanOrEqual(10_000);
  }, 120_000);
});
