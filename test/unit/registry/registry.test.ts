import { describe, expect, it } from 'vitest';
import { IntegrityError, ValidationError } from '../../../functions/kernel/errors.ts';
import type { KeelEvent } from '../../../functions/ports/event-bus.ts';
import {
  AliasConflictError,
  ModelNotFoundError,
  VersionConflictError,
} from '../../../functions/registry/errors.ts';
import { ModelRegistry } from '../../../functions/registry/registry.ts';
import { MemoryRegistryStore } from '../../support/memory-registry-store.ts';
import { sampleMetadata } from '../../support/registry-fixtures.ts';

const who = { actor: 'ana@example.com', reason: 'passed gates' };

function setup(options: { now?: () => Date; failPublish?: boolean } = {}) {
  const store = new MemoryRegistryStore();
  const published: KeelEvent[] = [];
  const publishErrors: unknown[] = [];
  const registry = new ModelRegistry({
    store,
    eventBus: {
      publish: async (events) => {
        if (options.failPublish) throw new Error('bus down');
        published.push(...events);
      },
    },
    onPublishError: (error) => publishErrors.push(error),
    ...(options.now ? { now: options.now } : {}),
  });
  return { store, registry, published, publishErrors };
}

async function withApproved(registry: ModelRegistry, count: number) {
  for (let i = 1; i <= count; i++) {
    await registry.registerVersion('credit', sampleMetadata(i), { actor: 'pipeline' });
    await registry.approve('credit', i, who);
  }
}

describe('ModelRegistry.registerVersion', () => {
  it('allocates consecutive versions starting at 1, as candidates', async () => {
    // Prepare
    const { registry } = setup();

    // Act
    const results = [];
    for (let i = 1; i <= 3; i++)
      results.push(await registry.registerVersion('credit', sampleMetadata(i), { actor: 'ci' }));

    // Assess
    expect(results.map((r) => r.version)).toEqual([1, 2, 3]);
    const v2 = await registry.get('credit', 2);
    expect(v2.status).toBe('candidate');
    expect(v2.metadata.artifact.sha256).toBe(sampleMetadata(2).artifact.sha256);
    expect(v2.registeredBy).toBe('ci');
  });

  it('returns the existing version for a repeated idempotency key', async () => {
    const { registry } = setup();
    const first = await registry.registerVersion('credit', sampleMetadata(1), {
      actor: 'sfn',
      idempotencyKey: 'exec-1',
    });
    const again = await registry.registerVersion('credit', sampleMetadata(1), {
      actor: 'sfn',
      idempotencyKey: 'exec-1',
    });
    const other = await registry.registerVersion('credit', sampleMetadata(2), {
      actor: 'sfn',
      idempotencyKey: 'exec-2',
    });
    expect([first, again, other]).toEqual([
      { version: 1, replay: false },
      { version: 1, replay: true },
      { version: 2, replay: false },
    ]);
    expect((await registry.history('credit')).items).toHaveLength(2);
  });

  it('lists every invalid metadata field and changes nothing', async () => {
    // Prepare
    const { registry, store } = setup();
    const bad = sampleMetadata(1, { seed: 1.5, codeVersion: 'main', inputSchema: [] });

    // Act
    const attempt = registry.registerVersion('credit', bad, { actor: 'ci' });

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(ValidationError);
    const error = (await attempt.catch((e: unknown) => e)) as ValidationError;
    expect(error.issues.map((i) => i.path).sort()).toEqual(['codeVersion', 'inputSchema', 'seed']);
    expect(store.events_.size).toBe(0);
  });

  it.each([['Credit'], ['a'], ['credit_model'], ['9lives']])('rejects the model name %s', async (name) => {
    const { registry } = setup();
    await expect(registry.registerVersion(name, sampleMetadata(), { actor: 'ci' })).rejects.toBeInstanceOf(
      ValidationError,
    );
  });

  it('requires an actor', async () => {
    const { registry } = setup();
    await expect(registry.registerVersion('credit', sampleMetadata(), { actor: ' ' })).rejects.toThrow(
      'actor',
    );
  });
});

describe('ModelRegistry statuses', () => {
  it('records who approved, when and why', async () => {
    const { registry } = setup({ now: () => new Date('2026-11-26T10:00:00Z') });
    await registry.registerVersion('credit', sampleMetadata(), { actor: 'ci' });
    await registry.approve('credit', 1, who);
    const v1 = await registry.get('credit', 1);
    expect(v1).toMatchObject({
      status: 'approved',
      statusReason: 'passed gates',
      statusChangedBy: 'ana@example.com',
      statusChangedAt: '2026-11-26T10:00:00.000Z',
    });
  });

  it.each([
    ['rejected', 'approved'],
    ['archived', 'approved'],
    ['archived', 'rejected'],
  ] as const)('refuses %s → %s', async (first, second) => {
    const { registry } = setup();
    await registry.registerVersion('credit', sampleMetadata(), { actor: 'ci' });
    await registry.setStatus('credit', 1, first, who);
    await expect(registry.setStatus('credit', 1, second, who)).rejects.toBeInstanceOf(VersionConflictError);
    expect((await registry.get('credit', 1)).status).toBe(first);
  });

  it('refuses to reject the version production serves', async () => {
    const { registry } = setup();
    await withApproved(registry, 1);
    await registry.moveAlias('credit', 'production', { to: 1, expected: null }, who);
    await expect(registry.reject('credit', 1, who)).rejects.toThrow('production points at it');
  });

  it('requires a reason for an approval', async () => {
    const { registry } = setup();
    await registry.registerVersion('credit', sampleMetadata(), { actor: 'ci' });
    await expect(registry.approve('credit', 1, { actor: 'ana', reason: '' })).rejects.toBeInstanceOf(
      ValidationError,
    );
  });
});

