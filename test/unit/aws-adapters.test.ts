import { CloudWatchClient, DescribeAlarmsCommand, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { CodeDeployClient, CreateDeploymentCommand, GetDeploymentCommand } from '@aws-sdk/client-codedeploy';
import { EventBridgeClient, InternalException, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  GetAliasCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  LambdaClient,
  PublishVersionCommand,
  TooManyRequestsException,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { CodeDeployDeployer } from '../../functions/adapters/aws/deployer.ts';
import { EventBridgeEventBus } from '../../functions/adapters/aws/event-bus.ts';
import { LambdaFunctionInvoker } from '../../functions/adapters/aws/function-invoker.ts';
import { CloudWatchAlarmMonitor, CloudWatchMetricsSink } from '../../functions/adapters/aws/metrics.ts';
import { StepFunctionsPipelineRunner } from '../../functions/adapters/aws/pipeline-runner.ts';
import { AwsRolloutPlatform } from '../../functions/adapters/aws/rollout.ts';
import { EventPublishError, FunctionInvocationError, NotFoundError } from '../../functions/kernel/errors.ts';

const eventBridge = mockClient(EventBridgeClient);
const cloudWatch = mockClient(CloudWatchClient);
const lambda = mockClient(LambdaClient);
const sfn = mockClient(SFNClient);
const codeDeploy = mockClient(CodeDeployClient);

afterEach(() => {
  for (const mock of [eventBridge, cloudWatch, lambda, sfn, codeDeploy]) mock.reset();
});

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

describe('EventBridgeEventBus', () => {
  const events = Array.from({ length: 23 }, (_, i) => ({
    source: 'keel.registry',
    detailType: `E${i}`,
    detail: { i },
  }));

  it('publishes in batches of 10 to the configured bus', async () => {
    // Prepare
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] });
    const bus = new EventBridgeEventBus(new EventBridgeClient({}), 'keel-events');

    // Act
    await bus.publish(events);

    // Assess
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 3);
    const first = eventBridge.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries;
    expect(first).toHaveLength(10);
    expect(first?.[0]).toEqual(
      expect.objectContaining({
        EventBusName: 'keel-events',
        Source: 'keel.registry',
        DetailType: 'E0',
        Detail: '{"i":0}',
      }),
    );
  });

  it('reports the entries EventBridge rejected', async () => {
    // Prepare
    eventBridge.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ EventId: 'a' }, { ErrorCode: 'ThrottlingException', ErrorMessage: 'slow down' }],
    });
    const bus = new EventBridgeEventBus(new EventBridgeClient({}), 'keel-events');

    // Act
    const publish = bus.publish(events.slice(0, 2));

    // Assess
    await expect(publish).rejects.toBeInstanceOf(EventPublishError);
    await expect(publish).rejects.toMatchObject({
      failures: [{ detailType: 'E1', code: 'ThrottlingException' }],
    });
  });

  it('propagates a service exception with its type', async () => {
    eventBridge.on(PutEventsCommand).rejects(new InternalException({ message: 'boom', $metadata: {} }));
    const bus = new EventBridgeEventBus(new EventBridgeClient({}), 'keel-events');
    await expect(bus.publish(events.slice(0, 1))).rejects.toBeInstanceOf(InternalException);
  });
});

describe('CloudWatchMetricsSink', () => {
  it('splits data into calls of at most 1000 points with dimensions', async () => {
    // Prepare
    cloudWatch.on(PutMetricDataCommand).resolves({});
    const sink = new CloudWatchMetricsSink(new CloudWatchClient({}));
    const data = Array.from({ length: 2500 }, (_, i) => ({
      name: 'Latency',
      value: i,
      unit: 'Milliseconds' as const,
      dimensions: { model: 'credit' },
    }));

    // Act
    await sink.publish('Keel', data);

    // Assess
    const calls = cloudWatch.commandCalls(PutMetricDataCommand);
    expect(calls.map((c) => c.args[0].input.MetricData?.length)).toEqual([1000, 1000, 500]);
    expect(calls[0]?.args[0].input.MetricData?.[0]?.Dimensions).toEqual([{ Name: 'model', Value: 'credit' }]);
  });
});

