import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { KeelConfig } from '../functions/contracts/config/schema.ts';
import { KeelDataStack } from './stacks/data-stack.ts';
import { KeelPipelineStack } from './stacks/pipeline-stack.ts';
import { KeelServingStack } from './stacks/serving-stack.ts';

export interface KeelStacks {
  readonly data: KeelDataStack;
  readonly serving: KeelServingStack;
  readonly pipeline: KeelPipelineStack;
}

/**
 * Composes Keel's stacks onto `app` from a validated config, with cdk-nag's AWS Solutions
 * checks on every synth. Shared by `infra/app.ts` and the tests, so both build the same app.
 *
 * Context: `keel:objectLockRetentionDays` turns on Object Lock for the lineage bucket;
 * `keel:modelVersions` (`{"credit": 3}`) pins the registry version each model serves;
 * `keel:codeVersion` gives the commit the pipeline records when git cannot (a source archive).
 */
export function composeKeel(app: App, config: KeelConfig): KeelStacks {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const env = { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };
  const lockDays = app.node.tryGetContext('keel:objectLockRetentionDays') as string | number | undefined;
  const data = new KeelDataStack(app, `${config.project}-data`, {
    config,
    env,
    description: 'Keel data plane: model registry, lineage and capture storage, event bus',
    ...(lockDays !== undefined ? { objectLockRetentionDays: Number(lockDays) } : {}),
  });
  const versions = app.node.tryGetContext('keel:modelVersions') as
    | string
    | Record<string, number>
    | undefined;
  const serving = new KeelServingStack(app, `${config.project}-serving`, {
    config,
    storage: data.storage,
    capture: data.capture,
    env,
    description: 'Keel serving: inference API, models behind canary deployments',
    ...(versions !== undefined
      ? { modelVersions: typeof versions === 'string' ? JSON.parse(versions) : versions }
      : {}),
  });
  const pipeline = new KeelPipelineStack(app, `${config.project}-pipeline`, {
    config,
    storage: data.storage,
    serving,
    capture: data.capture,
    env,
    description: 'Keel retraining: Step Functions pipeline with gates, approvals and canary rollout',
  });
  return { data, serving, pipeline };
}
