import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistry } from '../../functions/composition/aws.ts';
import { type BootstrapEvent, bootstrapModels } from '../../local/bootstrap.ts';
import type { LocalRuntime } from '../../local/runtime.ts';
import { renderStatus, runtimeStatus } from '../../local/status.ts';
import { startScenarioRuntime } from '../support/runtime.ts';

let runtime: LocalRuntime;

beforeAll(async () => {
  const raw = JSON.parse(readFileSync('keel.config.json', 'utf8'));
  raw.models.credit.data.source = 'synthetic:credit?rows=6000&seed=3';
  raw.models.credit.training.hyperparameters = { trees: 30 };
  raw.models.credit.gates = { bootstrapSamples: 200 };
  runtime = await startScenarioRuntime(raw);
}, 60_000);

afterAll(async () => {
  await runtime?.stop();
});

describe('bootstrapModels (first start of keel up)', () => {
  it('trains v1 through the pipeline, registers a fallback, serves v1, and does nothing the second time', async () => {
    // Act
    const first: BootstrapEvent[] = [];
    await bootstrapModels(runtime, (e) => first.push(e));
    const second: BootstrapEvent[] = [];
    await bootstrapModels(runtime, (e) => second.push(e));

    // Assess
    expect(first.map((e) => `${e.step} ${e.status}`)).toEqual([
      'pipeline started',
      'pipeline done',
      'fallback started',
      'fallback done',
    ]);
    expect(second.map((e) => `${e.step} ${e.status}`)).toEqual(['pipeline skipped', 'fallback skipped']);
    const registry = createRegistry();
    expect(await registry.aliases('credit')).toMatchObject({ production: 1, fallback: 2 });
    expect((await registry.get('credit', 2)).metadata.framework).toBe('onnx/keel-lr');
    const served = await fetch(`${runtime.url}/v1/models/credit:predict`, {
      method: 'POST',
      body: JSON.stringify({
        instances: [
          {
            income: 3000,
            debt: 900,
            late_payments: 1,
            loan_amount: 8000,
            employment: 'salaried',
            region: 'east',
          },
        ],
      }),
    });
    expect(served.status).toBe(200);
    expect(((await served.json()) as { model_version: string }).model_version).toBe('1');
    const panel = renderStatus(await runtimeStatus(runtime));
    expect(panel).toContain('credit  candidate=v1 fallback=v2 production=v1   live: v1 100 %');
    expect(panel).toMatch(/pipeline {4}\d\d:\d\d:\d\d {2}SUCCEEDED \(promoted\) {2}trigger manual/);
  }, 120_000);
});
