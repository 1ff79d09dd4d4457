/**
 * Where a CLI verb's registry and lineage live:
 * 1. AWS (or any endpoint in `AWS_ENDPOINT_URL`) when `KEEL_TABLE_NAME` is set, as after
 *    `cdk deploy` with the stack outputs exported;
 * 2. else the running `keel up` of this project, through the emulators it announces;
 * 3. else the project's local state, with the embedded emulators started for this command.
 */
import { resolve } from 'node:path';
import { resetClients } from '../functions/commons/clients.ts';
import {
  awsDataPorts,
  createLineageStore,
  createPrivacyLedger,
  createRegistry,
} from '../functions/composition/aws.ts';
import { loadConfig } from '../functions/contracts/config/load.ts';
import { RESOURCE_ENV } from '../functions/contracts/resources.ts';
import type { LineageStore } from '../functions/lineage/store.ts';
import type { CaptureReader } from '../functions/ports/capture.ts';
import type { PrivacyLedger } from '../functions/registry/ledger.ts';
import type { ModelRegistry } from '../functions/registry/registry.ts';
import { LocalEventBus } from '../local/adapters/event-bus.ts';
import { LocalRuntime, runningRuntime } from '../local/runtime.ts';

export interface Target {
  readonly registry: ModelRegistry;
  readonly lineage: LineageStore;
  /** The privacy budget ledgers. */
  readonly ledger: PrivacyLedger;
  /** Captured predictions and outcomes (built on first use). */
  readonly capture: CaptureReader;
  /** Where the data is, for messages. */
  readonly where: string;
  close(): Promise<void>;
}

export async function openTarget(configFile: string, env: NodeJS.ProcessEnv = process.env): Promise<Target> {
  if (env[RESOURCE_ENV.table]) {
    return {
      registry: createRegistry(env),
      lineage: createLineageStore(env),
      ledger: createPrivacyLedger(env),
      get capture() {
        return awsDataPorts(env).captureReader;
      },
      where: `table ${env[RESOURCE_ENV.table]}`,
      close: async () => {},
    };
  }
  const config = await loadConfig(configFile);
  const stateDir = resolve(config.local.stateDir);
  const running = await runningRuntime(stateDir);
  if (running) {
    const saved = Object.fromEntries(Object.keys(running.env).map((k) => [k, env[k]]));
    Object.assign(env, running.env);
    resetClients();
    // The runtime's event bus lives in its own process: events of this command are in the
    // registry's log, but its subscribers do not hear them (they would once it serves an API).
    const bus = new LocalEventBus();
    return {
      registry: createRegistry(env, bus),
      lineage: createLineageStore(env),
      ledger: createPrivacyLedger(env, bus),
      get capture() {
        return awsDataPorts(env).captureReader;
      },
      where: `keel up (pid ${running.pid})`,
      close: async () => {
        for (const [k, v] of Object.entries(saved)) {
          if (v === undefined) delete env[k];
          else env[k] = v;
        }
        resetClients();
      },
    };
  }
  const runtime = await LocalRuntime.start({ config, stateDir, env });
  return {
    registry: createRegistry(env),
    lineage: createLineageStore(env),
    ledger: createPrivacyLedger(env),
    get capture() {
      return awsDataPorts(env).captureReader;
    },
    where: stateDir,
    close: () => runtime.stop(),
  };
}
