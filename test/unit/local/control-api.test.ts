import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { type ControlTarget, controlApi } from '../../../local/control-api.ts';

function event(method: string, path: string, body?: string): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: {},
    requestContext: { http: { method, path } },
    ...(body === undefined ? {} : { body }),
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}

function target(): ControlTarget & { started: unknown[] } {
  const started: unknown[] = [];
  return {
    started,
    config: { project: 'keel-demo', models: { credit: {} } } as unknown as ControlTarget['config'],
    pipelines: {
      start: async (pipeline: string, input: unknown) => {
        started.push({ pipeline, input });
        return { executionId: 'x-1', pipeline };
      },
      list: async () => [],
      describe: async () => ({}) as never,
      history: async () => [],
    } as unknown as ControlTarget['pipelines'],
    deployer: { getDeployment: async (id) => ({ deploymentId: id, status: 'Succeeded' }) as never },
    deployModel: async () => ({ deploymentId: 'd-1' }) as never,
    runDriftCheck: async (model) => ({ model, status: 'ok' }) as never,
    isSettled: (id) => id === 'd-1',
  };
}

describe('the local control API', () => {
  it('starts a retraining of a configured model', async () => {
    // Prepare
    const t = target();

    // Act
    const answer = await controlApi(t)(event('POST', '/_keel/retrain', JSON.stringify({ model: 'credit' })));

    // Assess
    expect(answer.statusCode).toBe(202);
    expect(t.started).toEqual([{ pipeline: 'keel-demo-credit-retraining', input: {} }]);
  });

  it.each([
    ['malformed JSON', '{"model": "credit"', 'body'],
    ['an empty body', '', 'body'],
    ['an unknown field', JSON.stringify({ model: 'credit', modle: 1 }), ''],
    ['a wrong type', JSON.stringify({ model: 7 }), 'model'],
  ])('answers %s with a 400 naming the field, not a 500', async (_, body, field) => {
    // Act
    const answer = await controlApi(target())(event('POST', '/_keel/retrain', body));

    // Assess
    expect(answer.statusCode).toBe(400);
    const parsed = JSON.parse(answer.body as string) as { error: string; issues: { path: string }[] };
    expect(parsed.error).toBe('ValidationError');
    expect(parsed.issues.map((i) => i.path)).toContain(field);
  });

  it('answers an unknown model with a 404, an unknown route with a 404 and a wrong method with a 405', async () => {
    // Prepare
    const api = controlApi(target());

    // Act
    const [model, route, method] = await Promise.all([
      api(event('POST', '/_keel/retrain', JSON.stringify({ model: 'fraud' }))),
      api(event('GET', '/_keel/nothing')),
      api(event('GET', '/_keel/retrain')),
    ]);

    // Assess
    expect(model.statusCode).toBe(404);
    expect(route.statusCode).toBe(404);
    expect(method.statusCode).toBe(405);
    expect(method.headers).toEqual({ allow: 'POST' });
  });

  it('reads path parameters: a deployment and whether it is settled', async () => {
    // Act
    const answer = await controlApi(target())(event('GET', '/_keel/deployments/d-1'));

    // Assess
    expect(answer.statusCode).toBe(200);
    expect(JSON.parse(answer.body as string)).toMatchObject({ deploymentId: 'd-1', settled: true });
  });
});
