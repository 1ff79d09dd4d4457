import { randomUUID } from 'node:crypto';
import { ListMetricsCommand, PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { CreateEventBusCommand } from '@aws-sdk/client-eventbridge';
import { CreateStateMachineCommand } from '@aws-sdk/client-sfn';
import { describe, expect, it } from 'vitest';
import { EventBridgeEventBus } from '../../functions/adapters/aws/event-bus.ts';
import { CloudWatchAlarmMonitor, CloudWatchMetricsSink } from '../../functions/adapters/aws/metrics.ts';
import { StepFunctionsPipelineRunner } from '../../functions/adapters/aws/pipeline-runner.ts';
import { cloudWatchClient, eventBridgeClient, sfnClient } from '../../functions/commons/clients.ts';

/**
 * The AWS adapters of the control-plane ports, against an AWS-compatible endpoint for the
 * services it emulates (moto_server, LocalStack). Lambda invoke and CodeDeploy need Docker or
 * real AWS and are covered by aws-sdk-client-mock unit tests.
 */
describe('AWS control-plane adapters on the emulator', () => {
  const suffix = randomUUID().slice(0, 8);

  it('EventBridgeEventBus publishes to a custom bus', async () => {
    // Prepare
    const busName = `keel-events-${suffix}`;
    await eventBridgeClient().send(new CreateEventBusCommand({ Name: busName }));
    const bus = new EventBridgeEventBus(eventBridgeClient(), busName);

    // Act / Assess: 12 events need two PutEvents calls; none may be rejected.
    await expect(
      bus.publish(
        Array.from({ length: 12 }, (_, i) => ({ source: 'keel.test', detailType: 'Probe', detail: { i } })),
      ),
    ).resolves.toBeUndefined();
  });

  it('CloudWatchMetricsSink publishes data points with their dimensions', async () => {
    // Prepare
    const namespace = `Keel/Test/${suffix}`;
    const sink = new CloudWatchMetricsSink(cloudWatchClient());

    // Act
    await sink.publish(namespace, [
      { name: 'Latency', value: 3.2, unit: 'Milliseconds', dimensions: { model: 'credit' } },
      { name: 'Fallbacks', value: 1, unit: 'Count', dimensions: { model: 'credit' } },
    ]);

    // Assess
    const listed = await cloudWatchClient().send(new ListMetricsCommand({ Namespace: namespace }));
    expect(listed.Metrics?.map((m) => m.MetricName).sort()).toEqual(['Fallbacks', 'Latency']);
    expect(listed.Metrics?.[0]?.Dimensions).toEqual([{ Name: 'model', Value: 'credit' }]);
  });

  it('CloudWatchAlarmMonitor reports only alarms in ALARM', async () => {
    // Prepare
    const names = [`errors-${suffix}`, `latency-${suffix}`];
    for (const name of names) {
      await cloudWatchClient().send(
        new PutMetricAlarmCommand({
          AlarmName: name,
          Namespace: 'Keel',
          MetricName: name,
          Statistic: 'Sum',
          Period: 60,
          EvaluationPeriods: 1,
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        }),
      );
    }
    await cloudWatchClient().send(
      new SetAlarmStateCommand({ AlarmName: names[0], StateValue: 'ALARM', StateReason: 'test' }),
    );

    // Act
    const firing = await new CloudWatchAlarmMonitor(cloudWatchClient()).alarming(names);

    // Assess
    expect(firing).toEqual([names[0]]);
  });

  it('StepFunctionsPipelineRunner starts and describes an execution', async () => {
    // Prepare
    const created = await sfnClient().send(
      new CreateStateMachineCommand({
        name: `keel-probe-${suffix}`,
        roleArn: 'arn:aws:iam::123456789012:role/keel-probe',
        definition: JSON.stringify({ StartAt: 'Done', States: { Done: { Type: 'Pass', End: true } } }),
      }),
    );
    const runner = new StepFunctionsPipelineRunner(sfnClient(), { probe: created.stateMachineArn as string });

    // Act
    const { executionId } = await runner.start('probe', { reason: 'manual' }, { name: `run-${suffix}` });
    const description = await runner.describe(executionId);

    // Assess
    expect(executionId).toContain(`run-${suffix}`);
    expect(['RUNNING', 'SUCCEEDED']).toContain(description.status);
    expect(description.startedAt).toBeInstanceOf(Date);
  });
});
