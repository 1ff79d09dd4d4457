/**
 * The retraining pipeline in the local runtime: its handlers as local functions, one state
 * machine per model from `state-machines/retraining.asl.json` with the substitutions CDK gives
 * it, the approvals API route, and the drift rule (an event subscription) that starts it.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { KeelConfig } from '../functions/contracts/config/schema.ts';
import { RETRAIN_WITHOUT_EVENT } from '../functions/contracts/monitoring.ts';
import {
  approvalApiFunctionName,
  DRIFT_EVENT,
  RETRAINING_FUNCTIONS,
  RETRAINING_HANDLERS,
  retrainingFunctionName,
  retrainingPipelineName,
  retrainingSettings,
  retrainingSubstitutions,
} from '../functions/contracts/retraining.ts';
import * as entry from '../functions/retraining/lambda.ts';
import type { LocalEventBus } from './adapters/event-bus.ts';
import type { LocalPipelineRunner } from './adapters/pipeline-runner.ts';
import type { LocalLambdaRuntime } from './lambda-runtime.ts';
import type { SandboxPool } from './sandbox.ts';
import { LocalStateMachine, loadDefinition } from './step-functions.ts';

export const RETRAINING_DEFINITION = join(import.meta.dirname, '..', 'state-machines', 'retraining.asl.json');

/** The commit of the working tree, as CDK records it at synth; a placeholder outside git. */
export function localCodeVersion(cwd = join(import.meta.dirname, '..')): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return '0000000';
  }
}

/** The retraining functions' entry module (their one bundle in AWS), for sandbox pools. */
export const RETRAINING_ENTRY = new URL('../functions/retraining/lambda.ts', import.meta.url).href;

/**
 * Registers the pipeline's step functions (and the approvals API).
 * @param sandbox a pool over {@link RETRAINING_ENTRY} to run the steps in @default in-process
 */
export function registerRetrainingFunctions(
  lambda: LocalLambdaRuntime,
  project: string,
  sandbox?: SandboxPool,
): void {
  for (const step of Object.values(RETRAINING_FUNCTIONS)) {
    // The export the deployed function runs (its CDK `handler`), from the same entry module.
    const exportName = RETRAINING_HANDLERS[step] as keyof typeof entry;
    lambda.register({
      name: retrainingFunctionName(project, step),
      handler: entry[exportName] as never,
      timeoutMs: 900_000,
      ...(sandbox ? { sandbox: { pool: sandbox, exportName } } : {}),
    });
  }
  lambda.register({ name: approvalApiFunctionName(project), handler: entry.approvalApiHandler as never });
}

/** Registers each model's retraining state machine with the pipeline runner. */
export async function registerRetrainingPipelines(options: {
  readonly config: KeelConfig;
  readonly lambda: LocalLambdaRuntime;
  readonly pipelines: LocalPipelineRunner;
  readonly timeScale: number;
  readonly lineageBucket: string;
  readonly codeVersion?: string;
}): Promise<string[]> {
  const { config, lambda } = options;
  const codeVersion = options.codeVersion ?? localCodeVersion();
  const names: string[] = [];
  for (const [model, modelConfig] of Object.entries(config.models)) {
    const settings = retrainingSettings(config, model, { codeVersion });
    const functionArns = Object.fromEntries(
      Object.entries(RETRAINING_FUNCTIONS).map(([placeholder, step]) => [
        placeholder,
        lambda.arnOf(retrainingFunctionName(config.project, step)),
      ]),
    );
    const definition = await loadDefinition(RETRAINING_DEFINITION, {
      ...functionArns,
      ...retrainingSubstitutions(settings, {
        rolloutPollSeconds: modelConfig.retraining.rolloutPollSeconds,
        // The SageMaker branch is not taken locally (no image configured, or a closed threshold).
        sageMakerRoleArn: 'arn:aws:iam::000000000000:role/keel-local-no-sagemaker',
        sageMakerOutputUri: `s3://${options.lineageBucket}/sagemaker/`,
      }),
    });
    const name = retrainingPipelineName(config.project, model);
    options.pipelines.register(
      name,
      new LocalStateMachine({
        definition,
        name,
        lambda,
        tokens: options.pipelines.tokens,
        timeScale: options.timeScale,
      }),
    );
    names.push(name);
  }
  return names;
}

/** Starts a model's retraining when monitoring reports drift, as the EventBridge rule does. */
export function subscribeDriftTrigger(
  eventBus: LocalEventBus,
  pipelines: LocalPipelineRunner,
  config: KeelConfig,
): () => void {
  return eventBus.subscribe(
    { source: [DRIFT_EVENT.source], detailType: [DRIFT_EVENT.detailType] },
    async (event) => {
      const model = String(event.detail.model ?? '');
      if (!config.models[model]) return;
      await pipelines.start(retrainingPipelineName(config.project, model), {
        trigger: { type: 'drift', reason: String(event.detail.reason ?? 'drift detected') },
      });
    },
  );
}

/**
 * Starts a model's retraining without the columns a stale-feature review flagged, as the
 * EventBridge rule on {@link RETRAIN_WITHOUT_EVENT} does.
 */
export function subscribeRetrainWithout(
  eventBus: LocalEventBus,
  pipelines: LocalPipelineRunner,
  config: KeelConfig,
): () => void {
  return eventBus.subscribe(
    { source: [RETRAIN_WITHOUT_EVENT.source], detailType: [RETRAIN_WITHOUT_EVENT.detailType] },
    async (event) => {
      const model = String(event.detail.model ?? '');
      const without = event.detail.without;
      if (!config.models[model] || !Array.isArray(without) || without.length === 0) return;
      await pipelines.start(retrainingPipelineName(config.project, model), {
        trigger: { type: 'feature-review', reason: String(event.detail.reason ?? 'stale features') },
        without: without.map(String),
      });
    },
  );
}
