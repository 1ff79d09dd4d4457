/** Entry point of the CodeDeploy BeforeAllowTraffic hook of inference rollouts (see hooks.ts). */
import { keelHandler } from '../commons/middleware.ts';
import { ports } from '../composition/aws.ts';
import { lineageOf, registryOf } from '../composition/services.ts';
import { preTraffic } from './hooks.ts';

const p = ports();
const dependencies = { registry: registryOf(p), lineage: lineageOf(p), platform: p.rolloutPlatform };

export const handler = keelHandler(
  async (event: { DeploymentId: string; LifecycleEventHookExecutionId: string }) => {
    await preTraffic(dependencies, event);
  },
);
