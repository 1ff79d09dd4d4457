import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { eventBridgeClient } from '../../commons/clients.ts';
import { EventPublishError } from '../../kernel/errors.ts';
import type { EventBus, KeelEvent } from '../../ports/event-bus.ts';

/** PutEvents accepts at most 10 entries per call. */
const MAX_ENTRIES_PER_CALL = 10;

/** {@link EventBus} on Amazon EventBridge. */
export class EventBridgeEventBus implements EventBus {
  readonly #client: EventBridgeClient;
  readonly #busName: string;

  constructor(client: EventBridgeClient, busName: string) {
    this.#client = client;
    this.#busName = busName;
  }

  async publish(events: readonly KeelEvent[]): Promise<void> {
    const failures: EventPublishError['failures'][number][] = [];
    for (let start = 0; start < events.length; start += MAX_ENTRIES_PER_CALL) {
      const batch = events.slice(start, start + MAX_ENTRIES_PER_CALL);
      const entries: PutEventsRequestEntry[] = batch.map((event) => ({
        EventBusName: this.#busName,
        Source: event.source,
        DetailType: event.detailType,
        Detail: JSON.stringify(event.detail),
        Time: event.time,
      }));
      const response = await this.#client.send(new PutEventsCommand({ Entries: entries }));
      if (!response.FailedEntryCount) continue;
      // Entries in the response are positional: a failed one carries an ErrorCode.
      response.Entries?.forEach((entry, index) => {
        if (entry.ErrorCode === undefined) return;
        failures.push({
          detailType: batch[index]?.detailType ?? 'unknown',
          code: entry.ErrorCode,
          message: entry.ErrorMessage,
        });
      });
    }
    if (failures.length > 0) throw new EventPublishError(failures);
  }
}

/** The bus named `name` through this process's EventBridge client. */
export function eventBridgeBus(name: string): EventBridgeEventBus {
  return new EventBridgeEventBus(eventBridgeClient(), name);
}
