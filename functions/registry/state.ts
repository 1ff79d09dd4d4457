/**
 * Pure decisions of the registry: given a model's state and a command, either the next state
 * or a typed error. No I/O, so every rule is unit-testable and identical on any backend.
 */

import type { ModelState, VersionStatus } from '../contracts/registry.ts';
import { ModelNotFoundError, VersionConflictError } from './errors.ts';

export const INITIAL_STATE: ModelState = {
  versionCount: 0,
  statuses: '',
  aliases: {},
  aliasHistory: {},
  idempotency: {},
};

/** Alias history kept per alias in the state, enough for repeated rollbacks. */
export const ALIAS_HISTORY_LIMIT = 20;
/** Idempotency keys remembered per model; older re-runs register anew. */
export const IDEMPOTENCY_LIMIT = 200;
/** Bounds the state carried by every event (one byte per version) well under DynamoDB's 400 KB item limit. */
export const MAX_VERSIONS_PER_MODEL = 100_000;

const CODE: Readonly<Record<VersionStatus, string>> = {
  candidate: 'c',
  approved: 'a',
  rejected: 'r',
  archived: 'x',
};
const STATUS_OF_CODE: Readonly<Record<string, VersionStatus>> = {
  c: 'candidate',
  a: 'approved',
  r: 'rejected',
  x: 'archived',
};

/** Allowed status changes. Archived is terminal; a rejected version can only be archived. */
export const TRANSITIONS: Readonly<Record<VersionStatus, readonly VersionStatus[]>> = {
  candidate: ['approved', 'rejected', 'archived'],
  approved: ['rejected', 'archived'],
  rejected: ['archived'],
  archived: [],
};

/** Aliases that may only point at an approved version; others accept candidates too. */
export const APPROVED_ONLY_ALIASES: ReadonlySet<string> = new Set(['production', 'fallback']);

export function statusOf(state: ModelState, version: number): VersionStatus | undefined {
  if (!Number.isInteger(version) || version < 1 || version > state.versionCount) return undefined;
  return STATUS_OF_CODE[state.statuses[version - 1] ?? ''];
}

function withStatus(state: ModelState, version: number, status: VersionStatus): string {
  return `${state.statuses.slice(0, version - 1)}${CODE[status]}${state.statuses.slice(version)}`;
}

function requireVersion(model: string, state: ModelState, version: number): VersionStatus {
  const status = statusOf(state, version);
  if (status === undefined) throw new ModelNotFoundError(model, `version ${version}`);
  return status;
}

export function decideRegister(
  model: string,
  state: ModelState,
  idempotencyDigest?: string,
): { version: number; state: ModelState; replay: boolean } {
  const existing = idempotencyDigest === undefined ? undefined : state.idempotency[idempotencyDigest];
  if (existing !== undefined) return { version: existing, state, replay: true };
  if (state.versionCount >= MAX_VERSIONS_PER_MODEL) {
    throw new VersionConflictError(
      model,
      undefined,
      `has reached ${MAX_VERSIONS_PER_MODEL} versions; register under a new model name`,
    );
  }
  const version = state.versionCount + 1;
  let idempotency = state.idempotency;
  if (idempotencyDigest !== undefined) {
    const kept = Object.entries(state.idempotency).slice(-(IDEMPOTENCY_LIMIT - 1));
    idempotency = Object.fromEntries([...kept, [idempotencyDigest, version]]);
  }
  return {
    version,
    replay: false,
    state: { ...state, versionCount: version, statuses: `${state.statuses}${CODE.candidate}`, idempotency },
  };
}

export function decideStatus(
  model: string,
  state: ModelState,
  version: number,
  to: VersionStatus,
): { from: VersionStatus; state: ModelState } {
  const from = requireVersion(model, state, version);
  if (!TRANSITIONS[from].includes(to)) {
    throw new VersionConflictError(
      model,
      version,
      `cannot go from ${from} to ${to} (allowed: ${TRANSITIONS[from].join(', ') || 'none, archived is final'})`,
    );
  }
  if (to === 'rejected' || to === 'archived') {
    const pinned = Object.entries(state.aliases).filter(
      ([alias, v]) => v === version && APPROVED_ONLY_ALIASES.has(alias),
    );
    if (pinned.length > 0) {
      throw new VersionConflictError(
        model,
        version,
        `${pinned.map(([a]) => a).join(' and ')} point${pinned.length === 1 ? 's' : ''} at it; move ${pinned.length === 1 ? 'that alias' : 'those aliases'} first`,
      );
    }
  }
  return { from, state: { ...state, statuses: withStatus(state, version, to) } };
}

/** Checks that `alias` may point at `version`; returns the state with the alias moved. */
export function decideAliasMove(
  model: string,
  state: ModelState,
  alias: string,
  version: number,
): { from: number | null; state: ModelState } {
  const status = requireVersion(model, state, version);
  if (
    APPROVED_ONLY_ALIASES.has(alias) ? status !== 'approved' : status !== 'approved' && status !== 'candidate'
  ) {
    throw new VersionConflictError(
      model,
      version,
      `is ${status}; ${alias} needs ${APPROVED_ONLY_ALIASES.has(alias) ? 'an approved' : 'a candidate or approved'} version`,
    );
  }
  const from = state.aliases[alias] ?? null;
  const history = [...(state.aliasHistory[alias] ?? [])];
  if (history.at(-1) !== version) history.push(version);
  return {
    from,
    state: {
      ...state,
      aliases: { ...state.aliases, [alias]: version },
      aliasHistory: { ...state.aliasHistory, [alias]: history.slice(-ALIAS_HISTORY_LIMIT) },
    },
  };
}

/**
 * The version an alias rolls back to: the most recent earlier target that is still eligible.
 * The current target is dropped from the history, so a second rollback goes further back.
 */
export function decideRollback(
  model: string,
  state: ModelState,
  alias: string,
): { from: number; to: number; state: ModelState } {
  const current = state.aliases[alias];
  if (current === undefined) throw new ModelNotFoundError(model, `alias ${alias}`);
  const history = [...(state.aliasHistory[alias] ?? [])];
  while (history.at(-1) === current) history.pop();
  const needsApproved = APPROVED_ONLY_ALIASES.has(alias);
  while (history.length > 0) {
    const candidate = history.at(-1) as number;
    const status = statusOf(state, candidate);
    if (status === 'approved' || (!needsApproved && status === 'candidate')) {
      return {
        from: current,
        to: candidate,
        state: {
          ...state,
          aliases: { ...state.aliases, [alias]: candidate },
          aliasHistory: { ...state.aliasHistory, [alias]: history },
        },
      };
    }
    history.pop();
  }
  throw new VersionConflictError(model, current, `${alias} has no earlier eligible version to roll back to`);
}
