import { randomUUID } from 'node:crypto';
import { KeelError, NotFoundError } from '../../functions/kernel/errors.ts';
import type {
  ExecutionDescription,
  ExecutionStep,
  PipelineRunner,
} from '../../functions/ports/pipeline-runner.ts';
import { type LocalExecution, type LocalStateMachine, TaskTokens } from '../step-functions.ts';

interface TrackedExecution {
  readonly pipeline: string;
  readonly input: unknown;
  description: ExecutionDescription;
  readonly execution: LocalExecution;
  readonly steps: ExecutionStep[];
}

/** A pipeline was started on a runner that has shut down. */
export class PipelineRunnerClosedError extends KeelError {}

const STEP_EVENTS: Readonly<Record<string, ExecutionStep['event']>> = {
  StateEntered: 'entered',
  StateExited: 'exited',
  StateFailed: 'failed',
  StateRetried: 'retried',
  StateCaught: 'caught',
};

/** {@link PipelineRunner} over {@link LocalStateMachine}s, with Step Functions' execution semantics. */
export class LocalPipelineRunner implements PipelineRunner {
  readonly tokens: TaskTokens;
  readonly #machines = new Map<string, LocalStateMachine>();
  readonly #executions = new Map<string, TrackedExecution>();
  #closed = false;

  constructor(tokens: TaskTokens = new TaskTokens()) {
    this.tokens = tokens;
  }

  register(pipeline: string, machine: LocalStateMachine): this {
    this.#machines.set(pipeline, machine);
    return this;
  }

  get pipelines(): string[] {
    return [...this.#machines.keys()];
  }

  async start(
    pipeline: string,
    input: unknown,
    options?: { name?: string },
  ): Promise<{ executionId: string }> {
    if (this.#closed) {
      throw new PipelineRunnerClosedError(`Not starting "${pipeline}": the local runtime is stopping`);
    }
    const machine = this.#machines.get(pipeline);
    if (machine === undefined) {
      throw new NotFoundError(
        `Unknown pipeline "${pipeline}"; known: ${this.pipelines.join(', ') || 'none'}`,
      );
    }
    const name = options?.name ?? randomUUID();
    const existing = [...this.#executions.values()].find((tracked) =>
      tracked.description.executionId.endsWith(`:${machine.name}:${name}`),
    );
    if (existing) return { executionId: existing.description.executionId };

    const execution = machine.run(input, { executionName: name });
    const tracked: TrackedExecution = {
      pipeline,
      input,
      execution,
      description: { executionId: execution.executionId, status: 'RUNNING', startedAt: new Date() },
      steps: [],
    };
    this.#executions.set(execution.executionId, tracked);
    void (async () => {
      for await (const event of execution.events) {
        const kind = STEP_EVENTS[event.type];
        if (!kind || !('state' in event)) continue;
        const error = {
          ...('Error' in event ? { error: String(event.Error) } : {}),
          ...('Cause' in event && event.Cause !== undefined ? { cause: causeText(event.Cause) } : {}),
        };
        tracked.steps.push({ state: event.state.name, event: kind, at: new Date(event.timestamp), ...error });
      }
    })().catch(() => {
      /* the history is for display; the execution's own result reports failures */
    });
    execution.result.then(
      (output) => {
        tracked.description = { ...tracked.description, status: 'SUCCEEDED', output, stoppedAt: new Date() };
      },
      (error: unknown) => {
        const failure = error instanceof Error ? error : new Error(String(error));
        tracked.description = {
          ...tracked.description,
          status:
            failure.name === 'ExecutionAbortedError'
              ? 'ABORTED'
              : failure.name === 'ExecutionTimeoutError'
                ? 'TIMED_OUT'
                : 'FAILED',
          error: failure.name,
          cause: failure.message,
          stoppedAt: new Date(),
        };
      },
    );
    return { executionId: execution.executionId };
  }

  async describe(executionId: string): Promise<ExecutionDescription> {
    const tracked = this.#executions.get(executionId);
    if (tracked === undefined) throw new NotFoundError(`Execution ${executionId} does not exist`);
    return tracked.description;
  }

  /** Executions started here (of one pipeline, or all), oldest first, with their input. */
  async list(
    pipeline?: string,
  ): Promise<
    { readonly pipeline: string; readonly input: unknown; readonly description: ExecutionDescription }[]
  > {
    return [...this.#executions.values()]
      .filter((t) => pipeline === undefined || t.pipeline === pipeline)
      .map((t) => ({ pipeline: t.pipeline, input: t.input, description: t.description }));
  }

  async history(executionId: string): Promise<readonly ExecutionStep[]> {
    const tracked = this.#executions.get(executionId);
    if (tracked === undefined) throw new NotFoundError(`Execution ${executionId} does not exist`);
    return [...tracked.steps];
  }

  /** Resolves with the final description once the execution stops. */
  async wait(executionId: string): Promise<ExecutionDescription> {
    const tracked = this.#executions.get(executionId);
    if (tracked === undefined) throw new NotFoundError(`Execution ${executionId} does not exist`);
    await tracked.execution.result.catch(() => undefined);
    return tracked.description;
  }

  async sendTaskSuccess(taskToken: string, output: unknown): Promise<void> {
    this.tokens.succeed(taskToken, output);
  }

  async sendTaskFailure(taskToken: string, error: string, cause: string): Promise<void> {
    this.tokens.fail(taskToken, error, cause);
  }

  async sendTaskHeartbeat(taskToken: string): Promise<void> {
    this.tokens.heartbeat(taskToken);
  }

  /**
   * Shutdown: aborts every running execution and refuses new ones (an event delivered during
   * the shutdown must not start a pipeline after the aborts). A task already running finishes
   * in its function; see `LocalLambdaRuntime.settled`.
   */
  close(): void {
    this.#closed = true;
    this.abortAll();
  }

  /** Aborts every running execution; new ones may still start. */
  abortAll(): void {
    for (const tracked of this.#executions.values()) {
      if (tracked.description.status === 'RUNNING') tracked.execution.abort();
    }
  }
}

/** A state's error cause as text: the library gives the thrown error's cause, often an Error. */
function causeText(cause: unknown): string {
  if (typeof cause === 'string') return cause;
  if (cause instanceof Error) return cause.message;
  try {
    return JSON.stringify(cause);
  } catch {
    return String(cause);
  }
}
