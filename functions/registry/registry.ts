/**
 * The model registry: versions, statuses, aliases, evaluations and an append-only audit log.
 *
 * Design: every mutation appends one event to the model's log with a conditional write on
 * the next sequence number. That append is the only commit point: the event carries the
 * model's whole state after it (version count, statuses, aliases), so the next writer
 * validates against exactly the state it appends after, and a lost race is simply retried.
 * Version numbers therefore never collide or skip under concurrency (unlike MAX(version)+1),
 * and history ("what was production at T") is the log itself. Readable records (version
 * metadata, status, model list) are projections written after the append; `repair()` rebuilds
 * them from the log. No transactions are needed, so dynalite, moto and DynamoDB behave alike.
 */
import { createHash } from 'node:crypto';
import {
  type Attribution,
  aliasNameSchema,
  type Evaluation,
  type ModelState,
  modelNameSchema,
  type RegistryEvent,
  type VersionMetadata,
  type VersionMetadataInput,
  type VersionStatus,
  versionMetadataSchema,
} from '../contracts/registry.ts';
import type * as z from '../contracts/zod.ts';
import { IntegrityError, ValidationError } from '../kernel/errors.ts';
import { appendOptimistically } from '../kernel/optimistic.ts';
import type { EventBus } from '../ports/event-bus.ts';
import type { Page, RegistryStore, StoredVersion } from '../ports/registry-store.ts';
import { AliasConflictError, ModelNotFoundError, VersionConflictError } from './errors.ts';
import {
  decideAliasMove,
  decideRegister,
  decideRollback,
  decideStatus,
  INITIAL_STATE,
  statusOf,
} from './state.ts';

export interface ModelRegistryOptions {
  readonly store: RegistryStore;
  /** Where registry events go (EventBridge in AWS). @default none */
  readonly eventBus?: EventBus;
  /** @default `() => new Date()` */
  readonly now?: () => Date;
  /** Appends tried before giving up under contention. @default 200 */
  readonly maxAttempts?: number;
  /** Upper bound of the jittered backoff between attempts. @default 2000 ms */
  readonly maxBackoffMs?: number;
  /** Called when publishing an event fails after the event was committed. @default ignore */
  readonly onPublishError?: (error: unknown, event: RegistryEvent) => void;
}

/** A version as read: validated metadata, current status, and the aliases pointing at it. */
export interface ModelVersion {
  readonly model: string;
  readonly version: number;
  readonly status: VersionStatus;
  readonly statusReason: string;
  readonly statusChangedAt: string;
  readonly statusChangedBy: string;
  readonly registeredAt: string;
  readonly registeredBy: string;
  readonly metadata: VersionMetadata;
  readonly aliases: readonly string[];
  /** Evaluations recorded after registration (e.g. on production-sampled data), oldest first. */
  readonly evaluations: readonly (Attribution & { at: string; evaluation: Evaluation })[];
}

export interface ModelSummary {
  readonly model: string;
  readonly latestVersion: number;
  readonly aliases: Readonly<Record<string, number>>;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export const REGISTRY_EVENT_SOURCE = 'keel.registry';

function validName(schema: z.ZodMiniString, value: string, what: string): string {
  const result = schema.safeParse(value);
  if (!result.success)
    throw new ValidationError(
      `Invalid ${what}`,
      ValidationError.issuesOf(result.error).map((i) => ({ ...i, path: what })),
    );
  return result.data;
}

function requireAttribution(attribution: { actor: string; reason?: string }, reasonRequired = true): void {
  const problems = [];
  if (!attribution.actor?.trim()) problems.push({ path: 'actor', message: 'say who is doing this' });
  if (reasonRequired && !attribution.reason?.trim())
    problems.push({ path: 'reason', message: 'say why; it goes into the audit log' });
  if (problems.length > 0) throw new ValidationError('Attribution is incomplete', problems);
}

const BACKOFF_BASE_MS = 20;

/** What a mutation decides to append, or that nothing needs to change. */
type Decision<R> =
  | {
      readonly append: Omit<RegistryEvent, 'model' | 'seq' | 'at' | 'actor' | 'reason'>;
      readonly result: (event: RegistryEvent) => R;
    }
  | { readonly noop: R };

/** What the audit log keeps of a stale-feature review; the whole review is in lineage. */
export interface FeatureReviewRecord {
  readonly sha256: string;
  readonly uri: string;
  readonly asOf: string;
  readonly rows: number;
  /** Column → its flags (stale, unstable, costly, personal-data), only flagged columns. */
  readonly flagged: Readonly<Record<string, readonly string[]>>;
  readonly summary: string;
}

export class ModelRegistry {
  readonly #store: RegistryStore;
  readonly #eventBus: EventBus | undefined;
  readonly #now: () => Date;
  readonly #maxAttempts: number;
  readonly #maxBackoffMs: number;
  readonly #onPublishError: (error: unknown, event: RegistryEvent) => void;

