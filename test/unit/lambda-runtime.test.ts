import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { FunctionInvocationError, NotFoundError } from '../../functions/kernel/errors.ts';
import { functionNameOf, LocalLambdaRuntime } from '../../local/lambda-runtime.ts';

class TransientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransientError';
  }
}

describe('functionNameOf', () => {
  it.each([
    ['keel-train', 'keel-train'],
    ['keel-train:live', 'keel-train'],
    ['arn:aws:lambda:eu-west-1:123456789012:function:keel-train', 'keel-train'],
    ['arn:aws:lambda:eu-west-1:123456789012:function:keel-train:7', 'keel-train'],
  ])('%s names %s', (input, name) => {
    expect(functionNameOf(input)).toBe(name);
  });
});

describe('LocalLambdaRuntime', () => {
  it('passes a complete Lambda context and returns the JSON result', async () => {
    // Prepare
    let seen: Context | undefined;
    const runtime = new LocalLambdaRuntime({ region: 'eu-west-1' }).register({
      name: 'echo',
      timeoutMs: 2000,
      memoryMb: 512,
      handler: async (event: { n: number }, context) => {
        seen = context;
        return { doubled: event.n * 2, remaining: context.getRemainingTimeInMillis() };
      },
    });

    // Act
    const result = await runtime.invoke<{ doubled: number; remaining: number }>('echo', { n: 21 });

    // Assess
    expect(result.doubled).toBe(42);
    expect(result.remaining).toBeGreaterThan(0);
    expect(result.remaining).toBeLessThanOrEqual(2000);
    expect(seen).toMatchObject({
      functionName: 'echo',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:000000000000:function:echo',
      memoryLimitInMB: '512',
      logGroupName: '/aws/lambda/echo',
    });
    expect(seen?.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('serialises payloads so the handler never shares objects with the caller', async () => {
    // Prepare
    const runtime = new LocalLambdaRuntime().register({
      name: 'mutate',
      handler: async (event: { list: number[]; when: unknown }) => {
        event.list.push(99);
        return { type: typeof event.when };
      },
    });
    const payload = { list: [1], when: new Date(0) };

    // Act
    const result = await runtime.invoke('mutate', payload);

    // Assess: the caller's object is untouched and the Date arrived as a string, as in Lambda.
    expect(payload.list).toEqual([1]);
    expect(result).toEqual({ type: 'string' });
  });

  it('surfaces a thrown error with its name as the error type', async () => {
    const runtime = new LocalLambdaRuntime().register({
      name: 'flaky',
      handler: async () => {
        throw new TransientError('try again');
      },
    });
    await expect(runtime.invoke('flaky', {})).rejects.toMatchObject({
      errorType: 'TransientError',
      functionName: 'flaky',
    });
  });

  it('times out like Lambda', async () => {
    const runtime = new LocalLambdaRuntime().register({
      name: 'slow',
      timeoutMs: 50,
      handler: () => new Promise((resolve) => setTimeout(resolve, 1000)),
    });
    const invocation = runtime.invoke('slow', {});
    await expect(invocation).rejects.toBeInstanceOf(FunctionInvocationError);
    await expect(invocation).rejects.toMatchObject({ errorType: 'Sandbox.Timedout' });
  });

  it('settles only once every handler has finished, one that outlived its timeout included', async () => {
    // Prepare: a handler that runs on after Lambda would have killed it
    let finished = false;
    const runtime = new LocalLambdaRuntime().register({
      name: 'slow',
      timeoutMs: 20,
      handler: async () => {
        await new Promise((resolve) => setTimeout(resolve, 200));
        finished = true;
      },
    });
    await expect(runtime.invoke('slow', {})).rejects.toMatchObject({ errorType: 'Sandbox.Timedout' });
    expect(finished).toBe(false);

    // Act
    await runtime.settled();

    // Assess
    expect(finished).toBe(true);
  });

  it('enforces the 6 MB request and response limits', async () => {
    // Prepare
    const big = 'x'.repeat(6 * 1024 * 1024 + 1);
    const runtime = new LocalLambdaRuntime()
      .register({ name: 'sink', handler: async () => 'ok' })
      .register({ name: 'source', handler: async () => big });

    // Act / Assess
    await expect(runtime.invoke('sink', big)).rejects.toMatchObject({
      errorType: 'RequestEntityTooLargeException',
    });
    await expect(runtime.invoke('source', {})).rejects.toMatchObject({
      errorType: 'Function.ResponseSizeTooLarge',
    });
  });

  it('resolves ARNs and qualifiers to the registered function', async () => {
    const runtime = new LocalLambdaRuntime().register({ name: 'fn', handler: async () => 'hit' });
    await expect(runtime.invoke(`${runtime.arnOf('fn')}:live`, {})).resolves.toBe('hit');
  });

  it('refuses unknown and duplicate functions', async () => {
    const runtime = new LocalLambdaRuntime().register({ name: 'fn', handler: async () => 1 });
    await expect(runtime.invoke('other', {})).rejects.toBeInstanceOf(NotFoundError);
    expect(() => runtime.register({ name: 'fn', handler: async () => 2 })).toThrow('already registered');
  });
});
