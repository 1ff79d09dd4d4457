import type { EventBus, KeelEvent } from '../../functions/ports/event-bus.ts';

/** Which events a subscription receives, like an EventBridge rule's pattern on source and detail-type. */
export interface EventPattern {
  readonly source?: readonly string[];
  readonly detailType?: readonly string[];
}

export type EventSubscriber = (event: KeelEvent) => Promise<void> | void;

/**
 * {@link EventBus} delivered in-process. As in EventBridge, `publish` only accepts the events;
 * delivery is asynchronous and a failing subscriber never fails the publisher (its error goes
 * to `onDeliveryError`). Every accepted event is kept in `published`, for status and tests.
 */
export class LocalEventBus implements EventBus {
  readonly published: KeelEvent[] = [];
  readonly #subscriptions: { pattern: EventPattern; subscriber: EventSubscriber }[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  readonly #onDeliveryError: (error: unknown, event: KeelEvent) => void;

  constructor(options: { onDeliveryError?: (error: unknown, event: KeelEvent) => void } = {}) {
    this.#onDeliveryError = options.onDeliveryError ?? (() => {});
  }

  subscribe(pattern: EventPattern, subscriber: EventSubscriber): () => void {
    const subscription = { pattern, subscriber };
    this.#subscriptions.push(subscription);
    return () => {
      const index = this.#subscriptions.indexOf(subscription);
      if (index >= 0) this.#subscriptions.splice(index, 1);
    };
  }

  async publish(events: readonly KeelEvent[]): Promise<void> {
    for (const event of events) {
      const accepted = { ...event, time: event.time ?? new Date() };
      this.published.push(accepted);
      for (const { pattern, subscriber } of this.#subscriptions) {
        if (!matches(pattern, accepted)) continue;
        // Deliver on a later turn of the event loop: the publisher never waits for targets.
        const delivery = new Promise<void>((resolve) => setImmediate(resolve))
          .then(() => subscriber(accepted))
          .catch((error: unknown) => this.#onDeliveryError(error, accepted))
          .finally(() => this.#inFlight.delete(delivery));
        this.#inFlight.add(delivery);
      }
    }
  }

  /** Resolves once every delivery started so far (and any they cause) has finished. */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }
}

function matches(pattern: EventPattern, event: KeelEvent): boolean {
  return (
    (pattern.source === undefined || pattern.source.includes(event.source)) &&
    (pattern.detailType === undefined || pattern.detailType.includes(event.detailType))
  );
}
