import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from '../../functions/kernel/errors.ts';
import type { Deployer, KeelEvent, Ports } from '../../functions/ports/index.ts';
import { LocalLambdaRuntime } from '../../local/lambda-runtime.ts';
import { SandboxError, SandboxPool } from '../../local/sandbox.ts';
import { deserializeError, serializeError } from '../../local/sandbox-protocol.ts';

const FIXTURE = new URL('../fixtures/handlers/sandboxed.ts', import.meta.url).href;

/** Ports of a pretend runtime: an event bus that records, a deployer that knows no deployment. */
function fakePorts() {
  const published: KeelEvent[] = [];
  const deployer: Partial<Deployer> = {
    getDeployment: async (id: string) => {
      throw new NotFoundError(`Deployment ${id} does not exist`);
    },
  };
  const ports = {
    eventBus: { publish: async (events: readonly KeelEvent[]) => void published.push(...events) },
    deployer,
  };
  return { published, ports: () => ports as unknown as Ports };
}

const pools: SandboxPool[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

function setup(options: { timeoutMs?: number; size?: number; idleMs?: number } = {}) {
  const fake = fakePorts();
  const pool = new SandboxPool({
    module: FIXTURE,
    ports: fake.ports,
    size: options.size ?? 2,
    ...(options.idleMs !== undefined ? { idleMs: options.idleMs } : {}),
  });
  pools.push(pool);
  const lambda = new LocalLambdaRuntime();
  const sandboxed = (name: string, exportName: string) =>
    lambda.register({
      name,
      handler: async () => {
        throw new Error('the in-process handler must not run');
      },
      ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
      sandbox: { pool, exportName },
    });
  return { pool, lambda, sandboxed, published: fake.published };
}

describe('SandboxPool through LocalLambdaRuntime', () => {
  it('runs the export in a worker thread with the Lambda contract: JSON, context, shared environment', async () => {
    // Prepare
    const { lambda, sandboxed } = setup();
    sandboxed('where', 'whereAmI');
    process.env.KEEL_SANDBOX_TEST_MARKER = 'set after the pool was made';

    // Act
    const result = await lambda.invoke<{
      threadId: number;
      doubled: number;
      functionName: string;
      remaining: number;
      marker: string | null;
    }>('where', { n: 21 });
    delete process.env.KEEL_SANDBOX_TEST_MARKER;

    // Assess
    expect(result.threadId).not.toBe(threadId);
    expect(result.doubled).toBe(42);
    expect(result.functionName).toBe('where');
    expect(result.remaining).toBeGreaterThan(0);
    expect(result.remaining).toBeLessThanOrEqual(30_000);
    expect(result.marker).toBe('set after the pool was made');
  });

  it('serves the runtime ports to the handler, and their typed errors come back typed', async () => {
    // Prepare
    const { lambda, sandboxed, published } = setup();
    sandboxed('ports', 'usePorts');

    // Act
    const result = await lambda.invoke<{ notFound: boolean; message: string }>('ports', {
      detailType: 'SandboxTested',
    });

    // Assess
    expect(published).toEqual([
      expect.objectContaining({ source: 'keel.test', detailType: 'SandboxTested', detail: { at: 1 } }),
    ]);
    expect(result).toEqual({ notFound: true, message: 'Deployment d-missing does not exist' });
  });

  it("surfaces the handler's error type and fields, as Lambda's FunctionError", async () => {
    const { lambda, sandboxed } = setup();
    sandboxed('refuse', 'refuse');

    const failure = await lambda.invoke('refuse', {}).catch((error: unknown) => error);

    expect(failure).toMatchObject({ errorType: 'ValidationError', functionName: 'refuse' });
    const cause = (failure as Error).cause;
    expect(cause).toBeInstanceOf(ValidationError);
    expect((cause as ValidationError).issues).toEqual([{ path: 'rows', message: 'must not be empty' }]);
  });

  it("never holds the caller's thread: the caller writes the file the handler waits for", async () => {
    // Prepare: run on this thread, the handler would spin 10 s and the timer below never fire
    const { lambda, sandboxed } = setup();
    sandboxed('block', 'blockUntilFile');
    const dir = await mkdtemp(join(tmpdir(), 'keel-sandbox-'));
    dirs.push(dir);
    const file = join(dir, 'go');

    // Act
    const run = lambda.invoke<{ sawFile: boolean }>('block', { file });
    setTimeout(() => void writeFile(file, 'go'), 50);

    // Assess
    expect(await run).toEqual({ sawFile: true });
  });

  it('kills a run at its timeout with its worker, as Lambda kills the sandbox; the next run gets a new one', async () => {
    // Prepare
    const { lambda, sandboxed, pool } = setup({ timeoutMs: 300 });
    sandboxed('forever', 'spinForever');
    sandboxed('where', 'whereAmI');

    // Act
    const failure = lambda.invoke('forever', {});

    // Assess
    await expect(failure).rejects.toMatchObject({ errorType: 'Sandbox.Timedout' });
    await lambda.settled(); // resolves: the spinning run is gone, not running on
    expect(pool.workers).toBe(0);
    await expect(lambda.invoke('where', { n: 1 })).resolves.toMatchObject({ doubled: 2 });
  });

  it('fails the run of a worker that dies of an uncaught error, and goes on', async () => {
    const { lambda, sandboxed } = setup();
    sandboxed('crash', 'crashLater');
    sandboxed('where', 'whereAmI');

    await expect(lambda.invoke('crash', {})).rejects.toMatchObject({
      message: expect.stringContaining('uncaught in the sandbox'),
    });
    await expect(lambda.invoke('where', { n: 2 })).resolves.toMatchObject({ doubled: 4 });
  });

  it("gives the workers a runtime's own environment object, as it is when they start", async () => {
    // Prepare
    const pool = new SandboxPool({
      module: FIXTURE,
      ports: fakePorts().ports,
      env: { ...process.env, KEEL_SANDBOX_TEST_MARKER: 'from the runtime env' },
    });
    pools.push(pool);
    const lambda = new LocalLambdaRuntime().register({
      name: 'where',
      handler: async () => undefined,
      sandbox: { pool, exportName: 'whereAmI' },
    });

    // Act
    const result = await lambda.invoke<{ marker: string | null }>('where', { n: 1 });

    // Assess
    expect(result.marker).toBe('from the runtime env');
    expect(process.env.KEEL_SANDBOX_TEST_MARKER).toBeUndefined();
  });

  it('queues runs beyond its size, and runs them all', async () => {
    const { lambda, sandboxed, pool } = setup({ size: 1 });
    sandboxed('where', 'whereAmI');

    const results = await Promise.all(
      Array.from({ length: 5 }, (_, n) => lambda.invoke<{ doubled: number }>('where', { n })),
    );

    expect(results.map((r) => r.doubled)).toEqual([0, 2, 4, 6, 8]);
    expect(pool.workers).toBe(1);
  });

  it('terminates a worker left idle, as Lambda reclaims an environment, and starts a new one when needed', async () => {
    // Prepare
    const { lambda, sandboxed, pool } = setup({ size: 1, idleMs: 200 });
    sandboxed('where', 'whereAmI');
    const first = await lambda.invoke<{ threadId: number }>('where', { n: 1 });

    // Act
    await expect.poll(() => pool.workers, { timeout: 5000 }).toBe(0);
    const second = await lambda.invoke<{ threadId: number }>('where', { n: 2 });

    // Assess: a fresh worker (thread ids are never reused in a process).
    expect(second.threadId).not.toBe(first.threadId);
    expect(pool.workers).toBe(1);
  });

  it('keeps a worker busy past the idle time, and a worker used again in time', async () => {
    const { lambda, sandboxed, pool } = setup({ size: 1, idleMs: 1500 });
    sandboxed('where', 'whereAmI');
    const first = await lambda.invoke<{ threadId: number }>('where', { n: 1 });
    await new Promise((r) => setTimeout(r, 500));
    const second = await lambda.invoke<{ threadId: number }>('where', { n: 2 });
    expect(second.threadId).toBe(first.threadId);
    expect(pool.workers).toBe(1);
  });

  it('refuses runs once closed', async () => {
    const { pool } = setup();
    await pool.close();
    await expect(
      pool.run('whereAmI', '{}', {
        functionName: 'x',
        functionVersion: '$LATEST',
        invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:x',
        memoryLimitInMB: '128',
        awsRequestId: 'r',
        logGroupName: 'g',
        logStreamName: 's',
        timeoutMs: 1000,
      }),
    ).rejects.toBeInstanceOf(SandboxError);
  });
});

describe('sandbox error transport', () => {
  it('keeps class, fields and cause of Keel errors, and name and message of any other', () => {
    // Prepare
    const original = new ValidationError('Bad', [{ path: 'a', message: 'b' }], {
      cause: Object.assign(new Error('inner'), { name: 'ThrottlingException', code: 429 }),
    });

    // Act
    const copy = deserializeError(structuredClone(serializeError(original)));

    // Assess
    expect(copy).toBeInstanceOf(ValidationError);
    expect(copy.message).toBe(original.message);
    expect((copy as ValidationError).issues).toEqual(original.issues);
    expect((copy as ValidationError).summary).toBe('Bad');
    expect(copy.cause).toMatchObject({ name: 'ThrottlingException', message: 'inner', code: 429 });
    expect(copy.cause).not.toBeInstanceOf(ValidationError);
  });
});
