/**
 * Private retraining on the local runtime: the pipeline's Train step asks the data source's
 * privacy ledger for each DP-SGD run before it touches a row, records the grant with the
 * version, and fails cleanly, registering nothing, when the budget is spent.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsDataPorts, createRegistry } from '../../functions/composition/aws.ts';
import { privacyLedgerOf } from '../../functions/composition/services.ts';
import { retrainingPipelineName } from '../../functions/contracts/retraining.ts';
import { epsilonSpent } from '../../functions/core/privacy/rdp.ts';
import type { PrivacyLedger } from '../../functions/registry/ledger.ts';
import type { ModelRegistry } from '../../functions/registry/registry.ts';
import { bootstrapModels } from '../../local/bootstrap.ts';
import type { LocalRuntime } from '../../local/runtime.ts';
import { startScenarioRuntime } from '../support/runtime.ts';

const SOURCE = 'synthetic:credit?rows=6000&seed=3';
const BUDGET = { epsilon: 1.5, delta: 1e-5 };

let runtime: LocalRuntime;
let registry: ModelRegistry;
let ledger: PrivacyLedger;

async function retrain() {
  const { executionId } = await runtime.pipelines.start(retrainingPipelineName('keel', 'private'), {
    trigger: { type: 'manual', reason: 'test' },
  });
  const done = await runtime.pipelines.wait(executionId);
  // How it ended arrives on the bus, after the execution stops.
  for (let i = 0; i < 200 && runtime.lastRetrainings.get('private')?.execution !== executionId; i++)
    await new Promise((resolve) => setTimeout(resolve, 10));
  return { ...done, ended: runtime.lastRetrainings.get('private') };
}

beforeAll(async () => {
  const raw = JSON.parse(readFileSync('keel.config.json', 'utf8'));
  const base = raw.models.credit;
  raw.models = {
    private: {
      ...base,
      // Every statistic declared, so nothing of the pipeline is learnt from the private rows.
      features: JSON.parse(readFileSync('examples/private-credit/features.json', 'utf8')),
      data: { ...base.data, source: SOURCE, protectedAttributes: ['sex'], privacy: BUDGET },
      training: { algorithm: 'lr', seed: 42, holdout: 0.2, privacy: { epsilon: 1, delta: 1e-5 } },
      // DP-SGD's model is judged by the same gates; these are loose so that the test is about spending.
      gates: {
        ...base.gates,
        bootstrapSamples: 200,
        minDemographicParityRatio: 0,
        maxEqualizedOddsDifference: 1,
        mitigations: [],
      },
      retraining: { rolloutPollSeconds: 1 },
    },
  };
  runtime = await startScenarioRuntime(raw);
  registry = createRegistry();
  ledger = privacyLedgerOf({ ...awsDataPorts(), eventBus: { publish: async () => undefined } });
}, 60_000);

afterAll(async () => {
  await runtime?.stop();
});

describe('retraining with differential privacy', () => {
  it('spends from the data source’s ledger, and the version records the grant', async () => {
    // Act
    const run = await retrain();
    // Assess
    expect(run.status, JSON.stringify(run.ended)).toBe('SUCCEEDED');
    const [entry] = (await ledger.entries(SOURCE)).items;
    expect(entry).toMatchObject({
      type: 'spent',
      purpose: { kind: 'training', model: 'private' },
      budget: BUDGET,
      actor: 'keel-retraining',
    });
    expect(entry?.purpose.run).toMatch(/^[a-z0-9-]+$/);
    const v1 = await registry.get('private', 1);
    const privacy = v1.metadata.privacy;
    expect(privacy?.ledger).toEqual({ name: SOURCE, seq: 1 });
    // The ledger granted exactly the mechanism the version records, and the accountant agrees.
    expect(entry?.mechanism).toEqual({
      kind: 'sampled-gaussian',
      noiseMultiplier: privacy?.noiseMultiplier,
      sampleRate: privacy?.sampleRate,
      steps: privacy?.steps,
    });
    const again = epsilonSpent({
      noiseMultiplier: privacy?.noiseMultiplier as number,
      sampleRate: privacy?.sampleRate as number,
      steps: privacy?.steps as number,
      delta: 1e-5,
    });
    expect(again.epsilon).toBeCloseTo(privacy?.epsilon as number, 9);
    expect(entry?.epsilonAfter).toBeCloseTo(again.epsilon, 9);
  }, 120_000);

  it('trains the fallback privately too, spending from the same ledger', async () => {
    // Act
    await bootstrapModels(runtime);
    // Assess
    const fallback = (await registry.aliases('private')).fallback as number;
    const privacy = (await registry.get('private', fallback)).metadata.privacy;
    expect(privacy?.ledger).toEqual({ name: SOURCE, seq: 2 });
    const entries = (await ledger.entries(SOURCE)).items;
    expect(entries.map((e) => [e.type, e.actor])).toEqual([
      ['spent', 'keel-retraining'],
      ['spent', 'keel-bootstrap'],
    ]);
  }, 120_000);

  it('fails a run the budget cannot carry, registers nothing, and the ledger keeps the refusal', async () => {
    // Act: a third run at ε = 1 would bring the source past 1.5.
    const run = await retrain();
    // Assess
    expect(run.status).toBe('FAILED');
    expect(run.ended?.reason).toMatch(/over its budget of ε = 1\.5/);
    expect((await registry.listVersions('private')).items.map((v) => v.version)).toEqual([1, 2]);
    const entries = (await ledger.entries(SOURCE)).items;
    expect(entries.map((e) => e.type)).toEqual(['spent', 'spent', 'refused']);
    const balance = await ledger.balance(SOURCE, BUDGET);
    expect(balance).toMatchObject({ spends: 2, refusals: 1 });
    expect(balance.epsilon).toBeLessThanOrEqual(1.5);
  }, 120_000);
});
