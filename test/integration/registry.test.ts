import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { DynamoRegistryStore } from '../../functions/adapters/aws/registry-store.ts';
import { documentClient } from '../../functions/commons/clients.ts';
import { AliasConflictError } from '../../functions/registry/errors.ts';
import { ModelRegistry } from '../../functions/registry/registry.ts';
import { ensureTable } from '../../local/provision.ts';
import { sampleMetadata } from '../support/registry-fixtures.ts';

const table = `registry-it-${randomUUID().slice(0, 8)}`;
const who = { actor: 'it@example.com', reason: 'integration test' };
const registry = () => new ModelRegistry({ store: new DynamoRegistryStore(documentClient(), table) });

beforeAll(async () => {
  await ensureTable(table);
});

describe(`ModelRegistry on DynamoDB (${inject('awsTier')} tier)`, () => {
  it('registers, approves, promotes, rolls back and tells the story', async () => {
    // Prepare
    const r = registry();
    const model = `flow-${randomUUID().slice(0, 6)}`;
    for (let i = 1; i <= 3; i++) {
      await r.registerVersion(model, sampleMetadata(i), { actor: 'pipeline', idempotencyKey: `exec-${i}` });
      await r.approve(model, i, who);
    }

    // Act
    await r.moveAlias(model, 'production', { to: 1, expected: null }, who);
    await r.moveAlias(model, 'production', { to: 3, expected: 1 }, who);
    const rolledBack = await r.rollback(model, { actor: 'oncall', reason: 'latency alarm' });
    const replay = await r.registerVersion(model, sampleMetadata(1), {
      actor: 'pipeline',
      idempotencyKey: 'exec-1',
    });

    // Assess
    expect(rolledBack).toEqual({ from: 3, to: 1 });
    expect(replay).toEqual({ version: 1, replay: true });
    const production = await r.get(model, 'production');
    expect(production.version).toBe(1);
    expect(production.metadata.artifact.sha256).toBe(sampleMetadata(1).artifact.sha256);
    const history = await r.aliasHistory(model, 'production');
    expect(history.map((e) => [e.from, e.to, e.actor])).toEqual([
      [null, 1, who.actor],
      [1, 3, who.actor],
      [3, 1, 'oncall'],
    ]);
    const models = await r.listModels();
    expect(models.items.find((m) => m.model === model)).toMatchObject({
      latestVersion: 3,
      aliases: { production: 1 },
    });
  });

  it('allocates 100 concurrent registrations without duplicate or gap while 50 alias moves race', async () => {
    // Prepare
    const r = registry();
    const model = `race-${randomUUID().slice(0, 6)}`;
    await r.registerVersion(model, sampleMetadata(0), { actor: 'seed' });
    await r.moveAlias(model, 'candidate', { to: 1, expected: null }, who);

    // Act
    const registrations = Array.from({ length: 100 }, (_, i) =>
      r.registerVersion(model, sampleMetadata(i + 1), { actor: `writer-${i}` }),
    );
    // Movers start once some registrations have landed, so they have versions to race for.
    const moves = Array.from({ length: 50 }, async (_, i) => {
      await registrations[i];
      const state = await r.state(model);
      const target = state.versionCount - (i % 3);
      try {
        await r.moveAlias(model, 'candidate', { to: target, expected: state.aliases.candidate ?? null }, who);
        return state.aliases.candidate === target ? 'noop' : 'moved';
      } catch (error) {
        if (error instanceof AliasConflictError) return 'conflict';
        throw error;
      }
    });
    const versions = (await Promise.all(registrations)).map((x) => x.version);
    const moveOutcomes = await Promise.all(moves);

    // Assess: versions are exactly 2..101.
    expect([...versions].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i + 2));
    // The log has no gap, no duplicate, and one event per successful operation.
    const log = await r.history(model, { limit: 1000 });
    expect(log.items.map((e) => e.seq)).toEqual(Array.from({ length: log.items.length }, (_, i) => i + 1));
    const registered = log.items.filter((e) => e.type === 'VersionRegistered');
    const moved = log.items.filter((e) => e.type === 'AliasMoved');
    expect(registered).toHaveLength(101);
    expect(new Set(registered.map((e) => e.version)).size).toBe(101);
    expect(moved).toHaveLength(1 + moveOutcomes.filter((o) => o === 'moved').length);
    expect(moveOutcomes.filter((o) => o === 'moved').length).toBeGreaterThan(0);
    // The head is consistent with the log: the alias is where the last move put it.
    const state = await r.state(model);
    expect(state.versionCount).toBe(101);
    expect(state.aliases.candidate).toBe(moved.at(-1)?.to);
    // Each version's projection holds the metadata its writer registered.
    for (const v of [2, 51, 101]) {
      const mv = await r.get(model, v);
      const writer = registered.find((e) => e.version === v)?.actor;
      const seed = Number(writer?.split('-')[1]) + 1;
      expect(mv.metadata.artifact.sha256).toBe(sampleMetadata(seed).artifact.sha256);
    }
  }, 300_000);

  it('repairs projections from the log', async () => {
    const r = registry();
    const model = `repair-${randomUUID().slice(0, 6)}`;
    await r.registerVersion(model, sampleMetadata(1), { actor: 'ci' });
    await r.approve(model, 1, who);
    await expect(r.repair(model)).resolves.toEqual({ events: 2 });
    expect((await r.get(model, 1)).status).toBe('approved');
  });
});
