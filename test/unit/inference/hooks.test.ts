import { CloudWatchClient, GetMetricStatisticsCommand } from '@aws-sdk/client-cloudwatch';
import {
  CodeDeployClient,
  GetDeploymentCommand,
  PutLifecycleEventHookExecutionStatusCommand,
} from '@aws-sdk/client-codedeploy';
import { GetFunctionConfigurationCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AwsRolloutPlatform } from '../../../functions/adapters/aws/rollout.ts';
import { OnnxModel } from '../../../functions/core/onnx/runtime.ts';
import { generateCredit } from '../../../functions/core/synthetic/credit.ts';
import { train } from '../../../functions/core/training/train.ts';
import {
  checkGoldenResponse,
  postTraffic,
  preTraffic,
  targetOf,
} from '../../../functions/inference/hooks.ts';
import { handleHttp } from '../../../functions/inference/routes.ts';
import { onnxScorer } from '../../../functions/inference/scorers.ts';
import { InferenceService } from '../../../functions/inference/service.ts';
import { LineageStore } from '../../../functions/lineage/store.ts';
import { publishTrainingResult } from '../../../functions/registry/publish.ts';
import { ModelRegistry } from '../../../functions/registry/registry.ts';
import { MemoryBlobStore } from '../../support/memory-blob-store.ts';
import { MemoryRegistryStore } from '../../support/memory-registry-store.ts';

const codeDeploy = mockClient(CodeDeployClient);
const lambda = mockClient(LambdaClient);
const cloudWatch = mockClient(CloudWatchClient);
const platform = new AwsRolloutPlatform(
  new CodeDeployClient({}),
  new LambdaClient({}),
  new CloudWatchClient({}),
);
const result = train(generateCredit({ rows: 1500, seed: 4 }), {
  label: 'default',
  protected: ['sex'],
  algorithm: 'lr',
  dataHash: 'b'.repeat(64),
  codeVersion: 'test',
  bootstrapSamples: 20,
});
const registry = new ModelRegistry({
  store: new MemoryRegistryStore(),
  eventBus: { publish: async () => {} },
});
const lineage = new LineageStore(new MemoryBlobStore());
let model: OnnxModel;
let version: number;

const appSpec = JSON.stringify({
  version: 0,
  Resources: [
    {
      live: {
        Type: 'AWS::Lambda::Function',
        Properties: { Name: 'keel-credit-inference', Alias: 'live', CurrentVersion: '4', TargetVersion: '5' },
      },
    },
  ],
});

/** What the new version answers: the real routes over the real model, or a tampered model. */
async function respond(payload: Uint8Array | undefined, tamper = false) {
  const event = JSON.parse(new TextDecoder().decode(payload));
  const service = new InferenceService({
    modelName: 'credit',
    primary: tamper
      ? {
          ...onnxScorer(model, String(version)),
          score: async (c, n) => ({
            ...(await model.score(c, n)),
            probabilities: new Float64Array(n).fill(0.3),
          }),
        }
      : onnxScorer(model, String(version)),
    safeDefault: { probability: 1, label: 1 },
  });
  const response = await handleHttp(event, { service });
  return { Payload: new TextEncoder().encode(JSON.stringify(response)) } as never;
}

beforeAll(async () => {
  ({ version } = await publishTrainingResult(registry, lineage, result, {
    model: 'credit',
    owner: 'risk',
    intendedUse: 'tests',
    codeVersion: 'abcdef1',
    actor: 'test',
  }));
  model = await OnnxModel.load(result.onnx);
  process.env.AWS_REGION ??= 'eu-west-1';
});

afterEach(() => {
  codeDeploy.reset();
  lambda.reset();
  cloudWatch.reset();
});

afterAll(async () => {
  await model.release();
});

function prepare(tamper = false) {
  codeDeploy.on(GetDeploymentCommand).resolves({
    deploymentInfo: { revision: { revisionType: 'AppSpecContent', appSpecContent: { content: appSpec } } },
  });
  codeDeploy.on(PutLifecycleEventHookExecutionStatusCommand).resolves({});
  lambda.on(GetFunctionConfigurationCommand).resolves({
    Environment: { Variables: { KEEL_MODEL_NAME: 'credit', KEEL_MODEL_VERSION: String(version) } },
  });
  lambda.on(InvokeCommand).callsFake((input) => respond(input.Payload, tamper));
}

describe('pre-traffic hook', () => {
  it('passes a version that answers its golden set, and tells CodeDeploy', async () => {
    // Prepare
    prepare();

    // Act
    const outcome = await preTraffic(
      { registry, lineage, platform },
      { DeploymentId: 'd-1', LifecycleEventHookExecutionId: 'h-1' },
    );

    // Assess
    expect(outcome).toEqual({ passed: true, failures: [] });
    expect(lambda).toHaveReceivedCommandWith(InvokeCommand, {
      FunctionName: 'keel-credit-inference',
      Qualifier: '5',
    });
    expect(codeDeploy).toHaveReceivedCommandWith(PutLifecycleEventHookExecutionStatusCommand, {
      deploymentId: 'd-1',
      lifecycleEventHookExecutionId: 'h-1',
      status: 'Succeeded',
    });
  });

  it('fails a version whose predictions differ from the golden set', async () => {
    // Prepare
    prepare(true);

    // Act
    const outcome = await preTraffic(
      { registry, lineage, platform },
      { DeploymentId: 'd-2', LifecycleEventHookExecutionId: 'h-2' },
    );

    // Assess
    expect(outcome.passed).toBe(false);
    expect(outcome.failures[0]).toMatch(/row 0: probability 0.3/);
    expect(codeDeploy).toHaveReceivedCommandWith(PutLifecycleEventHookExecutionStatusCommand, {
      status: 'Failed',
    });
  });

  it('fails, and still reports, when the deployment cannot be read', async () => {
    // Prepare
    codeDeploy.on(GetDeploymentCommand).rejects(new Error('AccessDenied'));
    codeDeploy.on(PutLifecycleEventHookExecutionStatusCommand).resolves({});

    // Act
    const outcome = await preTraffic(
      { registry, lineage, platform },
      { DeploymentId: 'd-3', LifecycleEventHookExecutionId: 'h-3' },
    );

    // Assess
    expect(outcome).toEqual({ passed: false, failures: ['AccessDenied'] });
    expect(codeDeploy).toHaveReceivedCommandWith(PutLifecycleEventHookExecutionStatusCommand, {
      status: 'Failed',
    });
  });
});

