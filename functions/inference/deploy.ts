/**
 * The deploy API, used by the retraining pipeline and `keel deploy`: roll a registered,
 * approved model version onto a model's `live` alias through the deployer (CodeDeploy in AWS,
 * the local deployer otherwise), and keep the registry's account of it. The `production`
 * alias moves only when a rollout succeeds: a rollout CodeDeploy rolls back moves no alias,
 * and the audit log records why.
 */

import { INFERENCE_ENV, LIVE_ALIAS } from '../contracts/inference.ts';
import { ConflictError } from '../kernel/errors.ts';
import type { LineageStore } from '../lineage/store.ts';
import type { Deployer, DeploymentState, TrafficShift } from '../ports/deployer.ts';
import { recordModelCard } from '../registry/card-record.ts';
import type { ModelRegistry } from '../registry/registry.ts';
import { decideRollback } from '../registry/state.ts';

export interface DeployDependencies {
  readonly registry: ModelRegistry;
  readonly deployer: Deployer;
  /**
   * Where the promoted version's model card is regenerated (its deployment history changed).
   * @default none: the card is not regenerated
   */
  readonly lineage?: Pick<LineageStore, 'getJson' | 'putJson'>;
  /** The inference function of a model. */
  readonly functionName: (model: string) => string;
}

export interface DeployRequest {
  readonly model: string;
  readonly version: number;
  readonly shift: TrafficShift;
  /**
   * Alarms that roll the rollout back, or a function of the published function version that
   * names them. @default those of the deployment group (AWS)
   */
  readonly alarms?: readonly string[] | ((functionVersion: string) => readonly string[]);
  readonly actor: string;
  readonly reason: string;
  /**
   * The rollout takes `production` back to an earlier version: on success the registry's
   * rollback records it (and its alias history unwinds), not a plain move. @default false
   */
  readonly rollback?: boolean;
}

export interface StartedDeployment {
  readonly deploymentId: string;
  /** The published function version pinned to the model version. */
  readonly functionVersion: string;
}

/** Publishes a function version pinned to the model version and starts shifting `live` to it. */
export async function startDeployment(
  deps: DeployDependencies,
  request: DeployRequest,
): Promise<StartedDeployment> {
  const target = await deps.registry.get(request.model, request.version);
  if (target.status !== 'approved') {
    throw new ConflictError(
      `${request.model}@${request.version} is ${target.status}; only approved versions are deployed`,
    );
  }
  const functionName = deps.functionName(request.model);
  const { version: functionVersion } = await deps.deployer.publishVersion(
    functionName,
    JSON.stringify({ model: request.model, modelVersion: request.version }),
    { [INFERENCE_ENV.modelVersion]: String(request.version) },
  );
  const { deploymentId } = await deps.deployer.startDeployment({
    functionName,
    alias: LIVE_ALIAS,
    targetVersion: functionVersion,
    shift: request.shift,
    ...(request.alarms
      ? { alarms: typeof request.alarms === 'function' ? request.alarms(functionVersion) : request.alarms }
      : {}),
    description: `${request.model}@${request.version}: ${request.reason}`,
  });
  await deps.registry.recordDeployment(
    request.model,
    request.version,
    { deploymentId, functionVersion, status: 'InProgress', shift: request.shift },
    { actor: request.actor, reason: request.reason },
  );
  return { deploymentId, functionVersion };
}

/**
 * Looks at a rollout and, once it is over, records its outcome: on success the `production`
 * alias moves to the version; on a rollback nothing moves and the reason is recorded.
 * Returns the deployment's state; call again while it is `InProgress`.
 */
export async function settleDeployment(
  deps: DeployDependencies,
  request: {
    readonly model: string;
    readonly version: number;
    readonly deploymentId: string;
    readonly actor: string;
    /** See {@link DeployRequest.rollback}. @default false */
    readonly rollback?: boolean;
    /** Why, recorded with a rollback. @default the rollout's success */
    readonly reason?: string;
  },
): Promise<DeploymentState> {
  const state = await deps.deployer.getDeployment(request.deploymentId);
  if (state.status === 'InProgress') return state;
  const attribution = { actor: request.actor };
  if (state.status === 'Succeeded') {
    const current = (await deps.registry.aliases(request.model)).production ?? null;
    if (current !== request.version) {
      const reason = `rollout ${request.deploymentId} succeeded${request.reason ? `: ${request.reason}` : ''}`;
      const rollsBack =
        request.rollback === true &&
        current !== null &&
        decideRollback(request.model, await deps.registry.state(request.model), 'production').to ===
          request.version;
      if (rollsBack)
        await deps.registry.rollback(request.model, { ...attribution, alias: 'production', reason });
      else
        await deps.registry.moveAlias(
          request.model,
          'production',
          { to: request.version, expected: current },
          { ...attribution, reason },
        );
    }
    await deps.registry.recordDeployment(
      request.model,
      request.version,
      { deploymentId: request.deploymentId, status: 'Succeeded' },
      { ...attribution, reason: 'all traffic on the new version' },
    );
    // The card of what now serves says so: regenerated with its deployment history.
    if (deps.lineage)
      await recordModelCard(
        { registry: deps.registry, lineage: deps.lineage },
        request.model,
        request.version,
        {
          trigger: 'promotion',
          actor: request.actor,
        },
      );
  } else {
    await deps.registry.recordDeployment(
      request.model,
      request.version,
      {
        deploymentId: request.deploymentId,
        status: 'RolledBack',
        cause: state.status,
        detail: state.reason ?? '',
      },
      { ...attribution, reason: `rolled back: ${state.reason ?? state.status}` },
    );
  }
  return state;
}

/** What {@link settleDeployment} needs to know of a started rollout's request. */
export function settlementOf(
  request: Omit<DeployRequest, 'alarms' | 'shift'>,
  deploymentId: string,
): Parameters<typeof settleDeployment>[1] {
  return {
    model: request.model,
    version: request.version,
    deploymentId,
    actor: request.actor,
    ...(request.rollback ? { rollback: true, reason: request.reason } : {}),
  };
}

/** Starts a rollout and waits for its outcome, recording it. */
export async function deployAndWait(
  deps: DeployDependencies,
  request: DeployRequest,
  options: { readonly pollMs?: number; readonly timeoutMs?: number } = {},
): Promise<DeploymentState & { readonly functionVersion: string }> {
  const started = await startDeployment(deps, request);
  const deadline = Date.now() + (options.timeoutMs ?? 3_600_000);
  for (;;) {
    const state = await settleDeployment(deps, settlementOf(request, started.deploymentId));
    if (state.status !== 'InProgress') return { ...state, functionVersion: started.functionVersion };
    if (Date.now() > deadline)
      throw new Error(`rollout ${started.deploymentId} still in progress after the timeout`);
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 5000));
  }
}
