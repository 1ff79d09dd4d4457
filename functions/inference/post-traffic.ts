/** Entry point of the CodeDeploy AfterAllowTraffic hook of inference rollouts (see hooks.ts). */
import { AwsRolloutPlatform } from '../commons/adapters/aws/rollout.ts';
import { cloudWatchClient, codeDeployClient, lambdaClient } from '../commons/clients.ts';
import { keelHandler } from '../commons/middleware.ts';
import { postTraffic } from './hooks.ts';

const dependencies = {
  platform: new AwsRolloutPlatform(codeDeployClient(), lambdaClient(), cloudWatchClient()),
};

export const handler = keelHandler(
  async (event: { DeploymentId: string; LifecycleEventHookExecutionId: string }) => {
    await postTraffic(dependencies, event);
  },
);
