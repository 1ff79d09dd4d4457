import { parseConfig } from '../../functions/contracts/config/load.ts';
import type { TrainingResult } from '../../functions/core/training/train.ts';
import type { LineageStore } from '../../functions/lineage/store.ts';
import { publishTrainingResult } from '../../functions/registry/publish.ts';
import type { ModelRegistry } from '../../functions/registry/registry.ts';
import { LocalRuntime } from '../../local/runtime.ts';

/**
 * A local runtime for a scenario test: `raw` is the shipped config as JSON with the test's own
 * overrides; no stages, nothing kept, an API on a free port, and time 500 times faster
 * (rollouts, waits, approval timeouts: 1 h → 7 s).
 */
export function startScenarioRuntime(raw: { stages?: unknown }): Promise<LocalRuntime> {
  delete raw.stages;
  return LocalRuntime.start({ config: parseConfig(raw), ephemeral: true, timeScale: 0.002, port: 0 });
}

/**
 * Publishes a training result as `model`'s first version, approved and in `production`: a
 * scenario's v1, as the bootstrap would leave it.
 */
export async function publishAsProduction(
  registry: ModelRegistry,
  lineage: LineageStore,
  model: string,
  result: TrainingResult,
): Promise<number> {
  const { version } = await publishTrainingResult(registry, lineage, result, {
    model,
    owner: 'risk',
    intendedUse: 'test',
    codeVersion: 'abc1234',
    actor: 'test',
  });
  await registry.approve(model, version, { actor: 'test', reason: 'baseline' });
  await registry.moveAlias(
    model,
    'production',
    { to: version, expected: null },
    { actor: 'test', reason: 'v1' },
  );
  return version;
}
