import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLineageStore, createRegistry } from '../../functions/composition/aws.ts';
import { parseConfig } from '../../functions/contracts/config/load.ts';
import { cell } from '../../functions/core/data/table.ts';
import { profileTable } from '../../functions/core/drift/profile.ts';
import { bucketCounts, psi, quantileEdges } from '../../functions/core/drift/statistics.ts';
import { transform } from '../../functions/core/features/pipeline.ts';
import type { LogisticModel } from '../../functions/core/models/logistic.ts';
import { predictProba } from '../../functions/core/models/model.ts';
import { exportOnnx } from '../../functions/core/onnx/export.ts';
import { SCORE_COLUMN } from '../../functions/core/training/train.ts';
import { type DeployDependencies, deployAndWait } from '../../functions/inference/deploy.ts';
import { ConflictError } from '../../functions/kernel/errors.ts';
import type { ModelRegistry } from '../../functions/registry/registry.ts';
import { LocalRuntime } from '../../local/runtime.ts';
import { inferenceFunctionName } from '../../local/serving.ts';
import { type ReferenceModel, referenceModels, registerModelBytes } from '../support/onnx-reference.ts';

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

describe('canary prediction-shift alarm', () => {
  /** The evaluation profile the pipeline would store for a version scoring `scores`. */
  async function profileOf(scores: Float64Array): Promise<string> {
    const table = {
      rowCount: scores.length,
      columns: new Map([[SCORE_COLUMN, { kind: 'numeric' as const, values: scores }]]),
    };
    return (await createLineageStore().putJson('profiles', profileTable(table, { sampleSize: 0 }))).sha256;
  }

  /** Canary traffic until the rollout ends: every request carries the whole scoring table. */
  async function rollOut(version: number): Promise<string> {
    const instances = Array.from({ length: reference.scoring.rowCount }, (_, r) =>
      Object.fromEntries(
        reference.pipeline.inputs.map((i) => [
          i.name,
          cell(reference.scoring.columns.get(i.name) as never, r),
        ]),
      ),
    );
    const { deploymentId } = await runtime.deployModel({
      model: 'credit',
      version,
      // About 5 s at this time scale: the capture reaches the shift monitor once a second.
      shift: { type: 'canary', percentage: 50, intervalMinutes: 40 },
      actor: 'pipeline',
      reason: 'retrained',
    });
    for (;;) {
      await fetch(`${runtime.url}/v1/models/credit:predict`, {
        method: 'POST',
        body: JSON.stringify({ instances }),
      });
      const state = await runtime.deployer.getDeployment(deploymentId);
      if (state.status === 'InProgress') continue;
      // The registry follows the rollout in the background: wait until it has recorded the end.
      await vi.waitFor(async () => {
        const trail = await registry.auditTrail('credit', version);
        const ended = trail.some(
          (e) =>
            e.type === 'DeploymentRecorded' &&
            ['Succeeded', 'RolledBack'].includes(String(e.details?.status)),
        );
        expect(ended).toBe(true);
      });
      return state.status;
    }
  }

  const { matrix } = transform(reference.pipeline, reference.scoring);
  const lr = reference.models[0] as ReferenceModel & { model: LogisticModel };
  const lrScores = predictProba(lr.model, matrix);
  // A model that legitimately scores higher (another prior, as after a change in the base rate).
  const raised = { ...lr.model, intercept: lr.model.intercept + 1 };
  const raisedScores = predictProba(raised, matrix);
  const raisedBytes = exportOnnx(reference.pipeline, raised, {
    producerVersion: 'reference',
    metadata: { 'keel.pipeline_hash': 'reference', 'keel.training_data_hash': 'raised' },
  });

  it('promotes a canary that scores unlike production but as it did at evaluation', async () => {
    // Prepare: production is the LR (v1); compared with it, the raised model's scores shifted
    const edges = quantileEdges(lrScores);
    expect(psi(bucketCounts(lrScores, edges), bucketCounts(raisedScores, edges))).toBeGreaterThan(0.25);
    const version = await registerModelBytes(registry, createLineageStore(), raisedBytes, {
      seed: 4,
      tags: { profile: await profileOf(raisedScores) },
    });

    // Act
    const status = await rollOut(version);

    // Assess
    expect(status).toBe('Succeeded');
    expect((await registry.aliases('credit')).production).toBe(version);
  }, 60_000);

  it('rolls back a canary that scores unlike its evaluation', async () => {
    // Prepare: the LR, whose stored evaluation says it scores like the raised model (as when
    // serving feeds it differently from evaluation)
    const production = (await registry.aliases('credit')).production;
    const version = await registerModelBytes(registry, createLineageStore(), lr.bytes, {
      seed: 5,
      tags: { profile: await profileOf(raisedScores) },
    });

    // Act
    const status = await rollOut(version);

    // Assess
    expect(status).toBe('Failed');
    expect((await registry.aliases('credit')).production).toBe(production);
    const recorded = (await registry.auditTrail('credit', version))
      .filter((e) => e.type === 'DeploymentRecorded')
      .at(-1);
    expect(recorded?.reason).toMatch(/prediction-shift/);
  }, 60_000);
});
