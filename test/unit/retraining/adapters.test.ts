import { gzipSync } from 'node:zlib';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { pack } from 'tar-stream';
import { afterEach, describe, expect, it } from 'vitest';
import { DynamoApprovalStore } from '../../../functions/adapters/aws/approval-store.ts';
import { StepFunctionsPipelineRunner } from '../../../functions/adapters/aws/pipeline-runner.ts';
import { generateCredit } from '../../../functions/core/synthetic/credit.ts';
import { train } from '../../../functions/core/training/train.ts';
import { ConflictError, ValidationError } from '../../../functions/kernel/errors.ts';
import { LineageStore } from '../../../functions/lineage/store.ts';
import type { ApprovalRequest, ApprovalStore } from '../../../functions/ports/approval-store.ts';
import type { PipelineRunner } from '../../../functions/ports/pipeline-runner.ts';
import { decideApproval } from '../../../functions/retraining/approvals.ts';
import { collectSageMakerModel } from '../../../functions/retraining/sagemaker.ts';
import type { RetrainingDependencies, RetrainingState } from '../../../functions/retraining/steps.ts';
import { MemoryBlobStore } from '../../support/memory-blob-store.ts';

const sfn = mockClient(SFNClient);
const dynamo = mockClient(DynamoDBDocumentClient);

afterEach(() => {
  sfn.reset();
  dynamo.reset();
});

const pending: ApprovalRequest = {
  execution: 'arn:aws:states:us-east-1:1:execution:keel-credit-retraining:run-1',
  model: 'credit',
  taskToken: 'token-1',
  requestedAt: '2026-11-26T10:00:00.000Z',
  expiresAt: '2026-11-27T10:00:00.000Z',
  candidate: { algorithm: 'gbdt', manifestId: 'gbdt-abc', validationAuc: 0.8 },
  gates: [],
  status: 'pending',
};

describe('StepFunctionsPipelineRunner.history', () => {
  it('turns the execution history into steps, failures attributed to their state', async () => {
    // Prepare
    const at = new Date('2026-11-26T10:00:00Z');
    sfn
      .on(GetExecutionHistoryCommand)
      .resolvesOnce({
        events: [
          { id: 1, type: 'ExecutionStarted', timestamp: at },
          {
            id: 2,
            type: 'TaskStateEntered',
            timestamp: at,
            stateEnteredEventDetails: { name: 'PrepareData' },
          },
          { id: 3, type: 'LambdaFunctionScheduled', previousEventId: 2, timestamp: at },
          {
            id: 4,
            type: 'LambdaFunctionFailed',
            previousEventId: 3,
            timestamp: at,
            lambdaFunctionFailedEventDetails: { error: 'ThrottlingException' },
          },
          { id: 5, type: 'TaskStateExited', timestamp: at, stateExitedEventDetails: { name: 'PrepareData' } },
          {
            id: 6,
            type: 'ExecutionFailed',
            timestamp: at,
            executionFailedEventDetails: { error: 'Keel.PipelineFailed' },
          },
        ],
        nextToken: 'page-2',
      })
      .resolvesOnce({ events: [] });
    const runner = new StepFunctionsPipelineRunner(new SFNClient({}), {});

    // Act
    const steps = await runner.history('arn:execution');

    // Assess
    expect(steps).toEqual([
      { state: 'PrepareData', event: 'entered', at },
      { state: 'PrepareData', event: 'failed', at, error: 'ThrottlingException' },
      { state: 'PrepareData', event: 'exited', at },
    ]);
    expect(sfn.commandCalls(GetExecutionHistoryCommand)[1]?.args[0].input.nextToken).toBe('page-2');
  });
});

describe('DynamoApprovalStore', () => {
  const store = () =>
    new DynamoApprovalStore(DynamoDBDocumentClient.from(new DynamoDBClient({})), 'registry');

  it('finds a request by execution name', async () => {
    dynamo.on(GetCommand).resolves({});
    dynamo.on(QueryCommand).resolves({ Items: [{ pk: 'approval', sk: pending.execution, ...pending }] });
    expect(await store().find('run-1')).toEqual(pending);
  });

  it('refuses a second decision, naming the first', async () => {
    // Prepare
    dynamo
      .on(GetCommand)
      .resolvesOnce({ Item: { pk: 'approval', sk: pending.execution, ...pending } })
      .resolves({
        Item: { pk: 'approval', sk: pending.execution, ...pending, status: 'rejected', decidedBy: 'bo' },
      });
    dynamo.on(UpdateCommand).rejects(new ConditionalCheckFailedException({ message: 'no', $metadata: {} }));

    // Act
    const act = store().decide(pending.execution, {
      decision: 'approved',
      actor: 'ana',
      reason: 'ok',
      at: '2026-11-26T11:00:00Z',
    });

    // Assess
    await expect(act).rejects.toThrow(ConflictError);
    await expect(
      store().decide(pending.execution, {
        decision: 'approved',
        actor: 'ana',
        reason: 'ok',
        at: '2026-11-26T11:00:00Z',
      }),
    ).rejects.toThrow(/already decided: rejected by bo/);
  });
});

