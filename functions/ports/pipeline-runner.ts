export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface ExecutionDescription {
  readonly executionId: string;
  readonly status: ExecutionStatus;
  readonly output?: unknown;
  /** Error name of a failed execution (for a Fail state, its `Error`). */
  readonly error?: string;
  readonly cause?: string;
  readonly startedAt: Date;
  readonly stoppedAt?: Date;
}

/** One step of an execution's history: a state entered, left, failed, retried or caught. */
export interface ExecutionStep {
  readonly state: string;
  readonly event: 'entered' | 'exited' | 'failed' | 'retried' | 'caught';
  readonly at: Date;
  /** Error name, for failed, retried and caught steps. */
  readonly error?: string;
  /** The error's cause (its message; a Lambda error's JSON), for failed, retried and caught steps. */
  readonly cause?: string;
}

/** Port: Step Functions executions and task tokens. */
export interface PipelineRunner {
  /**
   * Starts the state machine registered under `pipeline` (e.g. `retraining`). `name` makes the
   * start idempotent: starting the same name twice returns the first execution.
   */
  start(pipeline: string, input: unknown, options?: { name?: string }): Promise<{ executionId: string }>;
  describe(executionId: string): Promise<ExecutionDescription>;
  /** The states the execution went through so far, oldest first (progress display). */
  history(executionId: string): Promise<readonly ExecutionStep[]>;
  /** Completes a `.waitForTaskToken` task successfully with `output`. */
  sendTaskSuccess(taskToken: string, output: unknown): Promise<void>;
  /** Fails a `.waitForTaskToken` task with an error name and cause. */
  sendTaskFailure(taskToken: string, error: string, cause: string): Promise<void>;
  /** Tells a `.waitForTaskToken` task with `HeartbeatSeconds` that its worker is still at it. */
  sendTaskHeartbeat(taskToken: string): Promise<void>;
}
