import type { TrafficShift } from '../contracts/deployment.ts';

export type { TrafficShift };

export type DeploymentStatus = 'InProgress' | 'Succeeded' | 'Failed' | 'Stopped';

export interface DeploymentRequest {
  readonly functionName: string;
  readonly alias: string;
  /** The published version that should end up with all traffic. */
  readonly targetVersion: string;
  readonly shift: TrafficShift;
  /** CloudWatch alarms whose ALARM state rolls the deployment back. */
  readonly alarms?: readonly string[];
  readonly description?: string;
}

export interface DeploymentState {
  readonly deploymentId: string;
  readonly status: DeploymentStatus;
  readonly functionName: string;
  readonly alias: string;
  readonly fromVersion: string;
  readonly targetVersion: string;
  /** Share of traffic on the target version, 0..1. */
  readonly targetWeight: number;
  /** Why the deployment failed or stopped, e.g. the alarm that fired. */
  readonly reason?: string;
}

export interface AliasRouting {
  readonly version: string;
  /** Additional version and its weight (0..1), as Lambda's `RoutingConfig`. */
  readonly additionalVersion?: { readonly version: string; readonly weight: number };
}

/** Port: Lambda versions and aliases, and CodeDeploy traffic shifting between them. */
export interface Deployer {
  /**
   * Publishes the function's current code and configuration as a new immutable version, after
   * merging `environment` into its configuration (how a version is pinned to a model version).
   */
  publishVersion(
    functionName: string,
    description: string,
    environment?: Readonly<Record<string, string>>,
  ): Promise<{ version: string }>;
  startDeployment(request: DeploymentRequest): Promise<{ deploymentId: string }>;
  getDeployment(deploymentId: string): Promise<DeploymentState>;
  aliasRouting(functionName: string, alias: string): Promise<AliasRouting>;
}
