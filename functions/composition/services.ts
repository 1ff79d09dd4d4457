/**
 * The domain services every composition root builds the same way from its ports: the model
 * registry over its store and event bus, the privacy ledgers, the lineage store over its bucket.
 */
import { logger } from '../commons/powertools.ts';
import { LineageStore } from '../lineage/store.ts';
import type { BlobStore, EventBus, LedgerStore, RegistryStore } from '../ports/index.ts';
import { PrivacyLedger } from '../registry/ledger.ts';
import { ModelRegistry } from '../registry/registry.ts';

/** The model registry; a committed event that could not be published is logged, not lost. */
export function registryOf(ports: { readonly registryStore: RegistryStore; readonly eventBus: EventBus }) {
  return new ModelRegistry({
    store: ports.registryStore,
    eventBus: ports.eventBus,
    onPublishError: (error, event) =>
      logger.warn('Registry event committed but not published', {
        error,
        model: event.model,
        seq: event.seq,
      }),
  });
}

/** The lineage store. */
export function lineageOf(ports: { readonly lineageBlobs: BlobStore }) {
  return new LineageStore(ports.lineageBlobs);
}

/** The privacy budget ledgers; a committed entry that could not be announced is logged, not lost. */
export function privacyLedgerOf(ports: { readonly ledgerStore: LedgerStore; readonly eventBus: EventBus }) {
  return new PrivacyLedger({
    store: ports.ledgerStore,
    eventBus: ports.eventBus,
    onPublishError: (error, entry) =>
      logger.warn('Privacy ledger entry committed but not announced', {
        error,
        ledger: entry.ledger,
        seq: entry.seq,
      }),
  });
}
