import {
  type CloudWatchClient,
  type MetricDatum as CloudWatchDatum,
  DescribeAlarmsCommand,
  PutMetricDataCommand,
} from '@aws-sdk/client-cloudwatch';
import type { AlarmMonitor, MetricDatum, MetricsSink } from '../../ports/metrics-sink.ts';

/** PutMetricData accepts at most 1,000 data points per call. */
const MAX_DATA_PER_CALL = 1000;
/** DescribeAlarms accepts at most 100 alarm names per call. */
const MAX_ALARM_NAMES_PER_CALL = 100;

/** {@link MetricsSink} on CloudWatch PutMetricData. */
export class CloudWatchMetricsSink implements MetricsSink {
  readonly #client: CloudWatchClient;

  constructor(client: CloudWatchClient) {
    this.#client = client;
  }

  async publish(namespace: string, data: readonly MetricDatum[]): Promise<void> {
    for (let start = 0; start < data.length; start += MAX_DATA_PER_CALL) {
      const metricData: CloudWatchDatum[] = data.slice(start, start + MAX_DATA_PER_CALL).map((datum) => ({
        MetricName: datum.name,
        Value: datum.value,
        Unit: datum.unit,
        Timestamp: datum.timestamp,
        Dimensions: Object.entries(datum.dimensions ?? {}).map(([Name, Value]) => ({ Name, Value })),
      }));
      await this.#client.send(new PutMetricDataCommand({ Namespace: namespace, MetricData: metricData }));
    }
  }
}

/** {@link AlarmMonitor} on CloudWatch DescribeAlarms. */
export class CloudWatchAlarmMonitor implements AlarmMonitor {
  readonly #client: CloudWatchClient;

  constructor(client: CloudWatchClient) {
    this.#client = client;
  }

  async alarming(alarmNames: readonly string[]): Promise<string[]> {
    const firing: string[] = [];
    for (let start = 0; start < alarmNames.length; start += MAX_ALARM_NAMES_PER_CALL) {
      let nextToken: string | undefined;
      do {
        const page = await this.#client.send(
          new DescribeAlarmsCommand({
            AlarmNames: alarmNames.slice(start, start + MAX_ALARM_NAMES_PER_CALL),
            StateValue: 'ALARM',
            NextToken: nextToken,
          }),
        );
        // Filter on the state again: some emulators (moto) ignore StateValue when names are given.
        for (const alarm of [...(page.MetricAlarms ?? []), ...(page.CompositeAlarms ?? [])]) {
          if (alarm.AlarmName && alarm.StateValue === 'ALARM') firing.push(alarm.AlarmName);
        }
        nextToken = page.NextToken;
      } while (nextToken);
    }
    return firing;
  }
}
