/** An event Keel publishes for pipelines and people to react to (registry changes, drift, outcomes). */
export interface KeelEvent {
  /** Reverse-DNS source, e.g. `keel.registry`. */
  readonly source: string;
  /** EventBridge `detail-type`, e.g. `ModelVersionRegistered`. */
  readonly detailType: string;
  readonly detail: Readonly<Record<string, unknown>>;
  readonly time?: Date;
}

/** Port: EventBridge delivery. Production publishes with PutEvents; locally events reach in-process subscribers. */
export interface EventBus {
  publish(events: readonly KeelEvent[]): Promise<void>;
}