describe('CloudWatchAlarmMonitor', () => {
  it('follows pagination and returns metric and composite alarms in ALARM', async () => {
    // Prepare
    cloudWatch
      .on(DescribeAlarmsCommand)
      .resolvesOnce({
        MetricAlarms: [
          { AlarmName: 'errors', StateValue: 'ALARM' },
          { AlarmName: 'latency', StateValue: 'OK' },
        ],
        NextToken: 't',
      })
      .resolvesOnce({ CompositeAlarms: [{ AlarmName: 'canary', StateValue: 'ALARM' }] });
    const monitor = new CloudWatchAlarmMonitor(new CloudWatchClient({}));

    // Act
    const firing = await monitor.alarming(['errors', 'latency', 'canary']);

    // Assess
    expect(firing).toEqual(['errors', 'canary']);
    expect(cloudWatch).toHaveReceivedNthCommandWith(DescribeAlarmsCommand, 2, {
      NextToken: 't',
      StateValue: 'ALARM',
    });
  });
});

describe('LambdaFunctionInvoker', () => {
  it('returns the parsed payload', async () => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: encode({ ok: true }) as never });
    const invoker = new LambdaFunctionInvoker(new LambdaClient({}));
    await expect(invoker.invoke('fn', { a: 1 })).resolves.toEqual({ ok: true });
    expect(lambda).toHaveReceivedCommandWith(InvokeCommand, {
      FunctionName: 'fn',
      InvocationType: 'RequestResponse',
    });
  });

  it('turns a function error into FunctionInvocationError with its type', async () => {
    // Prepare
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: encode({ errorType: 'ValidationError', errorMessage: 'bad row' }) as never,
    });
    const invoker = new LambdaFunctionInvoker(new LambdaClient({}));

    // Act
    const invocation = invoker.invoke('fn', {});

    // Assess
    await expect(invocation).rejects.toBeInstanceOf(FunctionInvocationError);
    await expect(invocation).rejects.toMatchObject({ errorType: 'ValidationError', functionName: 'fn' });
  });

  it('invokes one version of a function, as the rollout hooks do, with the same error type', async () => {
    // Prepare
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: encode({ errorType: 'ModelTimeoutError', errorMessage: 'no answer within 50 ms' }) as never,
    });
    const platform = new AwsRolloutPlatform(new CodeDeployClient({}), new LambdaClient({}));

    // Act
    const invocation = platform.invoke('keel-credit-inference', '5', {});

    // Assess
    await expect(invocation).rejects.toBeInstanceOf(FunctionInvocationError);
    await expect(invocation).rejects.toMatchObject({
      errorType: 'ModelTimeoutError',
      functionName: 'keel-credit-inference:5',
    });
    expect(lambda).toHaveReceivedCommandWith(InvokeCommand, {
      FunctionName: 'keel-credit-inference',
      Qualifier: '5',
    });
  });

  it('propagates throttling as the SDK’s typed exception', async () => {
    lambda
      .on(InvokeCommand)
      .rejects(new TooManyRequestsException({ message: 'Rate exceeded', $metadata: {} }));
    const invoker = new LambdaFunctionInvoker(new LambdaClient({}));
    await expect(invoker.invoke('fn', {})).rejects.toBeInstanceOf(TooManyRequestsException);
  });
});

