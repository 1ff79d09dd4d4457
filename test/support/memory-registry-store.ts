import type { RegistryEvent, VersionStatus } from '../../functions/contracts/registry.ts';
import type {
  Page,
  RegistryStore,
  StoredEvaluation,
  StoredModel,
  StoredVersion,
} from '../../functions/ports/registry-store.ts';

/**
 * An in-memory {@link RegistryStore} with the same conditional semantics as the DynamoDB one,
 * so the registry's rules can be property-tested quickly. Values are deep-copied in and out,
 * as a database would.
 */
export class MemoryRegistryStore implements RegistryStore {
  readonly events_ = new Map<string, RegistryEvent[]>();
  readonly versions = new Map<string, StoredVersion & { statusSeq?: number }>();
  readonly evals: StoredEvaluation[] = [];
  readonly models = new Map<string, StoredModel>();

  async head(model: string) {
    const last = this.events_.get(model)?.at(-1);
    return last === undefined ? undefined : structuredClone({ seq: last.seq, state: last.state });
  }

  async appendEvent(event: RegistryEvent) {
    const log = this.events_.get(event.model) ?? [];
    if ((log.at(-1)?.seq ?? 0) >= event.seq) return false;
    log.push(structuredClone(event));
    this.events_.set(event.model, log);
    const existing = this.models.get(event.model);
    this.models.set(event.model, {
      model: event.model,
      latestVersion: event.state.versionCount,
      createdAt: existing?.createdAt ?? event.at,
      updatedAt: event.at,
      seq: event.seq,
      state: structuredClone(event.state),
    });
    return true;
  }

  async events(
    model: string,
    options: { afterSeq?: number; limit?: number } = {},
  ): Promise<Page<RegistryEvent>> {
    const all = (this.events_.get(model) ?? []).filter((e) => e.seq > (options.afterSeq ?? 0));
    const items = structuredClone(all.slice(0, options.limit ?? all.length));
    const last = items.at(-1);
    return { items, ...(items.length < all.length && last ? { cursor: String(last.seq) } : {}) };
  }

  async projectRegistration(version: StoredVersion) {
    const key = `${version.model}#${version.version}`;
    const existing = this.versions.get(key);
    if (existing?.registeredAt !== undefined && existing.metadata !== undefined) return;
    this.versions.set(key, { ...existing, ...structuredClone(version) });
  }

  async projectStatus(
    model: string,
    version: number,
    status: VersionStatus,
    change: { actor: string; reason: string; at: string },
    seq: number,
  ) {
    const key = `${model}#${version}`;
    const existing = this.versions.get(key) ?? ({ model, version } as StoredVersion & { statusSeq?: number });
    if ((existing.statusSeq ?? 0) >= seq) return;
    this.versions.set(key, {
      ...existing,
      status,
      statusReason: change.reason,
      statusAt: change.at,
      statusBy: change.actor,
      statusSeq: seq,
    });
  }

  async projectEvaluation(evaluation: StoredEvaluation) {
    if (this.evals.some((e) => e.model === evaluation.model && e.seq === evaluation.seq)) return;
    this.evals.push(structuredClone(evaluation));
  }

  async getVersion(model: string, version: number) {
    const stored = this.versions.get(`${model}#${version}`);
    return stored?.registeredAt === undefined ? undefined : structuredClone(stored);
  }

  async listVersions(model: string, options: { limit?: number; cursor?: string } = {}) {
    const after = Number(options.cursor ?? 0);
    const all = [...this.versions.values()]
      .filter((v) => v.model === model && v.version > after && v.registeredAt !== undefined)
      .sort((a, b) => a.version - b.version);
    const items = structuredClone(all.slice(0, options.limit ?? all.length));
    const last = items.at(-1);
    return { items, ...(items.length < all.length && last ? { cursor: String(last.version) } : {}) };
  }

  async evaluations(model: string, version: number) {
    return structuredClone(this.evals.filter((e) => e.model === model && e.version === version));
  }

  async listModels(options: { limit?: number; cursor?: string } = {}) {
    const all = [...this.models.values()]
      .filter((m) => m.model > (options.cursor ?? ''))
      .sort((a, b) => a.model.localeCompare(b.model));
    const items = structuredClone(all.slice(0, options.limit ?? all.length));
    const last = items.at(-1);
    return { items, ...(items.length < all.length && last ? { cursor: last.model } : {}) };
  }
}
