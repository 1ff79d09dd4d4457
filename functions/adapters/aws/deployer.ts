import {
  type CodeDeployClient,
  type DeploymentStatus as CodeDeployStatus,
  CreateDeploymentCommand,
  GetDeploymentCommand,
} from '@aws-sdk/client-codedeploy';
import {
  GetAliasCommand,
  GetFunctionConfigurationCommand,
  type LambdaClient,
  PublishVersionCommand,
  UpdateFunctionConfigurationCommand,
  waitUntilFunctionUpdatedV2,
} from '@aws-sdk/client-lambda';
import { codeDeployConfigName } from '../../contracts/deployment.ts';
import { NotFoundError } from '../../kernel/errors.ts';
import type {
  AliasRouting,
  Deployer,
  DeploymentRequest,
  DeploymentState,
  DeploymentStatus,
} from '../../ports/deployer.ts';

/** The CodeDeploy application and deployment group that own a function's alias. */
export interface DeploymentGroupRef {
  readonly application: string;
  readonly deploymentGroup: string;
  /** Lambda functions run as CodeDeploy lifecycle hooks. */
  readonly hooks?: { readonly beforeAllowTraffic?: string; readonly afterAllowTraffic?: string };
}

interface LambdaAppSpec {
  readonly Resources: readonly Record<
    string,
    { readonly Properties: { Name: string; Alias: string; CurrentVersion: string; TargetVersion: string } }
  >[];
}

const STATUS: Readonly<Record<CodeDeployStatus, DeploymentStatus>> = {
  Created: 'InProgress',
  Queued: 'InProgress',
  InProgress: 'InProgress',
  Baking: 'InProgress',
  Ready: 'InProgress',
  Succeeded: 'Succeeded',
  Failed: 'Failed',
  Stopped: 'Stopped',
};

/**
 * {@link Deployer} on Lambda versions/aliases and CodeDeploy. Rollback alarms are those of the
 * deployment group (set by the CDK serving construct); CodeDeploy evaluates them itself.
 */
export class CodeDeployDeployer implements Deployer {
  readonly #lambda: LambdaClient;
  readonly #codeDeploy: CodeDeployClient;
  readonly #groups: Readonly<Record<string, DeploymentGroupRef>>;

  /** @param groups deployment group per function name. */
  constructor(
    lambda: LambdaClient,
    codeDeploy: CodeDeployClient,
    groups: Readonly<Record<string, DeploymentGroupRef>>,
  ) {
    this.#lambda = lambda;
    this.#codeDeploy = codeDeploy;
    this.#groups = groups;
  }

  async publishVersion(
    functionName: string,
    description: string,
    environment?: Readonly<Record<string, string>>,
  ): Promise<{ version: string }> {
    if (environment && Object.keys(environment).length > 0) {
      const current = await this.#lambda.send(
        new GetFunctionConfigurationCommand({ FunctionName: functionName }),
      );
      await this.#lambda.send(
        new UpdateFunctionConfigurationCommand({
          FunctionName: functionName,
          Environment: { Variables: { ...current.Environment?.Variables, ...environment } },
        }),
      );
      // A version publishes the configuration as it is once the update has landed.
      await waitUntilFunctionUpdatedV2(
        { client: this.#lambda, maxWaitTime: 120 },
        { FunctionName: functionName },
      );
    }
    const response = await this.#lambda.send(
      new PublishVersionCommand({ FunctionName: functionName, Description: description }),
    );
    if (!response.Version) throw new Error(`PublishVersion for ${functionName} returned no version`);
    return { version: response.Version };
  }

  async aliasRouting(functionName: string, alias: string): Promise<AliasRouting> {
    const response = await this.#lambda.send(
      new GetAliasCommand({ FunctionName: functionName, Name: alias }),
    );
    const [additional] = Object.entries(response.RoutingConfig?.AdditionalVersionWeights ?? {});
    return {
      version: response.FunctionVersion ?? '$LATEST',
      ...(additional ? { additionalVersion: { version: additional[0], weight: additional[1] } } : {}),
    };
  }

  async startDeployment(request: DeploymentRequest): Promise<{ deploymentId: string }> {
    const group = this.#groups[request.functionName];
    if (group === undefined)
      throw new NotFoundError(`No deployment group is configured for ${request.functionName}`);
    const current = await this.aliasRouting(request.functionName, request.alias);
    const appSpec = {
      version: 0.0,
      Resources: [
        {
          [request.functionName]: {
            Type: 'AWS::Lambda::Function',
            Properties: {
              Name: request.functionName,
              Alias: request.alias,
              CurrentVersion: current.version,
              TargetVersion: request.targetVersion,
            },
          },
        },
      ],
      Hooks: [
        ...(group.hooks?.beforeAllowTraffic ? [{ BeforeAllowTraffic: group.hooks.beforeAllowTraffic }] : []),
        ...(group.hooks?.afterAllowTraffic ? [{ AfterAllowTraffic: group.hooks.afterAllowTraffic }] : []),
      ],
    };
    const response = await this.#codeDeploy.send(
      new CreateDeploymentCommand({
        applicationName: group.application,
        deploymentGroupName: group.deploymentGroup,
        deploymentConfigName: codeDeployConfigName(request.shift),
        description: request.description,
        revision: { revisionType: 'AppSpecContent', appSpecContent: { content: JSON.stringify(appSpec) } },
      }),
    );
    if (!response.deploymentId)
      throw new Error(`CreateDeployment for ${request.functionName} returned no id`);
    return { deploymentId: response.deploymentId };
  }

  async getDeployment(deploymentId: string): Promise<DeploymentState> {
    const { deploymentInfo: info } = await this.#codeDeploy.send(new GetDeploymentCommand({ deploymentId }));
    if (!info) throw new NotFoundError(`Deployment ${deploymentId} not found`);
    const spec = JSON.parse(info.revision?.appSpecContent?.content ?? '{"Resources":[]}') as LambdaAppSpec;
    const resource = Object.values(spec.Resources[0] ?? {})[0]?.Properties;
    if (resource === undefined)
      throw new NotFoundError(`Deployment ${deploymentId} is not a Lambda deployment`);
    const routing = await this.aliasRouting(resource.Name, resource.Alias);
    const targetWeight =
      routing.version === resource.TargetVersion
        ? 1
        : routing.additionalVersion?.version === resource.TargetVersion
          ? routing.additionalVersion.weight
          : 0;
    return {
      deploymentId,
      status: STATUS[info.status ?? 'Created'],
      functionName: resource.Name,
      alias: resource.Alias,
      fromVersion: resource.CurrentVersion,
      targetVersion: resource.TargetVersion,
      targetWeight,
      ...(info.errorInformation?.message ? { reason: info.errorInformation.message } : {}),
    };
  }
}