describe('StepFunctionsPipelineRunner', () => {
  const arns = { retraining: 'arn:aws:states:eu-west-1:1:stateMachine:retraining' };

  it('starts the named pipeline with a JSON input and an idempotency name', async () => {
    // Prepare
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec:1', startDate: new Date() });
    const runner = new StepFunctionsPipelineRunner(new SFNClient({}), arns);

    // Act
    const started = await runner.start('retraining', { reason: 'drift' }, { name: 'drift-2026-11-26' });

    // Assess
    expect(started).toEqual({ executionId: 'arn:exec:1' });
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: arns.retraining,
      input: '{"reason":"drift"}',
      name: 'drift-2026-11-26',
    });
  });

  it('rejects an unknown pipeline without calling AWS', async () => {
    const runner = new StepFunctionsPipelineRunner(new SFNClient({}), arns);
    await expect(runner.start('nope', {})).rejects.toBeInstanceOf(NotFoundError);
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('describes an execution with parsed output', async () => {
    sfn.on(DescribeExecutionCommand).resolves({
      status: 'FAILED',
      error: 'PerformanceGateFailed',
      cause: 'auc dropped',
      startDate: new Date(1000),
      stopDate: new Date(2000),
      output: '{"x":1}',
    });
    const runner = new StepFunctionsPipelineRunner(new SFNClient({}), arns);
    await expect(runner.describe('arn:exec:1')).resolves.toMatchObject({
      status: 'FAILED',
      error: 'PerformanceGateFailed',
      output: { x: 1 },
    });
  });

  it('propagates a missing execution as the SDK’s typed exception', async () => {
    sfn.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'nope', $metadata: {} }));
    const runner = new StepFunctionsPipelineRunner(new SFNClient({}), arns);
    await expect(runner.describe('arn:exec:2')).rejects.toBeInstanceOf(ExecutionDoesNotExist);
  });

  it('completes task tokens', async () => {
    sfn.on(SendTaskSuccessCommand).resolves({});
    sfn.on(SendTaskFailureCommand).resolves({});
    const runner = new StepFunctionsPipelineRunner(new SFNClient({}), arns);
    await runner.sendTaskSuccess('tok', { approved: true });
    await runner.sendTaskFailure('tok2', 'Rejected', 'not fair');
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, {
      taskToken: 'tok',
      output: '{"approved":true}',
    });
    expect(sfn).toHaveReceivedCommandWith(SendTaskFailureCommand, {
      taskToken: 'tok2',
      error: 'Rejected',
      cause: 'not fair',
    });
  });
});

