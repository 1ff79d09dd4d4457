/**
 * Storage port of the registry. The event log is the source of truth; the other records are
 * projections that make reads cheap and can always be rebuilt from the log.
 */
import type { Attribution, ModelState, RegistryEvent, VersionStatus } from '../contracts/registry.ts';

/** Projection of a version: its immutable registration and its latest status change. */
export interface StoredVersion {
  readonly model: string;
  readonly version: number;
  /** As stored; the registry validates it on read. */
  readonly metadata: unknown;
  readonly registeredAt: string;
  readonly registeredBy: string;
  readonly registrationReason: string;
  readonly status?: VersionStatus;
  readonly statusReason?: string;
  readonly statusAt?: string;
  readonly statusBy?: string;
}

export interface StoredEvaluation {
  readonly model: string;
  readonly version: number;
  readonly seq: number;
  readonly at: string;
  readonly actor: string;
  readonly reason: string;
  readonly evaluation: unknown;
}

export interface StoredModel {
  readonly model: string;
  readonly latestVersion: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly seq: number;
  readonly state: ModelState;
}

/** The end of a model's log: its last sequence number and the state after it. */
export interface LogHead {
  readonly seq: number;
  readonly state: ModelState;
}

export interface Page<T> {
  readonly items: T[];
  /** Opaque; pass back to get the next page. Absent on the last page. */
  readonly cursor?: string;
}

export interface RegistryStore {
  /**
   * The true end of the model's log (strongly consistent), or undefined for an unknown model.
   * Implementations may keep a head record as a hint, but must confirm that no later event exists.
   */
  head(model: string): Promise<LogHead | undefined>;
  /**
   * Appends `event` unless its `seq` is taken (false: another writer got there first), then
   * advances the head record and the model summary.
   */
  appendEvent(event: RegistryEvent): Promise<boolean>;
  /** Events in `seq` order, from `afterSeq` (exclusive). */
  events(model: string, options?: { afterSeq?: number; limit?: number }): Promise<Page<RegistryEvent>>;

  /** Projection writes: idempotent, and never move a record backwards (guarded by `seq`). */
  projectRegistration(version: StoredVersion, seq: number): Promise<void>;
  projectStatus(
    model: string,
    version: number,
    status: VersionStatus,
    change: Attribution & { at: string },
    seq: number,
  ): Promise<void>;
  projectEvaluation(evaluation: StoredEvaluation): Promise<void>;

  getVersion(model: string, version: number): Promise<StoredVersion | undefined>;
  listVersions(model: string, options?: { limit?: number; cursor?: string }): Promise<Page<StoredVersion>>;
  evaluations(model: string, version: number): Promise<StoredEvaluation[]>;
  listModels(options?: { limit?: number; cursor?: string }): Promise<Page<StoredModel>>;
}