  constructor(options: ModelRegistryOptions) {
    this.#store = options.store;
    this.#eventBus = options.eventBus;
    this.#now = options.now ?? (() => new Date());
    this.#maxAttempts = options.maxAttempts ?? 200;
    this.#maxBackoffMs = options.maxBackoffMs ?? 2000;
    this.#onPublishError = options.onPublishError ?? (() => {});
  }

  // ── Mutations ──────────────────────────────────────────────────────────────

  /**
   * Registers a new version with status `candidate`. With an `idempotencyKey`, registering the
   * same key again returns the version it already created instead of a new one.
   */
  async registerVersion(
    model: string,
    metadata: VersionMetadataInput,
    attribution: { readonly actor: string; readonly reason?: string; readonly idempotencyKey?: string },
  ): Promise<{ version: number; replay: boolean }> {
    validName(modelNameSchema, model, 'model');
    requireAttribution(attribution, false);
    const parsed = versionMetadataSchema.safeParse(metadata);
    if (!parsed.success)
      throw new ValidationError(`Invalid metadata for ${model}`, ValidationError.issuesOf(parsed.error));
    const digest =
      attribution.idempotencyKey === undefined
        ? undefined
        : createHash('sha256').update(attribution.idempotencyKey).digest('hex').slice(0, 24);

    const who = { actor: attribution.actor, reason: attribution.reason ?? '' };
    return this.#mutate<{ version: number; replay: boolean }>(model, who, true, (state) => {
      const decision = decideRegister(model, state, digest);
      if (decision.replay) return { noop: { version: decision.version, replay: true } };
      return {
        append: {
          type: 'VersionRegistered',
          version: decision.version,
          to: 'candidate',
          details: { metadata: parsed.data },
          state: decision.state,
        },
        result: () => ({ version: decision.version, replay: false }),
      };
    });
  }

  /** Changes a version's status along the allowed transitions. */
  async setStatus(
    model: string,
    version: number,
    status: VersionStatus,
    attribution: Attribution,
  ): Promise<void> {
    requireAttribution(attribution);
    await this.#mutate(model, attribution, false, (state) => {
      const decision = decideStatus(model, state, version, status);
      return {
        append: {
          type: 'VersionStatusChanged',
          version,
          from: decision.from,
          to: status,
          state: decision.state,
        },
        result: () => undefined,
      };
    });
  }

  approve(model: string, version: number, attribution: Attribution): Promise<void> {
    return this.setStatus(model, version, 'approved', attribution);
  }

  reject(model: string, version: number, attribution: Attribution): Promise<void> {
    return this.setStatus(model, version, 'rejected', attribution);
  }

  archive(model: string, version: number, attribution: Attribution): Promise<void> {
    return this.setStatus(model, version, 'archived', attribution);
  }

  /** Records an evaluation made after registration, e.g. on recent production data. */
  async recordEvaluation(
    model: string,
    version: number,
    evaluation: z.input<typeof versionMetadataSchema.shape.evaluation>,
    attribution: Attribution,
  ): Promise<void> {
    requireAttribution(attribution);
    const parsed = versionMetadataSchema.shape.evaluation.safeParse(evaluation);
    if (!parsed.success)
      throw new ValidationError(
        `Invalid evaluation for ${model}@${version}`,
        ValidationError.issuesOf(parsed.error),
      );
    await this.#mutate(model, attribution, false, (state) => {
      if (statusOf(state, version) === undefined) throw new ModelNotFoundError(model, `version ${version}`);
      return {
        append: { type: 'EvaluationRecorded', version, details: { evaluation: parsed.data }, state },
        result: () => undefined,
      };
    });
  }

  /**
   * Points `alias` at version `to`, if it still points at `expected` (`null`: the alias must
   * not exist yet). A stale expectation fails with {@link AliasConflictError} and changes nothing.
   */
  async moveAlias(
    model: string,
    alias: string,
    move: { readonly to: number; readonly expected: number | null },
    attribution: Attribution,
  ): Promise<{ from: number | null; to: number }> {
    validName(aliasNameSchema, alias, 'alias');
    requireAttribution(attribution);
    return this.#mutate<{ from: number | null; to: number }>(model, attribution, false, (state) => {
      const current = state.aliases[alias] ?? null;
      if (current !== move.expected) throw new AliasConflictError(model, alias, move.expected, current);
      if (current === move.to) return { noop: { from: current, to: move.to } };
      const decision = decideAliasMove(model, state, alias, move.to);
      return {
        append: { type: 'AliasMoved', alias, from: decision.from, to: move.to, state: decision.state },
        result: () => ({ from: decision.from, to: move.to }),
      };
    });
  }

  /** Moves `alias` (production by default) back to its previous eligible version, in one call. */
  async rollback(
    model: string,
    attribution: Attribution & { readonly alias?: string },
  ): Promise<{ from: number; to: number }> {
    requireAttribution(attribution);
    const alias = attribution.alias ?? 'production';
    return this.#mutate(model, attribution, false, (state) => {
      const decision = decideRollback(model, state, alias);
      return {
        append: {
          type: 'AliasMoved',
          alias,
          from: decision.from,
          to: decision.to,
          details: { rollback: true },
          state: decision.state,
        },
        result: () => ({ from: decision.from, to: decision.to }),
      };
    });
  }

  /** Records a deployment outcome (started, succeeded, rolled back) in the audit log. */
  async recordDeployment(
    model: string,
    version: number,
    details: Readonly<Record<string, unknown>>,
    attribution: Attribution,
  ): Promise<void> {
    requireAttribution(attribution);
    await this.#mutate(model, attribution, false, (state) => {
      if (statusOf(state, version) === undefined) throw new ModelNotFoundError(model, `version ${version}`);
      return { append: { type: 'DeploymentRecorded', version, details, state }, result: () => undefined };
    });
  }

  /**
   * Points a version at its model card, content-addressed in lineage: at registration, and
   * again whenever it is regenerated (on promotion). The latest one is the version's card.
   */
  async recordCard(
    model: string,
    version: number,
    card: { readonly sha256: string; readonly uri: string; readonly trigger: string },
    attribution: Attribution,
  ): Promise<void> {
    await this.#appendToVersion(model, version, 'CardRecorded', { card }, attribution);
  }

  /**
   * Records a stale-feature review of a version (stored in lineage) in its audit log: which
   * columns it flagged and why, so "when was employment found stale" is a read of the log.
   */
  async recordFeatureReview(
    model: string,
    version: number,
    review: FeatureReviewRecord,
    attribution: Attribution,
  ): Promise<void> {
    await this.#appendToVersion(model, version, 'FeaturesReviewed', { review }, attribution);
  }

  /** Appends an event about an existing version that changes no state (its card, a review). */
  async #appendToVersion(
    model: string,
    version: number,
    type: 'CardRecorded' | 'FeaturesReviewed',
    details: Readonly<Record<string, unknown>>,
    attribution: Attribution,
  ): Promise<void> {
    requireAttribution(attribution);
    await this.#mutate(model, attribution, false, (state) => {
      if (statusOf(state, version) === undefined) throw new ModelNotFoundError(model, `version ${version}`);
      return { append: { type, version, details, state }, result: () => undefined };
    });
  }

  /** A version's latest stale-feature review, or undefined when none was recorded. */
  async latestFeatureReview(
    model: string,
    version: number,
  ): Promise<(FeatureReviewRecord & { readonly at: string; readonly actor: string }) | undefined> {
    const events = await this.auditTrail(model, version);
    const last = events.filter((e) => e.type === 'FeaturesReviewed').at(-1);
    const review = last?.details?.review as FeatureReviewRecord | undefined;
    return last && review ? { ...review, at: last.at, actor: last.actor } : undefined;
  }

  /** Re-applies every event's projections; heals records left stale by a crash after an append. */
  async repair(model: string): Promise<{ events: number }> {
    let count = 0;
    for await (const events of this.#eventPages(model, 500)) {
      for (const event of events) await this.#project(event);
      count += events.length;
    }
    if (count === 0) throw new ModelNotFoundError(model);
    await this.#store.head(model); // advances a head record left behind
    return { events: count };
  }

  // ── Reads ──────────────────────────────────────────────────────────────────

  /** The model's current state, straight from its latest event (never stale). */
  async state(model: string): Promise<ModelState> {
    const head = await this.#store.head(model);
    if (head === undefined) throw new ModelNotFoundError(model);
    return head.state;
  }

  async aliases(model: string): Promise<Readonly<Record<string, number>>> {
    return (await this.state(model)).aliases;
  }

  /**
   * The aliases of a model, none when the model does not exist. Any other failure (throttling,
   * an integrity error) is thrown: it does not mean "no production version".
   */
  async aliasesOrNone(model: string): Promise<Readonly<Record<string, number>>> {
    try {
      return await this.aliases(model);
    } catch (error) {
      if (error instanceof ModelNotFoundError) return {};
      throw error;
    }
  }

  /**
   * The card a version points at (its latest `CardRecorded`), or undefined: a version
   * registered before cards existed, or whose card could not be generated.
   */
  async cardOf(
    model: string,
    version: number,
  ): Promise<{ sha256: string; uri: string; trigger: string; at: string } | undefined> {
    const events = await this.auditTrail(model, version);
    const last = events.filter((e) => e.type === 'CardRecorded').at(-1);
    const card = last?.details?.card as { sha256: string; uri: string; trigger: string } | undefined;
    return last && card ? { ...card, at: last.at } : undefined;
  }

  /** A version by number or alias name. */
  async get(model: string, ref: number | string): Promise<ModelVersion> {
    const state = await this.state(model);
    const version = typeof ref === 'number' ? ref : state.aliases[ref];
    if (version === undefined) throw new ModelNotFoundError(model, `alias ${ref}`);
    if (statusOf(state, version) === undefined) throw new ModelNotFoundError(model, `version ${version}`);
    const stored =
      (await this.#store.getVersion(model, version)) ?? (await this.#healRegistration(model, version));
    const evaluations = await this.#store.evaluations(model, version);
    return this.#toModelVersion(stored, state, evaluations);
  }

  async listVersions(
    model: string,
    options: { limit?: number; cursor?: string } = {},
  ): Promise<Page<ModelVersion>> {
    const state = await this.state(model);
    const page = await this.#store.listVersions(model, options);
    return { ...page, items: page.items.map((stored) => this.#toModelVersion(stored, state, [])) };
  }

  async listModels(options: { limit?: number; cursor?: string } = {}): Promise<Page<ModelSummary>> {
    const page = await this.#store.listModels(options);
    // The summary's state may lag the log after a crash; `state(model)` is always exact.
    const items = page.items.map((m) => ({
      model: m.model,
      latestVersion: m.latestVersion,
      createdAt: m.createdAt,
      updatedAt: m.updatedAt,
      aliases: m.state.aliases,
    }));
    return { ...page, items };
  }

  /** The model's audit log, oldest first (paged by sequence number). */
  async history(
    model: string,
    options: { afterSeq?: number; limit?: number } = {},
  ): Promise<Page<RegistryEvent>> {
    const page = await this.#store.events(model, options);
    if (page.items.length === 0 && (options.afterSeq ?? 0) === 0) throw new ModelNotFoundError(model);
    return page;
  }

  /** Every event about one version: registration, status changes, evaluations, deployments, alias moves to or from it. */
  async auditTrail(model: string, version: number): Promise<RegistryEvent[]> {
    const events = await this.#allEvents(model);
    return events.filter(
      (e) => e.version === version || (e.type === 'AliasMoved' && (e.from === version || e.to === version)),
    );
  }

  /** Moves of one alias, oldest first. */
  async aliasHistory(model: string, alias: string): Promise<RegistryEvent[]> {
    return (await this.#allEvents(model)).filter((e) => e.type === 'AliasMoved' && e.alias === alias);
  }

  /** The version `alias` pointed at, at time `at` (null if it did not exist yet). */
  async aliasAt(model: string, alias: string, at: Date): Promise<number | null> {
    let version: number | null = null;
    for (const event of await this.#allEvents(model)) {
      if (new Date(event.at).getTime() > at.getTime()) break;
      version = event.state.aliases[alias] ?? null;
    }
    return version;
  }

  // ── Internals ──────────────────────────────────────────────────────────────

  /** A model's event log, page by page, in sequence order: the store's cursor, followed to the end. */
  async *#eventPages(model: string, limit: number): AsyncGenerator<readonly RegistryEvent[]> {
    let afterSeq = 0;
    for (;;) {
      const page = await this.#store.events(model, { afterSeq, limit });
      yield page.items;
      const last = page.items.at(-1);
      if (!page.cursor || !last) return;
      afterSeq = last.seq;
    }
  }

  async #allEvents(model: string): Promise<RegistryEvent[]> {
    const events: RegistryEvent[] = [];
    for await (const page of this.#eventPages(model, 1000)) events.push(...page);
    if (events.length === 0) throw new ModelNotFoundError(model);
    return events;
  }

  /**
   * The append loop: read the latest event, decide, append at the next sequence number;
   * on a lost race or throttling, back off with full jitter and decide again.
   */
  async #mutate<R>(
    model: string,
    attribution: Attribution,
    mayCreate: boolean,
    decide: (state: ModelState) => Decision<R>,
  ): Promise<R> {
    validName(modelNameSchema, model, 'model');
    const outcome = await appendOptimistically<{ event?: RegistryEvent; result: () => R }>(
      async () => {
        // Jump to the end of the log: after a backoff many events may have landed, and
        // walking them one failed put at a time would cost far more.
        const latest = await this.#store.head(model);
        if (latest === undefined && !mayCreate) throw new ModelNotFoundError(model);
        const decision = decide(latest?.state ?? INITIAL_STATE);
        if ('noop' in decision) return { value: { result: () => decision.noop } };
        const event: RegistryEvent = {
          ...decision.append,
          model,
          seq: (latest?.seq ?? 0) + 1,
          at: this.#now().toISOString(),
          actor: attribution.actor,
          reason: attribution.reason,
        };
        if (!(await this.#store.appendEvent(event))) return 'lost';
        return { value: { event, result: () => decision.result(event) } };
      },
      {
        maxAttempts: this.#maxAttempts,
        baseBackoffMs: BACKOFF_BASE_MS,
        maxBackoffMs: this.#maxBackoffMs,
        gaveUp: () =>
          new VersionConflictError(
            model,
            undefined,
            `gave up after ${this.#maxAttempts} attempts under contention`,
          ),
      },
    );
    // Committed: projections and the notification follow, never a second append.
    if (outcome.event) {
      await this.#project(outcome.event);
      await this.#publish(outcome.event);
    }
    return outcome.result();
  }

  /** Writes the event's projections; they touch different attributes or items, so in parallel. */
  async #project(event: RegistryEvent): Promise<void> {
    const { version, model, seq } = event;
    const writes: Promise<void>[] = [];
    if (version !== undefined && event.type === 'VersionRegistered') {
      const registration = {
        model,
        version,
        metadata: event.details?.metadata,
        registeredAt: event.at,
        registeredBy: event.actor,
        registrationReason: event.reason,
      };
      writes.push(this.#store.projectRegistration(registration, seq));
    }
    if (
      version !== undefined &&
      (event.type === 'VersionRegistered' || event.type === 'VersionStatusChanged')
    ) {
      writes.push(this.#store.projectStatus(model, version, event.to as VersionStatus, event, seq));
    }
    if (version !== undefined && event.type === 'EvaluationRecorded') {
      const { at, actor, reason } = event;
      writes.push(
        this.#store.projectEvaluation({
          model,
          version,
          seq,
          at,
          actor,
          reason,
          evaluation: event.details?.evaluation,
        }),
      );
    }
    await Promise.all(writes);
  }

  async #publish(event: RegistryEvent): Promise<void> {
    if (this.#eventBus === undefined) return;
    const { state: _state, details, ...summary } = event;
    try {
      await this.#eventBus.publish([
        {
          source: REGISTRY_EVENT_SOURCE,
          detailType: event.type,
          detail: { ...summary, ...(details?.rollback ? { rollback: true } : {}) },
          time: new Date(event.at),
        },
      ]);
    } catch (error) {
      // The event is committed in the log; a failed notification must not undo or fail it.
      this.#onPublishError(error, event);
    }
  }

  /** A registration whose projection was lost (crash after the append): rebuild it from the log. */
  async #healRegistration(model: string, version: number): Promise<StoredVersion> {
    const registration = (await this.#allEvents(model)).find(
      (e) => e.type === 'VersionRegistered' && e.version === version,
    );
    if (registration === undefined) throw new ModelNotFoundError(model, `version ${version}`);
    await this.#project(registration);
    const stored = await this.#store.getVersion(model, version);
    if (stored === undefined)
      throw new IntegrityError(`${model}@${version}: registration projection could not be rebuilt`);
    return stored;
  }

  #toModelVersion(
    stored: StoredVersion,
    state: ModelState,
    evaluations: readonly { at: string; actor: string; reason: string; evaluation: unknown }[],
  ): ModelVersion {
    const metadata = versionMetadataSchema.safeParse(stored.metadata);
    if (!metadata.success) {
      throw new IntegrityError(
        `${stored.model}@${stored.version}: stored metadata no longer matches its schema (${ValidationError.issuesOf(
          metadata.error,
        )
          .map((i) => `${i.path}: ${i.message}`)
          .join('; ')})`,
        { cause: metadata.error },
      );
    }
    const parsedEvaluations = evaluations.map((e) => {
      const evaluation = versionMetadataSchema.shape.evaluation.safeParse(e.evaluation);
      if (!evaluation.success)
        throw new IntegrityError(`${stored.model}@${stored.version}: a stored evaluation is malformed`);
      return { at: e.at, actor: e.actor, reason: e.reason, evaluation: evaluation.data };
    });
    return {
      model: stored.model,
      version: stored.version,
      // The state is authoritative; the projected status may lag it after a crash.
      status: statusOf(state, stored.version) ?? stored.status ?? 'candidate',
      statusReason: stored.statusReason ?? '',
      statusChangedAt: stored.statusAt ?? stored.registeredAt,
      statusChangedBy: stored.statusBy ?? stored.registeredBy,
      registeredAt: stored.registeredAt,
      registeredBy: stored.registeredBy,
      metadata: metadata.data,
      aliases: Object.entries(state.aliases)
        .filter(([, v]) => v === stored.version)
        .map(([alias]) => alias)
        .sort(),
      evaluations: parsedEvaluations,
    };
  }
}