describe('CodeDeployDeployer', () => {
  const groups = {
    'keel-serve-credit': {
      application: 'keel-serving',
      deploymentGroup: 'credit',
      hooks: { beforeAllowTraffic: 'keel-pre-traffic', afterAllowTraffic: 'keel-post-traffic' },
    },
  };
  const deployer = () => new CodeDeployDeployer(new LambdaClient({}), new CodeDeployClient({}), groups);

  it('publishes a version', async () => {
    lambda.on(PublishVersionCommand).resolves({ Version: '7' });
    await expect(deployer().publishVersion('keel-serve-credit', 'credit@3')).resolves.toEqual({
      version: '7',
    });
    expect(lambda).toHaveReceivedCommandWith(PublishVersionCommand, { Description: 'credit@3' });
  });

  it('pins a version by merging the environment into the configuration before publishing', async () => {
    // Prepare
    lambda
      .on(GetFunctionConfigurationCommand)
      .resolves({ Environment: { Variables: { A: '1', KEEL_MODEL_VERSION: '2' } } });
    lambda.on(UpdateFunctionConfigurationCommand).resolves({});
    lambda
      .on(GetFunctionCommand)
      .resolves({ Configuration: { LastUpdateStatus: 'Successful', State: 'Active' } });
    lambda.on(PublishVersionCommand).resolves({ Version: '8' });

    // Act
    const published = await deployer().publishVersion('keel-serve-credit', 'credit@3', {
      KEEL_MODEL_VERSION: '3',
    });

    // Assess
    expect(published).toEqual({ version: '8' });
    expect(lambda).toHaveReceivedCommandWith(UpdateFunctionConfigurationCommand, {
      FunctionName: 'keel-serve-credit',
      Environment: { Variables: { A: '1', KEEL_MODEL_VERSION: '3' } },
    });
    const order = lambda.calls().map((c) => c.args[0].constructor.name);
    expect(order.indexOf('UpdateFunctionConfigurationCommand')).toBeLessThan(
      order.indexOf('PublishVersionCommand'),
    );
  });

  it('starts a deployment with a Lambda AppSpec, hooks and the named configuration', async () => {
    // Prepare
    lambda.on(GetAliasCommand).resolves({ FunctionVersion: '6' });
    codeDeploy.on(CreateDeploymentCommand).resolves({ deploymentId: 'd-1' });

    // Act
    const started = await deployer().startDeployment({
      functionName: 'keel-serve-credit',
      alias: 'live',
      targetVersion: '7',
      shift: { type: 'canary', percentage: 10, intervalMinutes: 5 },
    });

    // Assess
    expect(started).toEqual({ deploymentId: 'd-1' });
    const input = codeDeploy.commandCalls(CreateDeploymentCommand)[0]?.args[0].input;
    expect(input?.deploymentConfigName).toBe('CodeDeployDefault.LambdaCanary10Percent5Minutes');
    expect(input?.applicationName).toBe('keel-serving');
    const appSpec = JSON.parse(input?.revision?.appSpecContent?.content ?? '{}');
    expect(appSpec.Resources[0]['keel-serve-credit'].Properties).toEqual({
      Name: 'keel-serve-credit',
      Alias: 'live',
      CurrentVersion: '6',
      TargetVersion: '7',
    });
    expect(appSpec.Hooks).toEqual([
      { BeforeAllowTraffic: 'keel-pre-traffic' },
      { AfterAllowTraffic: 'keel-post-traffic' },
    ]);
  });

  it('refuses a function without a deployment group', async () => {
    const start = deployer().startDeployment({
      functionName: 'other',
      alias: 'live',
      targetVersion: '2',
      shift: { type: 'all-at-once' },
    });
    await expect(start).rejects.toBeInstanceOf(NotFoundError);
    expect(codeDeploy).not.toHaveReceivedCommand(CreateDeploymentCommand);
  });

  it.each([
    ['Baking', 'InProgress', 0.1],
    ['Succeeded', 'Succeeded', 0.1],
    ['Stopped', 'Stopped', 0.1],
  ] as const)(
    'maps CodeDeploy status %s to %s with the alias weight',
    async (codeDeployStatus, status, weight) => {
      // Prepare
      const appSpec = {
        Resources: [
          {
            fn: {
              Properties: {
                Name: 'keel-serve-credit',
                Alias: 'live',
                CurrentVersion: '6',
                TargetVersion: '7',
              },
            },
          },
        ],
      };
      codeDeploy.on(GetDeploymentCommand).resolves({
        deploymentInfo: {
          status: codeDeployStatus,
          revision: { revisionType: 'AppSpecContent', appSpecContent: { content: JSON.stringify(appSpec) } },
        },
      });
      lambda
        .on(GetAliasCommand)
        .resolves({ FunctionVersion: '6', RoutingConfig: { AdditionalVersionWeights: { '7': weight } } });

      // Act
      const state = await deployer().getDeployment('d-1');

      // Assess
      expect(state).toMatchObject({ status, fromVersion: '6', targetVersion: '7' });
      expect(state.targetWeight).toBeCloseTo(weight, 10);
    },
  );

  it('reports why a deployment failed', async () => {
    const appSpec = {
      Resources: [
        {
          fn: {
            Properties: { Name: 'keel-serve-credit', Alias: 'live', CurrentVersion: '6', TargetVersion: '7' },
          },
        },
      ],
    };
    codeDeploy.on(GetDeploymentCommand).resolves({
      deploymentInfo: {
        status: 'Failed',
        errorInformation: { code: 'ALARM_ACTIVE', message: 'alarm keel-credit-errors fired' },
        revision: { revisionType: 'AppSpecContent', appSpecContent: { content: JSON.stringify(appSpec) } },
      },
    });
    lambda.on(GetAliasCommand).resolves({ FunctionVersion: '6' });
    await expect(deployer().getDeployment('d-1')).resolves.toMatchObject({
      status: 'Failed',
      targetWeight: 0,
      reason: 'alarm keel-credit-errors fired',
    });
  });
});
