import {
  DescribeExecutionCommand,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { NotFoundError } from '../../errors.ts';
import type { ExecutionDescription, PipelineRunner } from '../../ports/pipeline-runner.ts';

/** {@link PipelineRunner} on AWS Step Functions. */
export class StepFunctionsPipelineRunner implements PipelineRunner {
  readonly #client: SFNClient;
  readonly #stateMachineArns: Readonly<Record<string, string>>;

  /** @param stateMachineArns state-machine ARN per pipeline name, e.g. `{ retraining: 'arn:…' }`. */
  constructor(client: SFNClient, stateMachineArns: Readonly<Record<string, string>>) {
    this.#client = client;
    this.#stateMachineArns = stateMachineArns;
  }

  async start(
    pipeline: string,
    input: unknown,
    options?: { name?: string },
  ): Promise<{ executionId: string }> {
    const stateMachineArn = this.#stateMachineArns[pipeline];
    if (stateMachineArn === undefined) {
      throw new NotFoundError(
        `Unknown pipeline "${pipeline}"; known: ${Object.keys(this.#stateMachineArns).join(', ') || 'none'}`,
      );
    }
    // Step Functions itself makes a named start idempotent for identical input.
    const response = await this.#client.send(
      new StartExecutionCommand({ stateMachineArn, input: JSON.stringify(input), name: options?.name }),
    );
    if (!response.executionArn) throw new Error(`StartExecution for ${pipeline} returned no execution ARN`);
    return { executionId: response.executionArn };
  }

  async describe(executionId: string): Promise<ExecutionDescription> {
    const execution = await this.#client.send(new DescribeExecutionCommand({ executionArn: executionId }));
    return {
      executionId,
      status: execution.status === 'PENDING_REDRIVE' ? 'FAILED' : (execution.status ?? 'RUNNING'),
      output: execution.output === undefined ? undefined : JSON.parse(execution.output),
      error: execution.error,
      cause: execution.cause,
      startedAt: execution.startDate ?? new Date(0),
      stoppedAt: execution.stopDate,
    };
  }

  async sendTaskSuccess(taskToken: string, output: unknown): Promise<void> {
    await this.#client.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output) }));
  }

  async sendTaskFailure(taskToken: string, error: string, cause: string): Promise<void> {
    await this.#client.send(new SendTaskFailureCommand({ taskToken, error, cause }));
  }
}
