/** Entry point of the CodeDeploy AfterAllowTraffic hook of inference rollouts (see hooks.ts). */
import { keelHandler } from '../commons/middleware.ts';
import { ports } from '../composition/aws.ts';
import { postTraffic } from './hooks.ts';

const dependencies = { platform: ports().rolloutPlatform };

export const handler = keelHandler(
  async (event: { DeploymentId: string; LifecycleEventHookExecutionId: string }) => {
    await postTraffic(dependencies, event);
  },
);
