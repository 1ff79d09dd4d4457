import { execFileSync } from 'node:child_process';
import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { keelHandler, toHttpError } from '../../functions/commons/middleware.ts';
import * as mini from '../../functions/contracts/zod.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../functions/kernel/errors.ts';

const context = {
  awsRequestId: 'req-1',
  functionName: 'fn',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:fn',
  memoryLimitInMB: '1024',
  logGroupName: '/aws/lambda/fn',
  logStreamName: 's',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 1000,
} as Context;

function failingWith(error: unknown, http = true) {
  return keelHandler(
    async () => {
      throw error;
    },
    { http },
  );
}

describe('keelHandler with HTTP error mapping', () => {
  it.each([
    [new ValidationError('bad request', [{ path: 'instances.0.income', message: 'expected number' }]), 400],
    [new NotFoundError('model nope not found'), 404],
    [new ConflictError('alias moved meanwhile'), 409],
  ])('maps %s to %d with its message', async (error, statusCode) => {
    // Act
    const response = await failingWith(error)({}, context);

    // Assess
    expect(response).toMatchObject({ statusCode, headers: { 'content-type': 'application/json' } });
    const body = JSON.parse((response as { body: string }).body);
    expect(body.error).toBe(error.name);
    expect(body.message).toBe(error.message);
  });

  it.each([
    ['classic zod', () => z.object({ a: z.number(), b: z.string() }).safeParse({ a: 'x' })],
    ['zod/mini', () => mini.object({ a: mini.number(), b: mini.string() }).safeParse({ a: 'x' })],
  ])('lists every field of a %s validation failure', async (_, parse) => {
    // Prepare
    const parsed = parse();
    if (parsed.success) throw new Error('fixture should fail');

    // Act
    const response = await failingWith(parsed.error)({}, context);

    // Assess
    const body = JSON.parse((response as { body: string }).body);
    expect((response as { statusCode: number }).statusCode).toBe(400);
    expect(body.issues.map((i: { path: string }) => i.path)).toEqual(['a', 'b']);
  });

  it('hides an internal error behind a 500 that carries the request id', async () => {
    const response = await failingWith(new TypeError('secret detail: db password'))({}, context);
    const body = JSON.parse((response as { body: string }).body);
    expect((response as { statusCode: number }).statusCode).toBe(500);
    expect(body).toEqual({
      error: 'InternalError',
      message: 'An internal error occurred',
      requestId: 'req-1',
    });
  });

  it('lets errors propagate for non-HTTP handlers, so Step Functions can Retry and Catch them', async () => {
    await expect(failingWith(new ValidationError('bad input'), false)({}, context)).rejects.toBeInstanceOf(
      ValidationError,
    );
  });

  it('returns the handler result untouched', async () => {
    const handler = keelHandler(async (event: { n: number }) => ({ doubled: event.n * 2 }));
    await expect(handler({ n: 2 }, context)).resolves.toEqual({ doubled: 4 });
  });
});

describe('toHttpError', () => {
  it('omits the request id when unknown', () => {
    expect(toHttpError(new Error('x'))).toEqual({
      statusCode: 500,
      body: { error: 'InternalError', message: 'An internal error occurred' },
    });
  });
});

describe('X-Ray context tracking', () => {
  // A fresh process per case: the SDK picks its mode once, when it loads.
  function loadMiddleware(env: Record<string, string>): { manual: string | undefined; namespace: boolean } {
    const script = [
      "await import('./functions/commons/middleware.ts');",
      'const ns = process.namespaces?.AWSXRay;',
      'console.log(JSON.stringify({ manual: process.env.AWS_XRAY_MANUAL_MODE, namespace: Boolean(ns) }));',
    ].join('\n');
    const base = Object.fromEntries(
      Object.entries(process.env).filter(
        ([k]) => !['AWS_EXECUTION_ENV', 'POWERTOOLS_TRACE_ENABLED', 'AWS_XRAY_MANUAL_MODE'].includes(k),
      ),
    );
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...base, ...env },
    });
    return JSON.parse(out.trim().split('\n').at(-1) as string);
  }

  it.each([
    ['outside Lambda', {}],
    [
      'in Lambda with tracing disabled',
      { AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x', POWERTOOLS_TRACE_ENABLED: 'false' },
    ],
  ])('installs no per-promise hooks %s', (_, env) => {
    // Act
    const state = loadMiddleware(env);

    // Assess
    expect(state).toEqual({ manual: 'true', namespace: false });
  });

  it('keeps automatic mode in Lambda with tracing on, where Tracer needs the context', () => {
    // Act
    const state = loadMiddleware({ AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x' });

    // Assess
    expect(state).toEqual({ namespace: true });
  });
});
