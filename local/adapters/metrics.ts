import type {
  AlarmMonitor,
  AlarmState,
  MetricDatum,
  MetricsSink,
} from '../../functions/commons/ports/metrics-sink.ts';

export type Statistic = 'Sum' | 'Average' | 'Maximum' | 'Minimum' | 'SampleCount' | `p${number}`;

/** A local alarm, evaluated like a CloudWatch metric alarm over the most recent period. */
export interface LocalAlarm {
  readonly name: string;
  readonly namespace: string;
  readonly metric: string;
  readonly dimensions?: Readonly<Record<string, string>>;
  readonly statistic: Statistic;
  readonly periodMs: number;
  readonly threshold: number;
  readonly comparison: '>' | '>=' | '<' | '<=';
}

interface StoredDatum {
  readonly key: string;
  readonly value: number;
  readonly at: number;
}

/**
 * In-memory CloudWatch stand-in: a {@link MetricsSink} that keeps data points for
 * `retentionMs`, and an {@link AlarmMonitor} over alarms defined on them. The clock is
 * injectable so accelerated local time and tests agree.
 */
export class LocalMetrics implements MetricsSink, AlarmMonitor {
  readonly #data: StoredDatum[] = [];
  readonly #alarms = new Map<string, LocalAlarm>();
  readonly #now: () => number;
  readonly #retentionMs: number;

  constructor(options: { now?: () => number; retentionMs?: number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#retentionMs = options.retentionMs ?? 3_600_000;
  }

  async publish(namespace: string, data: readonly MetricDatum[]): Promise<void> {
    const now = this.#now();
    for (const datum of data) {
      this.#data.push({
        key: seriesKey(namespace, datum.name, datum.dimensions),
        value: datum.value,
        at: datum.timestamp?.getTime() ?? now,
      });
    }
    const horizon = now - this.#retentionMs;
    while (this.#data.length > 0 && (this.#data[0]?.at ?? now) < horizon) this.#data.shift();
  }

  /** The statistic of a series over the last `periodMs`, or `undefined` without data. */
  statistic(
    namespace: string,
    metric: string,
    dimensions: Readonly<Record<string, string>> | undefined,
    statistic: Statistic,
    periodMs: number,
  ): number | undefined {
    const key = seriesKey(namespace, metric, dimensions);
    const since = this.#now() - periodMs;
    const values = this.#data.filter((d) => d.key === key && d.at >= since).map((d) => d.value);
    return aggregate(values, statistic);
  }

  defineAlarm(alarm: LocalAlarm): void {
    this.#alarms.set(alarm.name, alarm);
  }

  state(alarmName: string): AlarmState {
    const alarm = this.#alarms.get(alarmName);
    if (alarm === undefined) return 'INSUFFICIENT_DATA';
    const value = this.statistic(
      alarm.namespace,
      alarm.metric,
      alarm.dimensions,
      alarm.statistic,
      alarm.periodMs,
    );
    if (value === undefined) return 'INSUFFICIENT_DATA';
    return breaches(value, alarm.comparison, alarm.threshold) ? 'ALARM' : 'OK';
  }

  async alarming(alarmNames: readonly string[]): Promise<string[]> {
    return alarmNames.filter((name) => this.state(name) === 'ALARM');
  }
}

function seriesKey(namespace: string, metric: string, dimensions?: Readonly<Record<string, string>>): string {
  const dims = Object.entries(dimensions ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return `${namespace}|${metric}|${dims}`;
}

function breaches(value: number, comparison: LocalAlarm['comparison'], threshold: number): boolean {
  switch (comparison) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
  }
}

/** CloudWatch's statistics; percentiles use the nearest-rank method. */
export function aggregate(values: readonly number[], statistic: Statistic): number | undefined {
  if (values.length === 0) return undefined;
  switch (statistic) {
    case 'Sum':
      return values.reduce((a, b) => a + b, 0);
    case 'Average':
      return values.reduce((a, b) => a + b, 0) / values.length;
    case 'Maximum':
      return Math.max(...values);
    case 'Minimum':
      return Math.min(...values);
    case 'SampleCount':
      return values.length;
    default: {
      const p = Number(statistic.slice(1));
      const sorted = [...values].sort((a, b) => a - b);
      const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
      return sorted[rank - 1];
    }
  }
}