describe('decideApproval', () => {
  function memoryStore(request: ApprovalRequest): ApprovalStore & { decided: ApprovalRequest[] } {
    let current = request;
    const decided: ApprovalRequest[] = [];
    return {
      decided,
      put: async (r) => {
        current = r;
      },
      list: async () => [current],
      find: async () => current,
      decide: async (_, d) => {
        current = { ...current, status: d.decision, decidedBy: d.actor, decidedAt: d.at, reason: d.reason };
        decided.push(current);
        return current;
      },
    };
  }
  const runner = () => {
    const sent: { token: string; output: unknown }[] = [];
    const pipelines = {
      sendTaskSuccess: async (token: string, output: unknown) => void sent.push({ token, output }),
    } as unknown as PipelineRunner;
    return { sent, pipelines };
  };
  const now = () => new Date('2026-11-26T12:00:00Z');

  it('records who and why, then completes the task token with the decision', async () => {
    const approvals = memoryStore(pending);
    const { sent, pipelines } = runner();
    const decided = await decideApproval(
      { approvals, pipelines, now },
      { execution: 'run-1', approve: false, actor: ' bo ', reason: 'not now' },
    );
    expect(decided).toMatchObject({ status: 'rejected', decidedBy: 'bo', reason: 'not now' });
    expect(sent).toEqual([
      {
        token: 'token-1',
        output: { decision: 'rejected', actor: 'bo', reason: 'not now', at: '2026-11-26T12:00:00.000Z' },
      },
    ]);
  });

  it('lists every missing part of the decision', async () => {
    const { pipelines } = runner();
    const act = decideApproval(
      { approvals: memoryStore(pending), pipelines, now },
      { execution: 'run-1', approve: true, actor: '', reason: ' ' },
    );
    await expect(act).rejects.toBeInstanceOf(ValidationError);
    await act.catch((e: ValidationError) => expect(e.issues.map((i) => i.path)).toEqual(['actor', 'reason']));
  });

  it('refuses a decision after the timeout', async () => {
    const { sent, pipelines } = runner();
    const late = () => new Date('2026-11-28T00:00:00Z');
    const act = decideApproval(
      { approvals: memoryStore(pending), pipelines, now: late },
      { execution: 'run-1', approve: true, actor: 'ana', reason: 'ok' },
    );
    await expect(act).rejects.toThrow(/timed out at 2026-11-27T10:00:00.000Z/);
    expect(sent).toEqual([]);
  });
});

describe('collectSageMakerModel', () => {
  async function tarGz(files: Record<string, Uint8Array | string>): Promise<Uint8Array> {
    const archive = pack();
    for (const [name, content] of Object.entries(files))
      archive.entry({ name: `./${name}` }, Buffer.from(content));
    archive.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of archive) chunks.push(chunk as Buffer);
    return gzipSync(Buffer.concat(chunks));
  }

  const result = train(generateCredit({ rows: 600, seed: 3 }), {
    label: 'default',
    protected: ['sex', 'age_band'],
    exclude: ['applicant_id'],
    hyperparameters: { trees: 10 },
    dataHash: 'd'.repeat(64),
    codeVersion: 'abc1234',
  });
  const files = {
    'model.onnx': result.onnx,
    'manifest.json': JSON.stringify(result.manifest),
    'pipeline.json': JSON.stringify(result.pipeline),
    'metrics.json': JSON.stringify(result.metrics),
    'audit.json': JSON.stringify(result.audit),
    'golden-set.json': JSON.stringify(result.goldenSet),
  };
  const state = {
    sagemakerJob: {
      jobName: 'credit-1',
      modelArtifacts: 's3://lineage/sagemaker/credit-1/output/model.tar.gz',
    },
  } as unknown as RetrainingState;

  function deps(archive: Uint8Array) {
    const read: string[] = [];
    const lineage = new LineageStore(new MemoryBlobStore());
    const d = {
      lineage,
      readObject: async (uri: string) => (read.push(uri), archive),
    } as unknown as RetrainingDependencies;
    return { d, read, lineage };
  }

  it('unpacks the job’s model.tar.gz into lineage, as TrainCandidates returns it', async () => {
    // Prepare
    const { d, read, lineage } = deps(await tarGz(files));

    // Act
    const output = await collectSageMakerModel(state, d);

    // Assess
    expect(read).toEqual(['s3://lineage/sagemaker/credit-1/output/model.tar.gz']);
    expect(output.candidate.refs.model.sha256).toBe(result.manifest.hashes.model);
    expect(output.candidate.validationAuc).toBeCloseTo(result.metrics.auc, 12);
    expect(await lineage.getBytes(output.candidate.refs.model)).toEqual(result.onnx);
    expect(output.configurations).toEqual([
      {
        algorithm: 'gbdt',
        hyperparameters: result.manifest.hyperparameters,
        validationAuc: result.metrics.auc,
        manifestId: result.manifest.id,
      },
    ]);
  });

  it('names every file the training image did not write', async () => {
    const { d } = deps(await tarGz({ 'model.onnx': result.onnx, 'manifest.json': files['manifest.json'] }));
    const act = collectSageMakerModel(state, d);
    await expect(act).rejects.toBeInstanceOf(ValidationError);
    await act.catch((e: ValidationError) =>
      expect(e.issues.map((i) => i.path)).toEqual([
        'pipeline.json',
        'metrics.json',
        'audit.json',
        'golden-set.json',
      ]),
    );
  });

  it('refuses a model that is not the one its manifest names', async () => {
    const { d } = deps(await tarGz({ ...files, 'model.onnx': new Uint8Array([1, 2, 3]) }));
    await expect(collectSageMakerModel(state, d)).rejects.toThrow(/does not match its manifest/);
  });
});
