import { randomUUID } from 'node:crypto';
import { shiftDurationMs, targetWeightAt } from '../../functions/contracts/deployment.ts';
import { NotFoundError, ValidationError } from '../../functions/kernel/errors.ts';
import type {
  AliasRouting,
  Deployer,
  DeploymentRequest,
  DeploymentState,
} from '../../functions/ports/deployer.ts';
import type { AlarmMonitor } from '../../functions/ports/metrics-sink.ts';

export interface LocalDeployerOptions {
  readonly alarms: AlarmMonitor;
  /** Multiplies every shift interval: 0.01 turns a 5-minute canary into 3 seconds. @default 1 */
  readonly timeScale?: number;
  /** How often traffic and alarms are re-evaluated, in real milliseconds. @default 250 */
  readonly tickMs?: number;
  /**
   * Alarms of a function's deployment group: used when a request names none, as CodeDeploy uses
   * the group's alarm configuration. @default none
   */
  readonly groupAlarms?: (functionName: string, version: string) => readonly string[];
  /** Called on every change of a deployment, e.g. to refresh a status panel. */
  readonly onChange?: (state: DeploymentState) => void;
}

interface Running {
  state: DeploymentState;
  readonly request: DeploymentRequest;
  readonly startedAt: number;
  timer?: NodeJS.Timeout;
}

/**
 * {@link Deployer} that shifts alias weights in-process on CodeDeploy's schedule and rolls back
 * when one of the request's alarms fires, as a CodeDeploy deployment group with auto-rollback
 * does. Versions are immutable numbered snapshots, like published Lambda versions.
 */
export class LocalDeployer implements Deployer {
  readonly #options: Required<Omit<LocalDeployerOptions, 'onChange' | 'groupAlarms'>> &
    Pick<LocalDeployerOptions, 'onChange' | 'groupAlarms'>;
  readonly #versions = new Map<
    string,
    { version: string; description: string; environment: Readonly<Record<string, string>> }[]
  >();
  readonly #aliases = new Map<string, AliasRouting>();
  readonly #deployments = new Map<string, Running>();

  constructor(options: LocalDeployerOptions) {
    this.#options = { timeScale: 1, tickMs: 250, ...options };
  }

  async publishVersion(
    functionName: string,
    description: string,
    environment: Readonly<Record<string, string>> = {},
  ): Promise<{ version: string }> {
    const versions = this.#versions.get(functionName) ?? [];
    const version = String(versions.length + 1);
    // Each version keeps the environment it was published with, as Lambda versions do.
    const previous = versions.at(-1)?.environment ?? {};
    versions.push({ version, description, environment: { ...previous, ...environment } });
    this.#versions.set(functionName, versions);
    return { version };
  }

  /** A function's published versions (description and environment), oldest first. */
  versions(
    functionName: string,
  ): readonly { version: string; description: string; environment: Readonly<Record<string, string>> }[] {
    return this.#versions.get(functionName) ?? [];
  }

  async aliasRouting(functionName: string, alias: string): Promise<AliasRouting> {
    const routing = this.#aliases.get(aliasKey(functionName, alias));
    if (routing === undefined) throw new NotFoundError(`Alias ${functionName}:${alias} does not exist`);
    return routing;
  }

  /**
   * Starts shifting `alias` to the target version. An alias that does not exist yet is created
   * on the target at once, as the first CDK deployment of a function does.
   */
  async startDeployment(request: DeploymentRequest): Promise<{ deploymentId: string }> {
    const { functionName, alias, targetVersion } = request;
    if (!this.versions(functionName).some((v) => v.version === targetVersion)) {
      throw new ValidationError(`Version ${targetVersion} of ${functionName} has not been published`);
    }
    const active = [...this.#deployments.values()].find(
      (d) =>
        d.state.status === 'InProgress' &&
        d.request.functionName === functionName &&
        d.request.alias === alias,
    );
    if (active) {
      throw new ValidationError(
        `Deployment ${active.state.deploymentId} is still in progress for ${functionName}:${alias}`,
      );
    }
    const key = aliasKey(functionName, alias);
    const fromVersion = this.#aliases.get(key)?.version;
    const deploymentId = `d-${randomUUID().slice(0, 8).toUpperCase()}`;
    const alarms = request.alarms ?? this.#options.groupAlarms?.(functionName, targetVersion);
    const running: Running = {
      request: alarms ? { ...request, alarms: [...alarms] } : request,
      startedAt: Date.now(),
      state: {
        deploymentId,
        status: 'InProgress',
        functionName,
        alias,
        fromVersion: fromVersion ?? targetVersion,
        targetVersion,
        targetWeight: 0,
      },
    };
    this.#deployments.set(deploymentId, running);
    if (fromVersion === undefined || fromVersion === targetVersion) {
      this.#finish(running, 'Succeeded');
    } else {
      this.#tick(running);
      if (running.state.status === 'InProgress') {
        running.timer = setInterval(() => this.#tick(running), this.#options.tickMs);
      }
    }
    return { deploymentId };
  }

  async getDeployment(deploymentId: string): Promise<DeploymentState> {
    const running = this.#deployments.get(deploymentId);
    if (running === undefined) throw new NotFoundError(`Deployment ${deploymentId} does not exist`);
    return running.state;
  }

  /** Stops every deployment's timer, leaving traffic where it is (used on shutdown). */
  close(): void {
    for (const running of this.#deployments.values()) clearInterval(running.timer);
  }

  #tick(running: Running): void {
    void this.#options.alarms.alarming(running.request.alarms ?? []).then((firing) => {
      if (running.state.status !== 'InProgress') return;
      if (firing.length > 0) {
        this.#finish(running, 'Failed', `Rolled back: alarm(s) ${firing.join(', ')} in ALARM`);
        return;
      }
      const elapsed = (Date.now() - running.startedAt) / this.#options.timeScale;
      if (elapsed >= shiftDurationMs(running.request.shift)) {
        this.#finish(running, 'Succeeded');
        return;
      }
      const weight = targetWeightAt(running.request.shift, elapsed);
      this.#route(running, weight);
    });
  }

  #route(running: Running, weight: number): void {
    const { functionName, alias, fromVersion, targetVersion } = running.state;
    this.#aliases.set(aliasKey(functionName, alias), {
      version: fromVersion,
      ...(weight > 0 ? { additionalVersion: { version: targetVersion, weight } } : {}),
    });
    if (weight !== running.state.targetWeight) {
      running.state = { ...running.state, targetWeight: weight };
      this.#options.onChange?.(running.state);
    }
  }

  #finish(running: Running, status: 'Succeeded' | 'Failed', reason?: string): void {
    clearInterval(running.timer);
    const { functionName, alias, fromVersion, targetVersion } = running.state;
    const version = status === 'Succeeded' ? targetVersion : fromVersion;
    this.#aliases.set(aliasKey(functionName, alias), { version });
    running.state = {
      ...running.state,
      status,
      targetWeight: status === 'Succeeded' ? 1 : 0,
      ...(reason ? { reason } : {}),
    };
    this.#options.onChange?.(running.state);
  }
}

function aliasKey(functionName: string, alias: string): string {
  return `${functionName}:${alias}`;
}
