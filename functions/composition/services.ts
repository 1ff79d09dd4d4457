/**
 * The domain services every composition root builds the same way from its ports: the model
 * registry over its store and event bus, the lineage store over its bucket.
 */
import { logger } from '../commons/powertools.ts';
import { LineageStore } from '../lineage/store.ts';
import type { BlobStore, EventBus, RegistryStore } from '../ports/index.ts';
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
