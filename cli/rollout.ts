/**
 * Rollouts from the CLI: where one can run (AWS or a running `keel up`) and running one to its
 * end. `keel deploy` and the registry's production moves share it, so that the registry and
 * live traffic never disagree.
 */
import { resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { createLineageStore, createRegistry, ports } from '../functions/composition/aws.ts';
import { type KeelConfig, PREDEFINED_SHIFTS } from '../functions/contracts/config/schema.ts';
import { inferenceFunctionName } from '../functions/contracts/inference.ts';
import { RESOURCE_ENV } from '../functions/contracts/resources.ts';
import { type DeployRequest, deployAndWait, startDeployment } from '../functions/inference/deploy.ts';
import { KeelError } from '../functions/kernel/errors.ts';
import type { DeploymentState, TrafficShift } from '../functions/ports/deployer.ts';
import { ModelNotFoundError } from '../functions/registry/errors.ts';
import { runningRuntime } from '../local/runtime.ts';
import { controlApi } from './control-api.ts';
import { openTarget } from './target.ts';

/** The version an alias points at, or undefined when the model or the alias does not exist. */
export async function aliasOf(configFile: string, model: string, alias: string): Promise<number | undefined> {
  const target = await openTarget(configFile);
  try {
    return (await target.registry.aliases(model))[alias];
  } catch (error) {
    if (error instanceof ModelNotFoundError) return undefined;
    throw error;
  } finally {
    await target.close();
  }
}

/** Where a rollout can run: AWS (`KEEL_TABLE_NAME` set), a running `keel up`, or nowhere. */
export async function deployTarget(
  config: KeelConfig,
): Promise<'aws' | { readonly url: string } | undefined> {
  if (process.env[RESOURCE_ENV.table]) return 'aws';
  const running = await runningRuntime(resolve(config.local.stateDir));
  return running?.url ? { url: running.url } : undefined;
}

export type RolloutOutcome = { deploymentId: string; functionVersion?: string } & Partial<DeploymentState>;

/**
 * Rolls `request.version` out on the model's live alias: through CodeDeploy in AWS or through
 * the running `keel up`; with `wait`, until it succeeds or is rolled back (production moves
 * only on success).
 */
export async function rollOut(
  config: KeelConfig,
  request: Omit<DeployRequest, 'alarms'>,
  options: { readonly wait: boolean },
): Promise<RolloutOutcome> {
  const target = await deployTarget(config);
  if (target === 'aws') {
    const deps = {
      registry: createRegistry(),
      deployer: ports().deployer,
      lineage: createLineageStore(),
      functionName: (m: string) => inferenceFunctionName(config.project, m),
    };
    return options.wait ? await deployAndWait(deps, request) : await startDeployment(deps, request);
  }
  if (!target)
    throw new KeelError(
      'No running keel up: start it (`npm start`), or set KEEL_TABLE_NAME to deploy in AWS',
    );
  const started = await controlApi<{ deploymentId: string; functionVersion: string }>(
    target.url,
    '/_keel/deploy',
    {
      method: 'POST',
      body: JSON.stringify(request),
    },
  );
  let outcome: RolloutOutcome = started;
  while (options.wait) {
    const { settled, ...state } = await controlApi<DeploymentState & { settled?: boolean }>(
      target.url,
      `/_keel/deployments/${started.deploymentId}`,
    );
    outcome = { ...started, ...state };
    // Over once the registry has it too: production moves right after the traffic does.
    if (state.status !== 'InProgress' && settled !== false) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return outcome;
}

/** A `--shift` value: one of the predefined CodeDeploy-style shifts. */
export function parseShiftOption(value: string): TrafficShift {
  if (!(value in PREDEFINED_SHIFTS))
    throw new InvalidArgumentError(
      `expected one of ${Object.keys(PREDEFINED_SHIFTS).join(', ')}, got "${value}"`,
    );
  return PREDEFINED_SHIFTS[value as keyof typeof PREDEFINED_SHIFTS];
}
