import fc from 'fast-check';
import { expect } from 'vitest';
import type { VersionStatus } from '../../functions/contracts/registry.ts';
import {
  AliasConflictError,
  ModelNotFoundError,
  VersionConflictError,
} from '../../functions/registry/errors.ts';
import type { ModelRegistry } from '../../functions/registry/registry.ts';
import { sampleMetadata } from './registry-fixtures.ts';

/**
 * Model-based property of the registry: any sequence of operations gives the same outcomes as
 * a small reference implementation written from the rules, and keeps the invariants.
 */
type Op =
  | { kind: 'register' }
  | { kind: 'status'; version: number; to: VersionStatus }
  | { kind: 'move'; alias: string; to: number; stale: boolean }
  | { kind: 'rollback'; alias: string };

const ALIASES = ['production', 'candidate', 'fallback', 'team-x'];

export const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Op>({ kind: 'register' }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('status' as const),
      version: fc.integer({ min: 1, max: 6 }),
      to: fc.constantFrom<VersionStatus>('approved', 'rejected', 'archived', 'candidate'),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('move' as const),
      alias: fc.constantFrom(...ALIASES),
      to: fc.integer({ min: 1, max: 6 }),
      stale: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('rollback' as const), alias: fc.constantFrom(...ALIASES) }),
  },
);

type Outcome = 'ok' | 'noop' | 'not-found' | 'version-conflict' | 'alias-conflict';

/** The rules, restated independently of functions/registry/state.ts. */
class Reference {
  statuses: VersionStatus[] = [];
  aliases = new Map<string, number>();
  history = new Map<string, number[]>();

  #eligible(alias: string, v: number): boolean {
    const s = this.statuses[v - 1];
    return alias === 'production' || alias === 'fallback'
      ? s === 'approved'
      : s === 'approved' || s === 'candidate';
  }

  apply(op: Op): Outcome {
    switch (op.kind) {
      case 'register':
        this.statuses.push('candidate');
        return 'ok';
      case 'status': {
        const from = this.statuses[op.version - 1];
        if (from === undefined) return 'not-found';
        const allowed: Record<VersionStatus, VersionStatus[]> = {
          candidate: ['approved', 'rejected', 'archived'],
          approved: ['rejected', 'archived'],
          rejected: ['archived'],
          archived: [],
        };
        if (!allowed[from].includes(op.to)) return 'version-conflict';
        const pinned = ['production', 'fallback'].some((a) => this.aliases.get(a) === op.version);
        if ((op.to === 'rejected' || op.to === 'archived') && pinned) return 'version-conflict';
        this.statuses[op.version - 1] = op.to;
        return 'ok';
      }
      case 'move': {
        const current = this.aliases.get(op.alias) ?? null;
        if (op.stale) return 'alias-conflict';
        if (current === op.to) return 'noop';
        if (this.statuses[op.to - 1] === undefined) return 'not-found';
        if (!this.#eligible(op.alias, op.to)) return 'version-conflict';
        this.aliases.set(op.alias, op.to);
        const h = this.history.get(op.alias) ?? [];
        if (h.at(-1) !== op.to) h.push(op.to);
        this.history.set(op.alias, h.slice(-20));
        return 'ok';
      }
      case 'rollback': {
        const current = this.aliases.get(op.alias);
        if (current === undefined) return 'not-found';
        const h = [...(this.history.get(op.alias) ?? [])];
        while (h.at(-1) === current) h.pop();
        while (h.length > 0 && !this.#eligible(op.alias, h.at(-1) as number)) h.pop();
        const target = h.at(-1);
        if (target === undefined) return 'version-conflict';
        this.aliases.set(op.alias, target);
        this.history.set(op.alias, h);
        return 'ok';
      }
    }
  }
}

function outcomeOf(error: unknown): Outcome {
  if (error instanceof AliasConflictError) return 'alias-conflict';
  if (error instanceof VersionConflictError) return 'version-conflict';
  if (error instanceof ModelNotFoundError) return 'not-found';
  throw error;
}

const who = { actor: 'prop', reason: 'property test' };

async function run(registry: ModelRegistry, model: string, op: Op, reference: Reference): Promise<Outcome> {
  try {
    switch (op.kind) {
      case 'register':
        await registry.registerVersion(model, sampleMetadata(reference.statuses.length + 1), {
          actor: 'prop',
        });
        return 'ok';
      case 'status':
        await registry.setStatus(model, op.version, op.to, who);
        return 'ok';
      case 'move': {
        const current = reference.aliases.get(op.alias) ?? null;
        // A stale move names a version the alias does not point at.
        const expected = op.stale ? (current === null ? 99 : null) : current;
        const result = await registry.moveAlias(model, op.alias, { to: op.to, expected }, who);
        return result.from === result.to ? 'noop' : 'ok';
      }
      case 'rollback':
        await registry.rollback(model, { ...who, alias: op.alias });
        return 'ok';
    }
  } catch (error) {
    return outcomeOf(error);
  }
}

/** Runs `ops` against the registry and the reference, asserting equal outcomes and the invariants. */
export async function checkSequence(
  registry: ModelRegistry,
  model: string,
  ops: readonly Op[],
): Promise<void> {
  const reference = new Reference();
  // Seed the model so operations other than register have something to act on.
  await registry.registerVersion(model, sampleMetadata(1), { actor: 'prop' });
  reference.apply({ kind: 'register' });
  let successes = 1;
  for (const op of ops) {
    const actual = await run(registry, model, op, reference);
    const expected = op.kind === 'move' && op.stale ? 'alias-conflict' : reference.apply(op);
    expect(actual, JSON.stringify(op)).toBe(expected);
    if (actual === 'ok') successes++;
  }
  const state = await registry.state(model);
  // Versions are exactly 1..n with the reference's statuses.
  expect(state.versionCount).toBe(reference.statuses.length);
  for (let v = 1; v <= state.versionCount; v++)
    expect((await registry.get(model, v)).status).toBe(reference.statuses[v - 1]);
  // Aliases agree, and production/fallback only ever point at approved versions.
  expect(state.aliases).toEqual(Object.fromEntries(reference.aliases));
  for (const alias of ['production', 'fallback']) {
    const v = state.aliases[alias];
    if (v !== undefined) expect(reference.statuses[v - 1]).toBe('approved');
  }
  // One event per successful operation, numbered without gaps.
  const log = await registry.history(model, { limit: 10_000 });
  expect(log.items.map((e) => e.seq)).toEqual(Array.from({ length: successes }, (_, i) => i + 1));
}