describe('ModelRegistry aliases', () => {
  it('moves an alias optimistically and rejects a stale expectation without change', async () => {
    // Prepare
    const { registry } = setup();
    await withApproved(registry, 3);
    await registry.moveAlias('credit', 'production', { to: 1, expected: null }, who);
    await registry.moveAlias('credit', 'production', { to: 2, expected: 1 }, who);

    // Act
    const stale = registry.moveAlias('credit', 'production', { to: 3, expected: 1 }, who);

    // Assess
    await expect(stale).rejects.toBeInstanceOf(AliasConflictError);
    await expect(stale).rejects.toMatchObject({ expected: 1, actual: 2 });
    expect(await registry.aliases('credit')).toEqual({ production: 2 });
    expect((await registry.get('credit', 'production')).version).toBe(2);
  });

  it('lets candidate and user-defined aliases point at a candidate, but not production', async () => {
    const { registry } = setup();
    await registry.registerVersion('credit', sampleMetadata(), { actor: 'ci' });
    await registry.moveAlias('credit', 'candidate', { to: 1, expected: null }, who);
    await registry.moveAlias('credit', 'team-a-trial', { to: 1, expected: null }, who);
    await expect(registry.moveAlias('credit', 'production', { to: 1, expected: null }, who)).rejects.toThrow(
      'production needs an approved version',
    );
    expect((await registry.get('credit', 1)).aliases).toEqual(['candidate', 'team-a-trial']);
  });

  it('rolls production back one step per call, skipping versions no longer approved', async () => {
    // Prepare: production went 1 → 2 → 3; then 2 was rejected.
    const { registry } = setup();
    await withApproved(registry, 3);
    await registry.moveAlias('credit', 'production', { to: 1, expected: null }, who);
    await registry.moveAlias('credit', 'production', { to: 2, expected: 1 }, who);
    await registry.moveAlias('credit', 'production', { to: 3, expected: 2 }, who);
    await registry.reject('credit', 2, { actor: 'ana', reason: 'bias found' });

    // Act
    const rolled = await registry.rollback('credit', { actor: 'oncall', reason: 'error spike' });

    // Assess
    expect(rolled).toEqual({ from: 3, to: 1 });
    expect(await registry.aliases('credit')).toEqual({ production: 1 });
    await expect(registry.rollback('credit', { actor: 'oncall', reason: 'again' })).rejects.toBeInstanceOf(
      VersionConflictError,
    );
    const moves = await registry.aliasHistory('credit', 'production');
    expect(moves.map((m) => [m.from, m.to, m.details?.rollback ?? false])).toEqual([
      [null, 1, false],
      [1, 2, false],
      [2, 3, false],
      [3, 1, true],
    ]);
  });

  it('answers what production was at any moment', async () => {
    // Prepare: a clock that advances one hour per call.
    let t = Date.parse('2026-01-01T00:00:00Z');
    const { registry } = setup({
      now: () => {
        t += 3_600_000;
        return new Date(t);
      },
    });
    await withApproved(registry, 2); // 4 events: 01:00 … 04:00
    await registry.moveAlias('credit', 'production', { to: 1, expected: null }, who); // 05:00
    await registry.moveAlias('credit', 'production', { to: 2, expected: 1 }, who); // 06:00

    // Act / Assess
    expect(await registry.aliasAt('credit', 'production', new Date('2026-01-01T04:30:00Z'))).toBeNull();
    expect(await registry.aliasAt('credit', 'production', new Date('2026-01-01T05:30:00Z'))).toBe(1);
    expect(await registry.aliasAt('credit', 'production', new Date('2026-01-01T07:00:00Z'))).toBe(2);
  });
});

