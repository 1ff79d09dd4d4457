import {
  DescribeExecutionCommand,
  type HistoryEvent,
  InvalidToken,
  paginateGetExecutionHistory,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  type SFNClient,
  StartExecutionCommand,
  TaskDoesNotExist,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { NotFoundError, TaskClosedError } from '../../kernel/errors.ts';
import type { ExecutionDescription, ExecutionStep, PipelineRunner } from '../../ports/pipeline-runner.ts';

/** A history event as a step, or none for events that are not about a state. */
function stepOf(event: HistoryEvent, names: Map<number, string>): ExecutionStep | undefined {
  const type = event.type ?? '';
  const at = event.timestamp ?? new Date(0);
  const entered = event.stateEnteredEventDetails;
  if (entered?.name) {
    names.set(event.id ?? 0, entered.name);
    return { state: entered.name, event: 'entered', at };
  }
  const exited = event.stateExitedEventDetails;
  if (exited?.name) return { state: exited.name, event: 'exited', at };
  // Failures of a task or Lambda point back at the event that scheduled them, whose state entered first.
  if (/(Failed|TimedOut)$/.test(type) && type !== 'ExecutionFailed' && type !== 'ExecutionTimedOut') {
    let previous = event.previousEventId ?? 0;
    while (previous > 0 && !names.has(previous)) previous -= 1;
    const details = Object.values(event).find(
      (v): v is { error?: string; cause?: string } => typeof v === 'object' && v !== null && 'error' in v,
    );
    return {
      state: names.get(previous) ?? 'unknown',
      event: 'failed',
      at,
      ...(details?.error ? { error: details.error } : {}),
      ...(details?.cause ? { cause: details.cause } : {}),
    };
  }
  return undefined;
}

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

  async history(executionId: string): Promise<readonly ExecutionStep[]> {
    const steps: ExecutionStep[] = [];
    const names = new Map<number, string>();
    const pages = paginateGetExecutionHistory(
      { client: this.#client, pageSize: 1000 },
      { executionArn: executionId },
    );
    for await (const page of pages) {
      for (const event of page.events ?? []) {
        const step = stepOf(event, names);
        if (step) steps.push(step);
      }
    }
    return steps;
  }

  async sendTaskSuccess(taskToken: string, output: unknown): Promise<void> {
    await closedAsConflict(
      this.#client.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output) })),
    );
  }

  async sendTaskFailure(taskToken: string, error: string, cause: string): Promise<void> {
    await closedAsConflict(this.#client.send(new SendTaskFailureCommand({ taskToken, error, cause })));
  }

  async sendTaskHeartbeat(taskToken: string): Promise<void> {
    await closedAsConflict(this.#client.send(new SendTaskHeartbeatCommand({ taskToken })));
  }
}

/** A token Step Functions no longer takes (timed out, answered, execution over): a 409, not a 500. */
async function closedAsConflict(sent: Promise<unknown>): Promise<void> {
  try {
    await sent;
  } catch (error) {
    if (error instanceof TaskTimedOut || error instanceof TaskDoesNotExist || error instanceof InvalidToken)
      throw new TaskClosedError(`the task is closed: ${error.message}`, { cause: error });
    throw error;
  }
}
