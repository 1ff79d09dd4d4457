export type MetricUnit = 'Count' | 'Milliseconds' | 'Percent' | 'None';

export interface MetricDatum {
  readonly name: string;
  readonly value: number;
  readonly unit: MetricUnit;
  readonly dimensions?: Readonly<Record<string, string>>;
  readonly timestamp?: Date;
}

/**
 * Port: metric publication outside a Lambda invocation (for example, from a pipeline step).
 * Handlers emit their metrics as EMF through Powertools; this port is for everything else and
 * for the local runtime, whose alarms are computed from what it records.
 */
export interface MetricsSink {
  publish(namespace: string, data: readonly MetricDatum[]): Promise<void>;
}

export type AlarmState = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';

/** Port: CloudWatch alarm state, read by deployments to decide on rollback. */
export interface AlarmMonitor {
  /** The subset of `alarmNames` currently in ALARM. */
  alarming(alarmNames: readonly string[]): Promise<string[]>;
}
