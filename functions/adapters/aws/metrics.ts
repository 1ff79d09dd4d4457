import {
  type CloudWatchClient,
  type MetricDatum as CloudWatchDatum,
  PutMetricDataCommand,
  paginateDescribeAlarms,
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
      const pages = paginateDescribeAlarms(
        { client: this.#client },
        { AlarmNames: alarmNames.slice(start, start + MAX_ALARM_NAMES_PER_CALL), StateValue: 'ALARM' },
      );
      for await (const page of pages) {
        // Filter on the state again: some emulators (moto) ignore StateValue when names are given.
        for (const alarm of [...(page.MetricAlarms ?? []), ...(page.CompositeAlarms ?? [])]) {
          if (alarm.AlarmName && alarm.StateValue === 'ALARM') firing.push(alarm.AlarmName);
        }
      }
    }
    return firing;
  }
}

/**
 * {@link MetricsSink} as CloudWatch Embedded Metric Format lines on stdout: inside Lambda the
 * log line becomes the metric, with no API call and no permission. One line per namespace and
 * dimension set (EMF allows 100 metrics a line). Written by hand rather than with Powertools
 * Metrics, which adds a `service` dimension to every metric: the per-model alarms and
 * dashboards name exactly the dimensions given here.
 */
export class EmfMetricsSink implements MetricsSink {
  readonly #write: (line: string) => void;

  /** @param write @default a line on stdout */
  constructor(write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)) {
    this.#write = write;
  }

  async publish(namespace: string, data: readonly MetricDatum[]): Promise<void> {
    const groups = new Map<string, MetricDatum[]>();
    for (const datum of data) {
      const key = JSON.stringify([
        datum.timestamp?.getTime() ?? null,
        Object.entries(datum.dimensions ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)),
      ]);
      groups.set(key, [...(groups.get(key) ?? []), datum]);
    }
    for (const group of groups.values()) {
      for (let start = 0; start < group.length; start += 100) {
        const batch = group.slice(start, start + 100);
        const first = batch[0] as MetricDatum;
        const dimensions = first.dimensions ?? {};
        const values: Record<string, number | number[]> = {};
        const units = new Map<string, string>();
        for (const d of batch) {
          const seen = values[d.name];
          values[d.name] = seen === undefined ? d.value : [...(Array.isArray(seen) ? seen : [seen]), d.value];
          units.set(d.name, d.unit);
        }
        this.#write(
          JSON.stringify({
            _aws: {
              Timestamp: first.timestamp?.getTime() ?? Date.now(),
              CloudWatchMetrics: [
                {
                  Namespace: namespace,
                  Dimensions: [Object.keys(dimensions)],
                  Metrics: [...units].map(([Name, Unit]) => ({ Name, Unit })),
                },
              ],
            },
            ...dimensions,
            ...values,
          }),
        );
      }
    }
  }
}
