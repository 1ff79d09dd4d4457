import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLineageStore, createRegistry } from '../../functions/commons/composition.ts';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { ConflictError } from '../../functions/commons/errors.ts';
import { cell } from '../../functions/core/data/table.ts';
import { type DeployDependencies, deployAndWait } from '../../functions/inference/deploy.ts';
import type { ModelRegistry } from '../../functions/registry/registry.ts';
import { LocalRuntime } from '../../local/runtime.ts';
import { inferenceFunctionName } from '../../local/serving.ts';
import { referenceModels, registerModelBytes } from '../support/onnx-reference.ts';

const reference = referenceModels();
let runtime: LocalRuntime;
let registry: ModelRegistry;
let deps: DeployDependencies;

async function predictVersion(): Promise<string> {
  const instance = Object.fromEntries(
    reference.pipeline.inputs.map((i) => [i.name, cell(reference.scoring.columns.get(i.name) as never, 0)]),
  );
  const response = await fetch(`${runtime.url}/v1/models/credit:predict`, {
    method: 'POST',
    body: JSON.stringify({ instances: [instance] }),
  });
  return ((await response.json()) as { model_version: string }).model_version;
}

beforeAll(async () => {
  const config = parseConfig(JSON.parse(readFileSync('keel.config.json', 'utf8')));
  runtime = await LocalRuntime.start({ config, ephemeral: true, timeScale: 0.002, port: 0 });
  registry = createRegistry();
  const lineage = createLineageStore();
  const [lr, gbdt] = reference.models;
  for (const [k, model] of [lr, gbdt, lr].entries()) {
    if (!model) throw new Error('reference models missing');
    // Versions 1 and 2 approved; version 3 left a candidate.
    await registerModelBytes(registry, lineage, model.bytes, { seed: k + 1, approve: k < 2 });
  }
  deps = {
    registry,
    deployer: runtime.deployer,
    functionName: (model) => inferenceFunctionName(config.project, model),
  };
}, 60_000);

afterAll(async () => {
  await runtime?.stop();
});

describe('deploy API', () => {
  it('rolls a version out, pins the function version to it, and moves production on success', async () => {
    // Act
    const result = await deployAndWait(
      deps,
      { model: 'credit', version: 1, shift: { type: 'all-at-once' }, actor: 'ana', reason: 'first release' },
      { pollMs: 20 },
    );

    // Assess
    expect(result.status).toBe('Succeeded');
    expect((await registry.aliases('credit')).production).toBe(1);
    const published = runtime.deployer.versions(deps.functionName('credit')).at(-1);
    expect(published?.environment.KEEL_MODEL_VERSION).toBe('1');
    expect(await predictVersion()).toBe('1');
    const trail = await registry.auditTrail('credit', 1);
    expect(trail.filter((e) => e.type === 'DeploymentRecorded').map((e) => e.details?.status)).toEqual([
      'InProgress',
      'Succeeded',
    ]);
  });

  it('moves no registry alias when an alarm rolls the canary back, and records why', async () => {
    // Prepare: an alarm that is firing.
    runtime.metrics.defineAlarm({
      name: 'credit-fallback-rate',
      namespace: 'Keel',
      metric: 'FallbackRate',
      statistic: 'Maximum',
      periodMs: 60_000,
      threshold: 0.05,
      comparison: '>',
    });
    await runtime.metrics.publish('Keel', [{ name: 'FallbackRate', value: 0.5, unit: 'None' }]);

    // Act
    const result = await deployAndWait(
      deps,
      {
        model: 'credit',
        version: 2,
        shift: { type: 'canary', percentage: 10, intervalMinutes: 5 },
        alarms: ['credit-fallback-rate'],
        actor: 'pipeline',
        reason: 'retrained',
      },
      { pollMs: 20 },
    );

    // Assess
    expect(result.status).toBe('Failed');
    expect((await registry.aliases('credit')).production).toBe(1);
    expect(await predictVersion()).toBe('1');
    const recorded = (await registry.auditTrail('credit', 2))
      .filter((e) => e.type === 'DeploymentRecorded')
      .at(-1);
    expect(recorded?.details).toMatchObject({ status: 'RolledBack' });
    expect(recorded?.reason).toMatch(/credit-fallback-rate/);
  });

  it('refuses to deploy a version that is not approved', async () => {
    await expect(
      deployAndWait(deps, {
        model: 'credit',
        version: 3,
        shift: { type: 'all-at-once' },
        actor: 'a',
        reason: 'r',
      }),
    ).rejects.toBeInstanceOf(ConflictError);
  });
});
