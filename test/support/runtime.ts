import { parseConfig } from '../../functions/contracts/config/load.ts';
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
