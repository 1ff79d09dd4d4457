/**
 * What a CodeDeploy lifecycle hook needs from its platform: the function version a deployment
 * rolls out, that version's configuration, an invocation of it, and the verdict back.
 */
export interface RolloutPlatform {
  /** The Lambda AppSpec content of a deployment, and when it started. */
  deployment(deploymentId: string): Promise<{ readonly appSpec: string; readonly createdAt: Date }>;
  /** A statistic (`Sum` or `Maximum`) of a metric between two times; 0 without data. */
  metric(
    namespace: string,
    name: string,
    dimensions: Readonly<Record<string, string>>,
    statistic: 'Sum' | 'Maximum',
    from: Date,
    to: Date,
  ): Promise<number>;
  /** Environment of one published version of a function. */
  environment(functionName: string, version: string): Promise<Readonly<Record<string, string>>>;
  /** Invokes one published version synchronously; rejects when the function itself failed. */
  invoke(functionName: string, version: string, event: unknown): Promise<unknown>;
  report(deploymentId: string, hookExecutionId: string, status: 'Succeeded' | 'Failed'): Promise<void>;
}