describe('post-traffic hook', () => {
  /** Metric sums per (name, version), as CloudWatch would return them. */
  function prepareMetrics(sums: Record<string, number>, psi = 0.05) {
    codeDeploy.on(GetDeploymentCommand).resolves({
      deploymentInfo: {
        createTime: new Date('2026-11-26T10:00:00Z'),
        revision: { revisionType: 'AppSpecContent', appSpecContent: { content: appSpec } },
      },
    });
    codeDeploy.on(PutLifecycleEventHookExecutionStatusCommand).resolves({});
    lambda.on(GetFunctionConfigurationCommand).callsFake((input) => ({
      Environment: {
        Variables: { KEEL_MODEL_NAME: 'credit', KEEL_MODEL_VERSION: input.Qualifier === '5' ? '7' : '6' },
      },
    }));
    cloudWatch.on(GetMetricStatisticsCommand).callsFake((input) => {
      const version = input.Dimensions?.find((d: { Name: string }) => d.Name === 'version')?.Value;
      if (input.MetricName === 'PredictionShiftPsi') return { Datapoints: [{ Maximum: psi }] };
      return { Datapoints: [{ Sum: sums[`${input.MetricName}@${version}`] ?? 0 }] };
    });
  }
  const event = { DeploymentId: 'd-9', LifecycleEventHookExecutionId: 'h-9' };
  const now = () => new Date('2026-11-26T10:12:00Z');

  it('passes when the new version falls back no more than the old one and its predictions did not shift', async () => {
    // Prepare
    prepareMetrics({
      'ServedByPrimary@7': 990,
      'ServedByFallback@7': 10,
      'ServedByPrimary@6': 985,
      'ServedByFallback@6': 15,
    });

    // Act
    const outcome = await postTraffic({ platform }, event, now);

    // Assess
    expect(outcome).toEqual({ passed: true, failures: [] });
    expect(cloudWatch).toHaveReceivedCommandWith(GetMetricStatisticsCommand, {
      MetricName: 'ServedByFallback',
      Dimensions: expect.arrayContaining([
        { Name: 'version', Value: '7' },
        { Name: 'service', Value: 'credit-inference' },
      ]),
      Period: 720,
    });
    expect(codeDeploy).toHaveReceivedCommandWith(PutLifecycleEventHookExecutionStatusCommand, {
      status: 'Succeeded',
    });
  });

  it.each([
    [
      'falls back more than the baseline',
      {
        'ServedByPrimary@7': 900,
        'ServedByDefault@7': 100,
        'ServedByPrimary@6': 990,
        'ServedByFallback@6': 10,
      },
      0.05,
      /fallback rate 10.0 %/,
    ],
    ['shifted its predictions', { 'ServedByPrimary@7': 1000, 'ServedByPrimary@6': 1000 }, 0.4, /PSI 0.400/],
  ])('fails a version that %s', async (_, sums, psi, message) => {
    // Prepare
    prepareMetrics(sums, psi);

    // Act
    const outcome = await postTraffic({ platform }, event, now);

    // Assess
    expect(outcome.passed).toBe(false);
    expect(outcome.failures.join('; ')).toMatch(message);
    expect(codeDeploy).toHaveReceivedCommandWith(PutLifecycleEventHookExecutionStatusCommand, {
      status: 'Failed',
    });
  });
});

describe('checkGoldenResponse', () => {
  const golden = { instances: [{}, {}], probabilities: [0.1, 0.9] };
  const body = (p: number[], extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      predictions: p.map((probability) => ({
        probability,
        label: probability > 0.5 ? 1 : 0,
        prediction_id: 'x',
      })),
      model_version: '3',
      served_by: 'primary',
      ...extra,
    });

  it.each([
    ['matching answers', { statusCode: 200, body: body([0.10002, 0.9]) }, true],
    ['a different version', { statusCode: 200, body: body([0.1, 0.9], { model_version: '2' }) }, false],
    ['the fallback answering', { statusCode: 200, body: body([0.1, 0.9], { served_by: 'fallback' }) }, false],
    ['a row missing', { statusCode: 200, body: body([0.1]) }, false],
    ['an error status', { statusCode: 400, body: '{}' }, false],
    ['a body that is not JSON', { statusCode: 200, body: '<html>' }, false],
  ])('%s', (_, response, passed) => {
    expect(checkGoldenResponse(response, golden, '3').passed).toBe(passed);
  });

  it('reads the target of a Lambda AppSpec', () => {
    expect(targetOf(appSpec)).toEqual({
      functionName: 'keel-credit-inference',
      targetVersion: '5',
      currentVersion: '4',
    });
  });
});
