/**
 * CodeDeploy's pre-traffic hook for inference rollouts: before any traffic moves, the new
 * function version answers the model version's golden set (holdout rows with the trained
 * model's probabilities, stored in lineage at registration) and must match it: same schema,
 * same version, served by the primary model, probabilities within a tolerance. Otherwise the
 * hook reports Failed and CodeDeploy rolls back before a single user request reaches it.
 */

import { logger } from '../commons/powertools.ts';
import { INFERENCE_ENV } from '../contracts/inference.ts';
import type { GoldenSet } from '../core/training/train.ts';
import type { LineageStore } from '../lineage/store.ts';
import type { RolloutPlatform } from '../ports/rollout.ts';
import type { ModelRegistry } from '../registry/registry.ts';

/** Largest tolerated difference from a golden probability (float32 outputs, other hardware). */
export const GOLDEN_TOLERANCE = 1e-4;

export interface SmokeResult {
  readonly passed: boolean;
  readonly failures: readonly string[];
}

/** Compares a `/v1/models/{name}:predict` response with the golden set. */
export function checkGoldenResponse(
  response: { statusCode?: number; body?: string },
  golden: GoldenSet,
  expectedVersion: string,
  tolerance = GOLDEN_TOLERANCE,
): SmokeResult {
  const failures: string[] = [];
  if (response.statusCode !== 200)
    return { passed: false, failures: [`status ${response.statusCode}: ${response.body ?? ''}`] };
  let body: {
    predictions?: { probability?: unknown; label?: unknown; prediction_id?: unknown }[];
    model_version?: unknown;
    served_by?: unknown;
  };
  try {
    body = JSON.parse(response.body ?? '');
  } catch {
    return { passed: false, failures: ['the body is not JSON'] };
  }
  if (body.model_version !== expectedVersion)
    failures.push(`model_version ${String(body.model_version)}, expected ${expectedVersion}`);
  if (body.served_by !== 'primary')
    failures.push(`served_by ${String(body.served_by)}: the model itself did not answer`);
  const predictions = body.predictions ?? [];
  if (predictions.length !== golden.probabilities.length)
    failures.push(`${predictions.length} predictions for ${golden.probabilities.length} rows`);
  predictions.forEach((p, i) => {
    const expected = golden.probabilities[i] as number;
    if (
      typeof p.probability !== 'number' ||
      typeof p.label !== 'number' ||
      typeof p.prediction_id !== 'string'
    )
      failures.push(`row ${i}: response schema differs (probability, label, prediction_id)`);
    else if (!(Math.abs(p.probability - expected) <= tolerance))
      failures.push(`row ${i}: probability ${p.probability}, golden ${expected}`);
  });
  return { passed: failures.length === 0, failures: failures.slice(0, 20) };
}

/** The Lambda AppSpec of a deployment: which function version is being rolled out. */
export function targetOf(appSpec: string): {
  functionName: string;
  targetVersion: string;
  currentVersion?: string;
} {
  const spec = JSON.parse(appSpec) as {
    Resources?: Record<
      string,
      { Properties?: { Name?: string; TargetVersion?: string; CurrentVersion?: string } }
    >[];
  };
  const properties = Object.values(spec.Resources?.[0] ?? {})[0]?.Properties;
  if (!properties?.Name || !properties.TargetVersion)
    throw new Error('the deployment has no Lambda AppSpec target');
  return {
    functionName: properties.Name,
    targetVersion: properties.TargetVersion,
    ...(properties.CurrentVersion ? { currentVersion: properties.CurrentVersion } : {}),
  };
}

/** The model and registry version a published function version is pinned to (its environment). */
async function pinnedModel(platform: RolloutPlatform, functionName: string, version: string) {
  const env = await platform.environment(functionName, version);
  return { model: env[INFERENCE_ENV.modelName] ?? '', version: env[INFERENCE_ENV.modelVersion] ?? '' };
}

export interface HookDependencies {
  readonly registry: ModelRegistry;
  readonly lineage: LineageStore;
  readonly platform: RolloutPlatform;
}

/** Runs the golden-set smoke test against `functionName:targetVersion`. */
export async function smokeTest(
  deps: HookDependencies,
  functionName: string,
  targetVersion: string,
): Promise<SmokeResult> {
  const { model, version: pinnedVersion } = await pinnedModel(deps.platform, functionName, targetVersion);
  const modelVersion = Number(pinnedVersion);
  if (!model || !Number.isSafeInteger(modelVersion) || modelVersion < 1)
    return { passed: false, failures: [`${functionName}:${targetVersion} is not pinned to a model version`] };
  const version = await deps.registry.get(model, modelVersion);
  const goldenHash = version.metadata.tags.goldenSet;
  if (!goldenHash)
    return { passed: false, failures: [`${model}@${modelVersion} has no golden set in the registry`] };
  const golden = await deps.lineage.getJson<GoldenSet>({ kind: 'evaluations', sha256: goldenHash });
  const event = {
    version: '2.0',
    rawPath: `/v1/models/${model}:predict`,
    requestContext: { http: { method: 'POST', path: `/v1/models/${model}:predict` } },
    body: JSON.stringify({ instances: golden.instances }),
    isBase64Encoded: false,
  };
  const response = (await deps.platform.invoke(functionName, targetVersion, event)) as {
    statusCode?: number;
    body?: string;
  };
  return checkGoldenResponse(response, golden, String(modelVersion));
}

