/**
 * What a CodeDeploy lifecycle hook needs from AWS: the function version a deployment rolls
 * out, that version's configuration, an invocation of it, and the verdict back to CodeDeploy.
 */

import { type CloudWatchClient, GetMetricStatisticsCommand } from '@aws-sdk/client-cloudwatch';
import {
  type CodeDeployClient,
  GetDeploymentCommand,
  PutLifecycleEventHookExecutionStatusCommand,
} from '@aws-sdk/client-codedeploy';
import { GetFunctionConfigurationCommand, type LambdaClient } from '@aws-sdk/client-lambda';

import type { RolloutPlatform } from '../../ports/rollout.ts';
import { LambdaFunctionInvoker } from './function-invoker.ts';

export class AwsRolloutPlatform implements RolloutPlatform {
  readonly #codeDeploy: CodeDeployClient;
  readonly #lambda: LambdaClient;
  readonly #cloudWatch: CloudWatchClient | undefined;

  readonly #invoker: LambdaFunctionInvoker;

  constructor(codeDeploy: CodeDeployClient, lambda: LambdaClient, cloudWatch?: CloudWatchClient) {
    this.#invoker = new LambdaFunctionInvoker(lambda);
    this.#codeDeploy = codeDeploy;
    this.#lambda = lambda;
    this.#cloudWatch = cloudWatch;
  }

  async deployment(deploymentId: string): Promise<{ appSpec: string; createdAt: Date }> {
    const deployment = await this.#codeDeploy.send(new GetDeploymentCommand({ deploymentId }));
    return {
      appSpec: deployment.deploymentInfo?.revision?.appSpecContent?.content ?? '',
      createdAt: deployment.deploymentInfo?.createTime ?? new Date(),
    };
  }

  async metric(
    namespace: string,
    name: string,
    dimensions: Readonly<Record<string, string>>,
    statistic: 'Sum' | 'Maximum',
    from: Date,
    to: Date,
  ): Promise<number> {
    if (!this.#cloudWatch) throw new Error('AwsRolloutPlatform was built without a CloudWatch client');
    // One period over the whole window, rounded up to whole minutes.
    const period = Math.max(60, Math.ceil((to.getTime() - from.getTime()) / 60_000) * 60);
    const result = await this.#cloudWatch.send(
      new GetMetricStatisticsCommand({
        Namespace: namespace,
        MetricName: name,
        Dimensions: Object.entries(dimensions).map(([Name, Value]) => ({ Name, Value })),
        StartTime: from,
        EndTime: to,
        Period: period,
        Statistics: [statistic],
      }),
    );
    const values = (result.Datapoints ?? []).map((d) => (statistic === 'Sum' ? d.Sum : d.Maximum) ?? 0);
    if (values.length === 0) return 0;
    return statistic === 'Sum' ? values.reduce((a, b) => a + b, 0) : Math.max(...values);
  }

  async environment(functionName: string, version: string): Promise<Readonly<Record<string, string>>> {
    const configuration = await this.#lambda.send(
      new GetFunctionConfigurationCommand({ FunctionName: functionName, Qualifier: version }),
    );
    return configuration.Environment?.Variables ?? {};
  }

  async invoke(functionName: string, version: string, event: unknown): Promise<unknown> {
    return this.#invoker.invokeVersion(functionName, version, event);
  }

  async report(deploymentId: string, hookExecutionId: string, status: 'Succeeded' | 'Failed'): Promise<void> {
    await this.#codeDeploy.send(
      new PutLifecycleEventHookExecutionStatusCommand({
        deploymentId,
        lifecycleEventHookExecutionId: hookExecutionId,
        status,
      }),
    );
  }
}
