/**
 * What a CodeDeploy lifecycle hook needs from AWS: the function version a deployment rolls
 * out, that version's configuration, an invocation of it, and the verdict back to CodeDeploy.
 */
import {
  type CodeDeployClient,
  GetDeploymentCommand,
  PutLifecycleEventHookExecutionStatusCommand,
} from '@aws-sdk/client-codedeploy';
import { GetFunctionConfigurationCommand, InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';

export interface RolloutPlatform {
  /** The Lambda AppSpec content of a deployment. */
  appSpec(deploymentId: string): Promise<string>;
  /** Environment of one published version of a function. */
  environment(functionName: string, version: string): Promise<Readonly<Record<string, string>>>;
  /** Invokes one published version synchronously; rejects when the function itself failed. */
  invoke(functionName: string, version: string, event: unknown): Promise<unknown>;
  report(deploymentId: string, hookExecutionId: string, status: 'Succeeded' | 'Failed'): Promise<void>;
}

export class AwsRolloutPlatform implements RolloutPlatform {
  readonly #codeDeploy: CodeDeployClient;
  readonly #lambda: LambdaClient;

  constructor(codeDeploy: CodeDeployClient, lambda: LambdaClient) {
    this.#codeDeploy = codeDeploy;
    this.#lambda = lambda;
  }

  async appSpec(deploymentId: string): Promise<string> {
    const deployment = await this.#codeDeploy.send(new GetDeploymentCommand({ deploymentId }));
    return deployment.deploymentInfo?.revision?.appSpecContent?.content ?? '';
  }

  async environment(functionName: string, version: string): Promise<Readonly<Record<string, string>>> {
    const configuration = await this.#lambda.send(
      new GetFunctionConfigurationCommand({ FunctionName: functionName, Qualifier: version }),
    );
    return configuration.Environment?.Variables ?? {};
  }

  async invoke(functionName: string, version: string, event: unknown): Promise<unknown> {
    const invoked = await this.#lambda.send(
      new InvokeCommand({
        FunctionName: functionName,
        Qualifier: version,
        Payload: new TextEncoder().encode(JSON.stringify(event)),
      }),
    );
    const text = new TextDecoder().decode(invoked.Payload);
    if (invoked.FunctionError)
      throw new Error(`${functionName}:${version} failed: ${invoked.FunctionError} ${text}`);
    return JSON.parse(text);
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
