/**
 * The drift check in the local runtime: its handlers as local functions, one drift-check state
 * machine per model from `state-machines/drift-check.asl.json` (the Distributed Map runs inline
 * under aws-local-stepfunctions), and the schedules that run checks and retraining as the
 * EventBridge rules do in AWS.
 */
import { join } from 'node:path';
import type { KeelConfig } from '../functions/contracts/config/schema.ts';
import {
  DRIFT_CHECK_FUNCTIONS,
  DRIFT_CHECK_HANDLERS,
  type DriftCheckStep,
  driftCheckFunctionName,
  driftCheckPipelineName,
  driftCheckSubstitutions,
  FEATURE_REVIEW_HANDLER,
  featureReviewFunctionName,
  featureReviewSettings,
  monitoringSettings,
} from '../functions/contracts/monitoring.ts';
import { retrainingPipelineName } from '../functions/contracts/retraining.ts';
import { KeelError } from '../functions/kernel/errors.ts';
import type { CheckSummary } from '../functions/monitoring/check.ts';
import type { FeatureReviewSummary } from '../functions/monitoring/feature-review.ts';
import * as entry from '../functions/monitoring/lambda.ts';
import type { LocalPipelineRunner } from './adapters/pipeline-runner.ts';
import type { LocalLambdaRuntime } from './lambda-runtime.ts';
import type { SandboxPool } from './sandbox.ts';
import type { ScheduledJob } from './scheduler.ts';
import { LocalStateMachine, loadDefinition } from './step-functions.ts';

export const DRIFT_CHECK_DEFINITION = join(
  import.meta.dirname,
  '..',
  'state-machines',
  'drift-check.asl.json',
);

/** The drift-check functions' entry module (their one bundle in AWS), for sandbox pools. */
export const MONITORING_ENTRY = new URL('../functions/monitoring/lambda.ts', import.meta.url).href;

/**
 * Registers the drift check's functions.
 * @param sandbox a pool over {@link MONITORING_ENTRY} to run them in @default in-process
 */
export function registerMonitoringFunctions(
  lambda: LocalLambdaRuntime,
  project: string,
  sandbox?: SandboxPool,
): void {
  for (const step of Object.keys(DRIFT_CHECK_HANDLERS) as DriftCheckStep[]) {
    const exportName = DRIFT_CHECK_HANDLERS[step] as keyof typeof entry;
    lambda.register({
      name: driftCheckFunctionName(project, step),
      handler: entry[exportName] as never,
      timeoutMs: 900_000,
      ...(sandbox ? { sandbox: { pool: sandbox, exportName } } : {}),
    });
  }
  const exportName = FEATURE_REVIEW_HANDLER as keyof typeof entry;
  lambda.register({
    name: featureReviewFunctionName(project),
    handler: entry[exportName] as never,
    timeoutMs: 900_000,
    ...(sandbox ? { sandbox: { pool: sandbox, exportName } } : {}),
  });
}

/**
 * Runs one model's stale-feature review as its schedule would. The window shrinks with the
 * local time scale, as the drift check's does.
 */
export function runFeatureReviewJob(
  options: { readonly config: KeelConfig; readonly lambda: LocalLambdaRuntime; readonly timeScale?: number },
  model: string,
  request: { readonly asOf?: string; readonly version?: number; readonly actor?: string } = {},
): Promise<FeatureReviewSummary> {
  const settings = featureReviewSettings(options.config, model);
  return options.lambda.invoke<FeatureReviewSummary>(featureReviewFunctionName(options.config.project), {
    settings: { ...settings, windowDays: settings.windowDays * (options.timeScale ?? 1) },
    ...request,
  });
}

/**
 * The model's monitoring settings on the local time scale: the window a check covers and the
 * retraining cooldown shrink with the schedule that runs it (an hourly check of the last day at
 * 0.01 runs every 36 s over the last 14.4 minutes).
 */
