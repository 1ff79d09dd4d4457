import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { HeadBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventBridgeEventBus } from '../../functions/adapters/aws/event-bus.ts';
import { dynamoDbClient, s3Client } from '../../functions/commons/clients.ts';
import { ports } from '../../functions/composition/aws.ts';
import { loadConfig } from '../../functions/contracts/config/load.ts';
import { retrainingFunctionName } from '../../functions/contracts/retraining.ts';
import { FunctionInvocationError } from '../../functions/kernel/errors.ts';
import { PipelineRunnerClosedError } from '../../local/adapters/pipeline-runner.ts';
import {
  LocalRuntime,
  RUNTIME_FILE,
  type RuntimeConnection,
  StateDirLockedError,
} from '../../local/runtime.ts';
import { LocalStateMachine } from '../../local/step-functions.ts';
import { isListening } from '../support/net.ts';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'keel-runtime-'));
  dirs.push(dir);
  return dir;
}

describe('LocalRuntime', () => {
  it('boots embedded AWS, provisions resources, installs local ports, and undoes it all on stop', async () => {
    // Prepare
    const config = await loadConfig('keel.config.json');
    const envBefore = { ...process.env };

    // Act
    const runtime = await LocalRuntime.start({ config, ephemeral: true });
    const description = runtime.describe();
    const table = await dynamoDbClient().send(
      new DescribeTableCommand({ TableName: runtime.resources.table }),
    );
    const bucket = s3Client().send(new HeadBucketCommand({ Bucket: runtime.resources.lineageBucket }));
    const installed = ports();

    // Assess: running
    expect(description.aws.mode).toBe('embedded');
    expect(process.env.AWS_ENDPOINT_URL_DYNAMODB).toBe(description.aws.dynamodb);
    expect(process.env.KEEL_TABLE_NAME).toBe('keel-registry');
    expect(table.Table?.TableStatus).toBe('ACTIVE');
    await expect(bucket).resolves.toBeDefined();
    expect(installed.eventBus).toBe(runtime.eventBus);
    expect(installed.deployer).toBe(runtime.deployer);
    expect(installed.functionInvoker).toBe(runtime.lambda);

    // Act: stop
    await runtime.stop();

    // Assess: stopped
    expect(await isListening(description.aws.dynamodb)).toBe(false);
    expect(await isListening(description.aws.s3)).toBe(false);
    expect(process.env.AWS_ENDPOINT_URL_DYNAMODB).toBe(envBefore.AWS_ENDPOINT_URL_DYNAMODB);
    expect(process.env.KEEL_TABLE_NAME).toBe(envBefore.KEEL_TABLE_NAME);
    expect(ports().eventBus).toBeInstanceOf(EventBridgeEventBus);
  });

  it('keeps state in its directory and refuses a second process on it', async () => {
    // Prepare
    const config = await loadConfig('keel.config.json');
    const stateDir = await tempDir();
    // A live process that is not us holds the lock: our parent.
    await writeFile(join(stateDir, 'keel.pid'), String(process.ppid));

    // Act / Assess
    await expect(LocalRuntime.start({ config, stateDir })).rejects.toBeInstanceOf(StateDirLockedError);

    // A stale lock (dead pid) is taken over.
    await writeFile(join(stateDir, 'keel.pid'), '999999999');
    const runtime = await LocalRuntime.start({ config, stateDir });
    expect(runtime.describe().stateDir).toBe(stateDir);
    await runtime.stop();
  });

  it('announces an ephemeral runtime in the state directory without keeping state there', async () => {
    // Prepare
    const config = await loadConfig('keel.config.json');
    const stateDir = await tempDir();

    // Act
    const runtime = await LocalRuntime.start({ config, stateDir, ephemeral: true, announce: true, port: 0 });
    const announced = JSON.parse(await readFile(join(stateDir, RUNTIME_FILE), 'utf8')) as RuntimeConnection;
    const files = await readdir(stateDir);
    await runtime.stop();

    // Assess: reachable while it ran (URL and emulator endpoints), no state, nothing left after
    expect(announced.url).toBe(runtime.url);
    expect(announced.env.AWS_ENDPOINT_URL_S3).toBe(runtime.describe().aws.s3);
    expect(runtime.describe().stateDir).toBeNull();
    expect(files.sort()).toEqual(['keel.pid', RUNTIME_FILE]);
    expect(await readdir(stateDir)).toEqual([]);
  });

  it.each([
    [true, 1],
    [false, 0],
  ])(
    'with sandboxes %s runs pipeline steps in %d worker(s), and errors reach the caller typed',
    async (sandboxes, workers) => {
      // Prepare
      const config = await loadConfig('keel.config.json');
      const runtime = await LocalRuntime.start({ config, ephemeral: true, sandboxes });

      // Act: a training step on a state without data
      const failure = await runtime.lambda
        .invoke(retrainingFunctionName(config.project, 'train'), { settings: { project: config.project } })
        .catch((error: unknown) => error);
      const alive = runtime.sandboxes.reduce((sum, pool) => sum + pool.workers, 0);
      await runtime.stop();

      // Assess
      expect(failure).toBeInstanceOf(FunctionInvocationError);
      expect((failure as FunctionInvocationError).errorType).toBe('ValidationError');
      expect(alive).toBe(workers);
      expect(runtime.sandboxes.every((pool) => pool.workers === 0)).toBe(true);
    },
  );

  it('on stop lets a running pipeline task finish its writes before the emulators close', async () => {
    // Prepare: a task that writes to S3 well after the stop begins (a training step, say)
    const config = await loadConfig('keel.config.json');
    const runtime = await LocalRuntime.start({ config, ephemeral: true });
    const bucket = runtime.resources.lineageBucket;
    let entered = false;
    let written = false;
    runtime.lambda.register({
      name: 'slow-writer',
      handler: async () => {
        entered = true;
        await new Promise((resolve) => setTimeout(resolve, 300));
        await s3Client().send(new PutObjectCommand({ Bucket: bucket, Key: 'late/object', Body: 'x' }));
        written = true;
      },
    });
    runtime.pipelines.register(
      'slow',
      new LocalStateMachine({
        name: 'slow',
        lambda: runtime.lambda,
        definition: {
          StartAt: 'Write',
          States: { Write: { Type: 'Task', Resource: runtime.lambda.arnOf('slow-writer'), End: true } },
        },
      }),
    );
    const { executionId } = await runtime.pipelines.start('slow', {});
    await vi.waitFor(() => expect(entered).toBe(true));

    // Act
    await runtime.stop();

    // Assess: aborted, yet its write landed before the emulators went; nothing new starts
    expect(written).toBe(true);
    expect(await runtime.pipelines.describe(executionId)).toMatchObject({ status: 'ABORTED' });
    await expect(runtime.pipelines.start('slow', {})).rejects.toBeInstanceOf(PipelineRunnerClosedError);
  });
});
