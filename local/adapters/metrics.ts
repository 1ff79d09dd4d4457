import type {
  AlarmMonitor,
  AlarmState,
  MetricDatum,
  MetricsSink,
} from '../../functions/ports/metrics-sink.ts';

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

/** One series' points in arrival order; `start` skips the expired ones until compaction. */
interface Series {
  values: number[];
  at: number[];
  start: number;
}

/**
 * In-memory CloudWatch stand-in: a {@link MetricsSink} that keeps data points for
 * `retentionMs`, and an {@link AlarmMonitor} over alarms defined on them. The clock is
 * injectable so accelerated local time and tests agree.
 */
export class LocalMetrics implements MetricsSink, AlarmMonitor {
  // Per series, so an alarm reads its own points only: at a thousand predictions a second a
  // rollout's alarms would otherwise scan millions of points of every other series.
  readonly #series = new Map<string, Series>();
  readonly #alarms = new Map<string, LocalAlarm>();
  readonly #now: () => number;
  readonly #retentionMs: number;

  constructor(options: { now?: () => number; retentionMs?: number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#retentionMs = options.retentionMs ?? 3_600_000;
  }

  async publish(namespace: string, data: readonly MetricDatum[]): Promise<void> {
    const now = this.#now();
    const horizon = now - this.#retentionMs;
    for (const datum of data) {
      const key = seriesKey(namespace, datum.name, datum.dimensions);
      let series = this.#series.get(key);
      if (series === undefined) {
        series = { values: [], at: [], start: 0 };
        this.#series.set(key, series);
      }
      series.values.push(datum.value);
      series.at.push(datum.timestamp?.getTime() ?? now);
      while (series.start < series.at.length && (series.at[series.start] as number) < horizon) series.start++;
      // Drop expired points in one splice once they are half the series (amortised O(1)).
      if (series.start > 1024 && series.start * 2 > series.at.length) {
        series.values.splice(0, series.start);
        series.at.splice(0, series.start);
        series.start = 0;
      }
    }
  }

  /** The statistic of a series over the last `periodMs`, or `undefined` without data. */
  statistic(
    namespace: string,
    metric: string,
    dimensions: Readonly<Record<string, string>> | undefined,
    statistic: Statistic,
    periodMs: number,
  ): number | undefined {
    const series = this.#series.get(seriesKey(namespace, metric, dimensions));
    if (series === undefined) return undefined;
    const since = this.#now() - periodMs;
    const values: number[] = [];
    for (let i = series.start; i < series.at.length; i++) {
      if ((series.at[i] as number) >= since) values.push(series.values[i] as number);
    }
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
  // Per data point, so per request: a code-unit sort (names are ASCII), not localeCompare.
  const dims = Object.entries(dimensions ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
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
    // Not Math.max(...values): spreading a large array overflows the stack.
    case 'Maximum':
      return values.reduce((a, b) => (b > a ? b : a), -Infinity);
    case 'Minimum':
      return values.reduce((a, b) => (b < a ? b : a), Infinity);
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
