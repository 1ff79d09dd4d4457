/**
 * Federated training in the local runtime: its step functions and client API as local
 * functions, one state machine per federated model from `state-machines/federated.asl.json`
 * with the substitutions CDK gives it, and the hand-over to the retraining pipeline
 * (`states:startExecution.sync:2`) run on the local pipeline runner.
 */
import { join } from 'node:path';
import type { KeelConfig } from '../functions/contracts/config/schema.ts';
import {
  FEDERATED_FUNCTIONS,
  FEDERATED_HANDLERS,
  federatedApiFunctionName,
  federatedFunctionName,
  federatedPipelineName,
  federatedSettings,
  federatedSubstitutions,
} from '../functions/contracts/federated.ts';
import { retrainingPipelineName } from '../functions/contracts/retraining.ts';
import * as entry from '../functions/federated/lambda.ts';
import type { LocalPipelineRunner } from './adapters/pipeline-runner.ts';
import type { LocalLambdaRuntime } from './lambda-runtime.ts';
import { LocalStateMachine, loadDefinition } from './step-functions.ts';

export const FEDERATED_DEFINITION = join(import.meta.dirname, '..', 'state-machines', 'federated.asl.json');

const START_SYNC = 'arn:aws:states:::states:startExecution.sync:2';

/** The models of a config that train federated. */
export const federatedModels = (config: KeelConfig): string[] =>
  Object.entries(config.models)
    .filter(([, m]) => m.federated !== undefined)
    .map(([name]) => name);

/** Registers the federated steps and the client API (in this process: they are light). */
export function registerFederatedFunctions(lambda: LocalLambdaRuntime, project: string): void {
  for (const step of Object.values(FEDERATED_FUNCTIONS)) {
    const exportName = FEDERATED_HANDLERS[step] as keyof typeof entry;
    lambda.register({
      name: federatedFunctionName(project, step),
      handler: entry[exportName] as never,
      timeoutMs: 900_000,
    });
  }
  lambda.register({ name: federatedApiFunctionName(project), handler: entry.federatedApiHandler as never });
}

/** An error whose name is the Step Functions error type, as `startExecution.sync` fails with. */
class TaskFailed extends Error {
  override readonly name = 'States.TaskFailed';
}

/** Registers each federated model's state machine. */
export async function registerFederatedPipelines(options: {
  readonly config: KeelConfig;
  readonly lambda: LocalLambdaRuntime;
  readonly pipelines: LocalPipelineRunner;
}): Promise<string[]> {
  const { config, lambda, pipelines } = options;
  const names: string[] = [];
  for (const model of federatedModels(config)) {
    const settings = federatedSettings(config, model);
    const retraining = retrainingPipelineName(config.project, model);
    const definition = await loadDefinition(FEDERATED_DEFINITION, {
      ...Object.fromEntries(
        Object.entries(FEDERATED_FUNCTIONS).map(([placeholder, step]) => [
          placeholder,
          lambda.arnOf(federatedFunctionName(config.project, step)),
        ]),
      ),
      ...federatedSubstitutions(settings, { retrainingStateMachineArn: retraining }),
    });
    const name = federatedPipelineName(config.project, model);
    pipelines.register(
      name,
      new LocalStateMachine({
        definition,
        name,
        lambda,
        tokens: pipelines.tokens,
        // Clients do real work on real clocks: their heartbeats and timeouts are not scaled.
        timeScale: 1,
        integrations: {
          [START_SYNC]: async (input) => {
            const { StateMachineArn, Input } = input as { StateMachineArn: string; Input: unknown };
            const { executionId } = await pipelines.start(StateMachineArn, Input);
            const done = await pipelines.wait(executionId);
            if (done.status !== 'SUCCEEDED')
              throw new TaskFailed(
                JSON.stringify({ error: done.error ?? done.status, cause: done.cause ?? '' }),
              );
            return { ExecutionArn: executionId, Status: done.status, Output: done.output };
          },
        },
      }),
    );
    names.push(name);
  }
  return names;
}
