/** Entry point of the CodeDeploy BeforeAllowTraffic hook of inference rollouts (see hooks.ts). */
import { AwsRolloutPlatform } from '../commons/adapters/aws/rollout.ts';
import { codeDeployClient, lambdaClient } from '../commons/clients.ts';
import { createLineageStore, createRegistry } from '../commons/composition.ts';
import { keelHandler } from '../commons/middleware.ts';
import { preTraffic } from './hooks.ts';

const dependencies = {
  registry: createRegistry(),
  lineage: createLineageStore(),
  platform: new AwsRolloutPlatform(codeDeployClient(), lambdaClient()),
};

export const handler = keelHandler(
  async (event: { DeploymentId: string; LifecycleEventHookExecutionId: string }) => {
    await preTraffic(dependencies, event);
  },
);