describe('ModelRegistry audit log and events', () => {
  it('keeps one event per change with who, when, from → to and why', async () => {
    // Prepare
    const { registry, published } = setup();
    await withApproved(registry, 2);
    await registry.moveAlias('credit', 'production', { to: 2, expected: null }, who);
    await registry.recordEvaluation(
      'credit',
      2,
      { metrics: { auc: 0.79 } },
      { actor: 'monitor', reason: 'weekly' },
    );

    // Act
    const trail = await registry.auditTrail('credit', 2);

    // Assess
    expect(trail.map((e) => [e.seq, e.type, e.from ?? null, e.to ?? null, e.actor])).toEqual([
      [3, 'VersionRegistered', null, 'candidate', 'pipeline'],
      [4, 'VersionStatusChanged', 'candidate', 'approved', 'ana@example.com'],
      [5, 'AliasMoved', null, 2, 'ana@example.com'],
      [6, 'EvaluationRecorded', null, null, 'monitor'],
    ]);
    expect((await registry.get('credit', 2)).evaluations.map((e) => e.evaluation.metrics.auc)).toEqual([
      0.79,
    ]);
    expect(published.map((e) => e.detailType)).toEqual([
      'VersionRegistered',
      'VersionStatusChanged',
      'VersionRegistered',
      'VersionStatusChanged',
      'AliasMoved',
      'EvaluationRecorded',
    ]);
    expect(published[4]).toMatchObject({
      source: 'keel.registry',
      detail: { model: 'credit', alias: 'production', to: 2 },
    });
  });

  it('commits even when the event bus is down, and reports the failure', async () => {
    const { registry, publishErrors } = setup({ failPublish: true });
    await expect(registry.registerVersion('credit', sampleMetadata(), { actor: 'ci' })).resolves.toEqual({
      version: 1,
      replay: false,
    });
    expect(publishErrors).toHaveLength(1);
  });

  it('reports unknown models, versions and aliases as ModelNotFoundError', async () => {
    const { registry } = setup();
    await expect(registry.get('nope', 1)).rejects.toBeInstanceOf(ModelNotFoundError);
    await registry.registerVersion('credit', sampleMetadata(), { actor: 'ci' });
    await expect(registry.get('credit', 7)).rejects.toThrow('version 7 not found');
    await expect(registry.get('credit', 'production')).rejects.toThrow('alias production not found');
    await expect(registry.approve('nope', 1, who)).rejects.toBeInstanceOf(ModelNotFoundError);
  });
});

describe('ModelRegistry.aliasesOrNone', () => {
  it('answers none for a model that does not exist, and the aliases of one that does', async () => {
    // Prepare
    const { registry } = setup();
    await withApproved(registry, 1);
    await registry.moveAlias('credit', 'production', { to: 1, expected: null }, who);

    // Act and assess
    await expect(registry.aliasesOrNone('nope')).resolves.toEqual({});
    await expect(registry.aliasesOrNone('credit')).resolves.toEqual({ production: 1 });
  });

  it.each([
    ['throttling', Object.assign(new Error('slow down'), { name: 'ThrottlingException' })],
    ['an integrity error', new IntegrityError('log entry 3 does not match its schema')],
  ])('lets %s through: it does not mean "no production version"', async (_, failure) => {
    // Prepare: a store that fails every read of the log.
    const { registry, store } = setup();
    await withApproved(registry, 1);
    for (const method of ['readLog', 'head'] as const) {
      if (method in store)
        (store as unknown as Record<string, unknown>)[method] = async () => {
          throw failure;
        };
    }

    // Act and assess
    await expect(registry.aliasesOrNone('credit')).rejects.toBe(failure);
  });
});

describe('ModelRegistry reads', () => {
  it('refuses to return metadata that no longer matches its schema', async () => {
    // Prepare: corrupt the projection behind the registry's back.
    const { registry, store } = setup();
    await registry.registerVersion('credit', sampleMetadata(), { actor: 'ci' });
    const stored = store.versions.get('credit#1');
    store.versions.set('credit#1', {
      ...(stored as NonNullable<typeof stored>),
      metadata: { framework: 'onnx' },
    });

    // Act / Assess
    await expect(registry.get('credit', 1)).rejects.toBeInstanceOf(IntegrityError);
  });

  it('rebuilds a registration projection lost after the append', async () => {
    const { registry, store } = setup();
    await registry.registerVersion('credit', sampleMetadata(), { actor: 'ci' });
    store.versions.clear();
    expect((await registry.get('credit', 1)).metadata.codeVersion).toBe('a1b2c3d');
  });

  it('pages versions and models', async () => {
    // Prepare
    const { registry } = setup();
    for (let i = 1; i <= 5; i++) await registry.registerVersion('credit', sampleMetadata(i), { actor: 'ci' });
    await registry.registerVersion('churn', sampleMetadata(9), { actor: 'ci' });

    // Act
    const first = await registry.listVersions('credit', { limit: 2 });
    const second = await registry.listVersions('credit', { limit: 2, cursor: first.cursor as string });
    const models = await registry.listModels();

    // Assess
    expect(first.items.map((v) => v.version)).toEqual([1, 2]);
    expect(second.items.map((v) => v.version)).toEqual([3, 4]);
    expect(models.items.map((m) => [m.model, m.latestVersion])).toEqual([
      ['churn', 1],
      ['credit', 5],
    ]);
  });
});
