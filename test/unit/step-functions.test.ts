import { describe, expect, it, vi } from 'vitest';
import { ValidationError } from '../../functions/kernel/errors.ts';
import { LocalPipelineRunner, PipelineRunnerClosedError } from '../../local/adapters/pipeline-runner.ts';
import { LocalLambdaRuntime } from '../../local/lambda-runtime.ts';
import { LocalStateMachine, loadDefinition } from '../../local/step-functions.ts';

const FIXTURE = 'test/fixtures/state-machines/pipeline.asl.json';

class TransientError extends Error {
  constructor() {
    super('warehouse busy');
    this.name = 'TransientError';
  }
}

interface Harness {
  runner: LocalPipelineRunner;
  prepare: ReturnType<typeof vi.fn>;
  notified: { token: string; execution: string }[];
}

async function harness(prepare: (event: unknown) => Promise<unknown>): Promise<Harness> {
  const lambda = new LocalLambdaRuntime();
  const prepareFn = vi.fn(prepare);
  const notified: { token: string; execution: string }[] = [];
  lambda
    .register({ name: 'prepare', handler: prepareFn })
    .register({
      name: 'score',
      handler: async (batch: { id: number }) => ({ id: batch.id, score: batch.id / 10 }),
    })
    .register({
      name: 'notify',
      handler: async (event: { token: string; execution: string }) => {
        notified.push(event);
        return 'sent';
      },
    });
  // The same substitution names CDK's definitionSubstitutions fills.
  const definition = await loadDefinition(FIXTURE, {
    PrepareFunctionArn: lambda.arnOf('prepare'),
    ScoreFunctionArn: lambda.arnOf('score'),
    NotifyFunctionArn: lambda.arnOf('notify'),
    MinRows: '100',
  });
  const runner = new LocalPipelineRunner();
  runner.register(
    'fixture',
    new LocalStateMachine({ definition, name: 'fixture', lambda, tokens: runner.tokens, timeScale: 0.001 }),
  );
  return { runner, prepare: prepareFn, notified };
}

const enoughRows = async () => ({ rows: 150, batches: [{ id: 1 }, { id: 2 }, { id: 3 }] });

async function waitForToken(h: Harness): Promise<string> {
  await vi.waitFor(() => expect(h.notified).toHaveLength(1), { timeout: 2000 });
  return h.notified[0]?.token as string;
}

describe('LocalStateMachine', () => {
  it('runs the whole definition: lambda:invoke envelope, Choice, Map and an approved task token', async () => {
    // Prepare
    const h = await harness(enoughRows);

    // Act
    const { executionId } = await h.runner.start('fixture', { dataset: 'd1' }, { name: 'run-1' });
    const token = await waitForToken(h);
    expect(h.runner.tokens.pending).toEqual([token]);
    await h.runner.sendTaskSuccess(token, { approved: true, by: 'ana' });
    const final = await h.runner.wait(executionId);

    // Assess
    expect(final.status).toBe('SUCCEEDED');
    expect(final.output).toEqual({
      dataset: 'd1',
      prepared: { rows: 150, batches: [{ id: 1 }, { id: 2 }, { id: 3 }] },
      scores: [
        { id: 1, score: 0.1 },
        { id: 2, score: 0.2 },
        { id: 3, score: 0.3 },
      ],
      approval: { approved: true, by: 'ana' },
    });
    expect(h.notified[0]?.execution).toBe(executionId);
    expect(h.prepare).toHaveBeenCalledWith(
      { dataset: 'd1' },
      expect.objectContaining({ functionName: 'prepare' }),
    );
  });

  it('retries a transient task failure by its error name', async () => {
    // Prepare: two failures, then success.
    let calls = 0;
    const h = await harness(async () => {
      calls += 1;
      if (calls < 3) throw new TransientError();
      return { rows: 10, batches: [] };
    });

    // Act
    const { executionId } = await h.runner.start('fixture', {});
    const final = await h.runner.wait(executionId);

    // Assess: it got past Prepare and failed later, at the Choice.
    expect(calls).toBe(3);
    expect(final).toMatchObject({ status: 'FAILED', error: 'DatasetTooSmall', cause: 'not enough rows' });
  });

  it('routes a permanent failure through Catch to the recorded failure', async () => {
    const h = await harness(async () => {
      throw new RangeError('label column missing');
    });
    const final = await h.runner.wait((await h.runner.start('fixture', {})).executionId);
    expect(h.prepare).toHaveBeenCalledTimes(1);
    expect(final).toMatchObject({ status: 'FAILED', error: 'PipelineFailed' });
  });

  it('fails the waiting task when its token is failed', async () => {
    // Prepare
    const h = await harness(enoughRows);
    const { executionId } = await h.runner.start('fixture', {});
    const token = await waitForToken(h);

    // Act
    await h.runner.sendTaskFailure(token, 'Rejected', 'not fair enough');
    const final = await h.runner.wait(executionId);

    // Assess
    expect(final).toMatchObject({ status: 'FAILED', error: 'PipelineFailed' });
    await expect(h.runner.sendTaskSuccess(token, {})).rejects.toThrow('unknown or already completed');
  });

  it('makes a named start idempotent', async () => {
    const h = await harness(async () => ({ rows: 1, batches: [] }));
    const first = await h.runner.start('fixture', {}, { name: 'same' });
    const second = await h.runner.start('fixture', {}, { name: 'same' });
    expect(second.executionId).toBe(first.executionId);
    await h.runner.wait(first.executionId);
    expect(h.prepare).toHaveBeenCalledTimes(1);
  });

  it('on close aborts running executions and refuses new ones', async () => {
    // Prepare: an execution parked on its approval token
    const h = await harness(enoughRows);
    const { executionId } = await h.runner.start('fixture', {});
    await waitForToken(h);

    // Act
    h.runner.close();

    // Assess
    expect(await h.runner.wait(executionId)).toMatchObject({ status: 'ABORTED' });
    await expect(h.runner.start('fixture', {})).rejects.toBeInstanceOf(PipelineRunnerClosedError);
  });

  it('refuses a definition with a placeholder that has no substitution', async () => {
    await expect(loadDefinition(FIXTURE, { PrepareFunctionArn: 'arn:x' })).rejects.toBeInstanceOf(
      ValidationError,
    );
  });

  it('fails a task whose integration has no local handler, naming the state', async () => {
    // Prepare
    const machine = new LocalStateMachine({
      name: 'sagemaker',
      lambda: new LocalLambdaRuntime(),
      definition: {
        StartAt: 'TrainLarge',
        States: {
          TrainLarge: {
            Type: 'Task',
            Resource: 'arn:aws:states:::sagemaker:createTrainingJob.sync',
            End: true,
          },
        },
      },
    });

    // Act / Assess
    await expect(machine.run({}).result).rejects.toMatchObject({
      name: 'Keel.LocalIntegrationMissing',
      message: expect.stringContaining('TrainLarge'),
    });
  });
});