function localMonitoringSettings(config: KeelConfig, model: string, timeScale = 1) {
  const settings = monitoringSettings(config, model);
  return {
    ...settings,
    windowHours: settings.windowHours * timeScale,
    alerts: { ...settings.alerts, retrainCooldownHours: settings.alerts.retrainCooldownHours * timeScale },
  };
}

/** Registers each model's drift-check state machine with the pipeline runner. */
export async function registerDriftCheckPipelines(options: {
  readonly config: KeelConfig;
  readonly lambda: LocalLambdaRuntime;
  readonly pipelines: LocalPipelineRunner;
  readonly timeScale: number;
}): Promise<string[]> {
  const { config, lambda } = options;
  const names: string[] = [];
  for (const [model, modelConfig] of Object.entries(config.models)) {
    const functionArns = Object.fromEntries(
      Object.entries(DRIFT_CHECK_FUNCTIONS).map(([placeholder, step]) => [
        placeholder,
        lambda.arnOf(driftCheckFunctionName(config.project, step)),
      ]),
    );
    const definition = await loadDefinition(DRIFT_CHECK_DEFINITION, {
      ...functionArns,
      ...driftCheckSubstitutions(localMonitoringSettings(config, model, options.timeScale), {
        maxConcurrency: modelConfig.monitoring.maxConcurrency,
      }),
    });
    const name = driftCheckPipelineName(config.project, model);
    options.pipelines.register(
      name,
      new LocalStateMachine({ definition, name, lambda, timeScale: options.timeScale }),
    );
    names.push(name);
  }
  return names;
}

/**
 * Runs one model's drift check as its schedule would: the function, or the state machine when
 * the model's check is distributed.
 */
export async function runDriftCheck(
  options: {
    readonly config: KeelConfig;
    readonly lambda: LocalLambdaRuntime;
    readonly pipelines: LocalPipelineRunner;
    readonly timeScale?: number;
  },
  model: string,
  request: { readonly asOf?: string } = {},
): Promise<CheckSummary> {
  const { config } = options;
  const settings = localMonitoringSettings(config, model, options.timeScale);
  if (config.models[model]?.monitoring.distributed) {
    const { executionId } = await options.pipelines.start(
      driftCheckPipelineName(config.project, model),
      request,
    );
    const done = await options.pipelines.wait(executionId);
    if (done.status !== 'SUCCEEDED')
      throw new KeelError(
        `drift check ${executionId} ${done.status}: ${done.error ?? ''} ${done.cause ?? ''}`.trim(),
      );
    return done.output as CheckSummary;
  }
  return options.lambda.invoke<CheckSummary>(driftCheckFunctionName(config.project), {
    settings,
    ...request,
  });
}

/** The config's schedules: every model's drift check, and its retraining where one is set. */
export function scheduledJobs(
  options: {
    readonly config: KeelConfig;
    readonly lambda: LocalLambdaRuntime;
    readonly pipelines: LocalPipelineRunner;
    readonly timeScale?: number;
  },
  onCheck?: (summary: CheckSummary) => void,
  onReview?: (summary: FeatureReviewSummary) => void,
): ScheduledJob[] {
  const { config } = options;
  return Object.entries(config.models).flatMap(([model, m]): ScheduledJob[] => [
    {
      name: `${model}:drift-check`,
      expression: m.schedules.driftCheck,
      // Run first: `onCheck?.(await …)` would skip the check itself when no one listens.
      run: async () => {
        const summary = await runDriftCheck(options, model);
        onCheck?.(summary);
      },
    },
    ...(m.schedules.featureReview
      ? [
          {
            name: `${model}:feature-review`,
            expression: m.schedules.featureReview,
            run: async () => {
              const summary = await runFeatureReviewJob(options, model);
              onReview?.(summary);
            },
          },
        ]
      : []),
    ...(m.schedules.retrain
      ? [
          {
            name: `${model}:retrain`,
            expression: m.schedules.retrain,
            run: () =>
              options.pipelines.start(retrainingPipelineName(config.project, model), {
                trigger: { type: 'schedule', reason: `schedule ${m.schedules.retrain}` },
              }),
          },
        ]
      : []),
  ]);
}