/** The CodeDeploy BeforeAllowTraffic hook handler's work: test, then report to CodeDeploy. */
export async function preTraffic(
  deps: HookDependencies,
  event: { readonly DeploymentId: string; readonly LifecycleEventHookExecutionId: string },
): Promise<SmokeResult> {
  return runHook(deps, event, 'Pre-traffic smoke test', async () => {
    const { functionName, targetVersion } = targetOf(
      (await deps.platform.deployment(event.DeploymentId)).appSpec,
    );
    return smokeTest(deps, functionName, targetVersion);
  });
}

/** Runs a hook's check, logs the verdict and reports it to CodeDeploy; a check that throws fails. */
async function runHook(
  deps: Pick<HookDependencies, 'platform'>,
  event: { readonly DeploymentId: string; readonly LifecycleEventHookExecutionId: string },
  label: string,
  check: () => Promise<SmokeResult>,
): Promise<SmokeResult> {
  let result: SmokeResult;
  try {
    result = await check();
  } catch (error) {
    result = { passed: false, failures: [error instanceof Error ? error.message : String(error)] };
  }
  logger.info(label, { deploymentId: event.DeploymentId, ...result });
  await deps.platform.report(
    event.DeploymentId,
    event.LifecycleEventHookExecutionId,
    result.passed ? 'Succeeded' : 'Failed',
  );
  return result;
}

/** Tolerated rise of the canary's fallback rate over the baseline's (share of requests). */
export const FALLBACK_RATE_MARGIN = 0.02;
/** PSI of the canary's predictions against its own at evaluation above which a rollout fails. */
export const PREDICTION_SHIFT_LIMIT = 0.25;

/**
 * CodeDeploy's AfterAllowTraffic check: over the rollout's window, the new version's share of
 * requests not answered by its own model must not exceed the previous version's by more than
 * {@link FALLBACK_RATE_MARGIN}, and its predictions must not have shifted from its own at
 * evaluation beyond {@link PREDICTION_SHIFT_LIMIT} (the capture monitor's PSI, see `canary.ts`).
 */
export async function postTraffic(
  deps: Pick<HookDependencies, 'platform'>,
  event: { readonly DeploymentId: string; readonly LifecycleEventHookExecutionId: string },
  now: () => Date = () => new Date(),
): Promise<SmokeResult> {
  return runHook(deps, event, 'Post-traffic comparison', async () => {
    const { appSpec, createdAt } = await deps.platform.deployment(event.DeploymentId);
    const { functionName, targetVersion, currentVersion } = targetOf(appSpec);
    const pinned = (version: string) => pinnedModel(deps.platform, functionName, version);
    const target = await pinned(targetVersion);
    const to = now();
    const fallbackRate = async ({ model, version }: { model: string; version: string }) => {
      const dims = { service: `${model}-inference`, model, version };
      const sum = (name: string) => deps.platform.metric('Keel', name, dims, 'Sum', createdAt, to);
      const [primary, fallback, safe] = await Promise.all([
        sum('ServedByPrimary'),
        sum('ServedByFallback'),
        sum('ServedByDefault'),
      ]);
      const total = primary + fallback + safe;
      return { rate: total > 0 ? (fallback + safe) / total : 0, total };
    };
    const failures: string[] = [];
    const canary = await fallbackRate(target);
    if (currentVersion && currentVersion !== targetVersion) {
      const baseline = await fallbackRate(await pinned(currentVersion));
      if (canary.total > 0 && canary.rate > baseline.rate + FALLBACK_RATE_MARGIN)
        failures.push(
          `fallback rate ${(100 * canary.rate).toFixed(1)} % against the baseline's ${(100 * baseline.rate).toFixed(1)} %`,
        );
    }
    const shift = await deps.platform.metric(
      'Keel',
      'PredictionShiftPsi',
      { service: `${target.model}-monitor`, model: target.model, version: target.version },
      'Maximum',
      createdAt,
      to,
    );
    if (shift > PREDICTION_SHIFT_LIMIT)
      failures.push(`predictions shifted from the version's own at evaluation: PSI ${shift.toFixed(3)}`);
    return { passed: failures.length === 0, failures };
  });
}
