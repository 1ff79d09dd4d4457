/**
 * Runs the ASL files of `state-machines/` in-process with aws-local-stepfunctions, so the
 * local runtime executes exactly the definition CDK deploys:
 *
 * - `${Placeholders}` are filled from the same substitution names CDK's
 *   `definitionSubstitutions` uses (a missing one is an error, as it is at synth);
 * - every Task is routed to a local handler: Lambda ARNs and the `lambda:invoke` integration to
 *   the {@link LocalLambdaRuntime} (with the integration's `{Payload, StatusCode}` envelope),
 *   other integrations to handlers given by the caller;
 * - `.waitForTaskToken` tasks get a real token that {@link TaskTokens} completes;
 * - Wait states, retry intervals and the timeouts of `.waitForTaskToken` tasks (waits for
 *   someone else, like an approval) are scaled by `timeScale`; compute tasks keep theirs.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { ExecutionError, StateMachine } from 'aws-local-stepfunctions';
import {
  type AslDefinition,
  type AslState,
  parseDefinition,
  substitute,
  walkStates,
} from '../functions/contracts/asl.ts';
import { FunctionInvocationError, TaskClosedError } from '../functions/kernel/errors.ts';
import type { LocalLambdaRuntime } from './lambda-runtime.ts';

const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';
const WAIT_FOR_TASK_TOKEN = '.waitForTaskToken';
const TOKEN_MARKER = '__keel_local_task_token__';

/** A local stand-in for a non-Lambda service integration (e.g. `arn:aws:states:::events:putEvents`). */
export type IntegrationHandler = (input: unknown) => Promise<unknown>;

/** An error whose `name` is the Step Functions error type, so `Retry`/`Catch` match as in AWS. */
class StatesTaskError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/**
 * Pending `.waitForTaskToken` tasks, completed by `sendTaskSuccess`/`sendTaskFailure`; a task
 * issued with a heartbeat fails with `States.HeartbeatTimeout` when no heartbeat comes in time,
 * as Step Functions fails one with `HeartbeatSeconds`.
 */
export class TaskTokens {
  readonly #pending = new Map<
    string,
    { resolve(v: unknown): void; reject(e: Error): void; heartbeatMs?: number; timer?: NodeJS.Timeout }
  >();

  issue(options: { readonly heartbeatMs?: number } = {}): { token: string; completion: Promise<unknown> } {
    const token = randomUUID();
    const completion = new Promise<unknown>((resolve, reject) => {
      this.#pending.set(token, {
        resolve,
        reject,
        ...(options.heartbeatMs !== undefined ? { heartbeatMs: options.heartbeatMs } : {}),
      });
    });
    this.#arm(token);
    return { token, completion };
  }

  get pending(): string[] {
    return [...this.#pending.keys()];
  }

  succeed(token: string, output: unknown): void {
    this.#take(token).resolve(output);
  }

  fail(token: string, error: string, cause: string): void {
    this.#take(token).reject(new StatesTaskError(error, cause));
  }

  /** Restarts the task's heartbeat clock. */
  heartbeat(token: string): void {
    if (!this.#pending.has(token))
      throw new TaskClosedError(`Task token ${token} is unknown or already completed`);
    this.#arm(token);
  }

  #arm(token: string): void {
    const waiter = this.#pending.get(token);
    if (waiter?.heartbeatMs === undefined) return;
    clearTimeout(waiter.timer);
    waiter.timer = setTimeout(() => {
      if (this.#pending.get(token) !== waiter) return;
      this.#pending.delete(token);
      waiter.reject(
        new StatesTaskError('States.HeartbeatTimeout', `no heartbeat for ${waiter.heartbeatMs} ms`),
      );
    }, waiter.heartbeatMs);
    waiter.timer.unref();
  }

  #take(token: string) {
    const waiter = this.#pending.get(token);
    if (waiter === undefined)
      throw new TaskClosedError(`Task token ${token} is unknown or already completed`);
    clearTimeout(waiter.timer);
    this.#pending.delete(token);
    return waiter;
  }
}

export interface LocalStateMachineOptions {
  readonly definition: AslDefinition;
  readonly name: string;
  readonly lambda: LocalLambdaRuntime;
  readonly tokens?: TaskTokens;
  /** Handlers for non-Lambda integrations, keyed by `Resource`. */
  readonly integrations?: Readonly<Record<string, IntegrationHandler>>;
  /** Multiplies Wait durations and Retry intervals. @default 1 */
  readonly timeScale?: number;
}

/** Events of an execution (state entered/exited/failed/retried…), for progress display. */
export type ExecutionEvents = ReturnType<StateMachine['run']>['eventLogs'];

export interface LocalExecution {
  readonly executionId: string;
  readonly result: Promise<unknown>;
  readonly events: ExecutionEvents;
  abort(): void;
}

/** Reads an ASL file and fills its placeholders. */
export async function loadDefinition(
  file: string,
  substitutions: Readonly<Record<string, string>>,
): Promise<AslDefinition> {
  const text = await readFile(file, 'utf8');
  return parseDefinition(substitute(text, substitutions), basename(file));
}

/** Replaces `"X.$": "$$.Task.Token"` in a task's Parameters with a marker filled per invocation. */
function withTokenMarker(parameters: unknown): unknown {
  if (Array.isArray(parameters)) return parameters.map(withTokenMarker);
  if (parameters === null || typeof parameters !== 'object') return parameters;
  return Object.fromEntries(
    Object.entries(parameters).map(([key, value]) =>
      key.endsWith('.$') && value === '$$.Task.Token'
        ? [key.slice(0, -2), TOKEN_MARKER]
        : [key, withTokenMarker(value)],
    ),
  );
}

function fillToken(input: unknown, token: string): unknown {
  return JSON.parse(JSON.stringify(input).replaceAll(TOKEN_MARKER, token));
}

/**
 * Deep-copies a definition, marking task-token parameters (aws-local-stepfunctions has no
 * `$$.Task`) and scaling the timeouts of task-token waits.
 */
function prepare(definition: AslDefinition, scale: number): AslDefinition {
  const copy = structuredClone(definition) as AslDefinition;
  walkStates(copy, (_name, state) => {
    if (state.Type !== 'Task' || !state.Resource?.endsWith(WAIT_FOR_TASK_TOKEN)) return;
    if (state.Parameters !== undefined) {
      (state as { Parameters: unknown }).Parameters = withTokenMarker(state.Parameters);
    }
    if (typeof state.TimeoutSeconds === 'number') {
      // Step Functions takes whole seconds only.
      (state as unknown as { TimeoutSeconds: number }).TimeoutSeconds = Math.max(
        1,
        Math.round(state.TimeoutSeconds * scale),
      );
    }
  });
  return copy;
}

export class LocalStateMachine {
  readonly name: string;
  readonly definition: AslDefinition;
  readonly #machine: StateMachine;
  readonly #lambda: LocalLambdaRuntime;
  readonly #tokens: TaskTokens;
  readonly #integrations: Readonly<Record<string, IntegrationHandler>>;
  readonly #handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
  readonly #waits: Record<string, number> = {};
  readonly #retries: Record<string, number[]> = {};

  constructor(options: LocalStateMachineOptions) {
    this.name = options.name;
    this.definition = prepare(options.definition, options.timeScale ?? 1);
    this.#lambda = options.lambda;
    this.#tokens = options.tokens ?? new TaskTokens();
    this.#integrations = options.integrations ?? {};
    const scale = options.timeScale ?? 1;
    walkStates(this.definition, (name, state) => {
      if (state.Type === 'Task') this.#handlers[name] = (input) => this.#runTask(name, state, input);
      if (state.Type === 'Wait' && typeof state.Seconds === 'number')
        this.#waits[name] = state.Seconds * 1000 * scale;
      if (state.Retry?.length) {
        this.#retries[name] = state.Retry.map(
          (r) => ((r as { IntervalSeconds?: number }).IntervalSeconds ?? 1) * 1000 * scale,
        );
      }
    });
    this.#machine = new StateMachine(this.definition as never, { validationOptions: { checkArn: false } });
  }

  /** Starts an execution; `result` rejects with the failing state's error name and cause. */
  run(input: unknown, options: { executionName?: string } = {}): LocalExecution {
    const executionName = options.executionName ?? randomUUID();
    const executionId = `arn:aws:states:local:000000000000:execution:${this.name}:${executionName}`;
    const execution = this.#machine.run(input as never, {
      overrides: {
        taskResourceLocalHandlers: this.#handlers as never,
        waitTimeOverrides: this.#waits,
        retryIntervalOverrides: this.#retries,
      },
      context: {
        Execution: {
          Id: executionId,
          Name: executionName,
          Input: input,
          StartTime: new Date().toISOString(),
        },
        StateMachine: { Id: `arn:aws:states:local:000000000000:stateMachine:${this.name}`, Name: this.name },
      } as never,
    });
    const result = execution.result.catch((error: unknown) => {
      // Surface the state's error type and cause, as DescribeExecution does.
      throw error instanceof ExecutionError ? error.cause : error;
    });
    return { executionId, result, events: execution.eventLogs, abort: () => execution.abort() };
  }

  async #runTask(stateName: string, state: AslState, input: unknown): Promise<unknown> {
    const resource = state.Resource ?? '';
    const waitsForToken = resource.endsWith(WAIT_FOR_TASK_TOKEN);
    const base = waitsForToken ? resource.slice(0, -WAIT_FOR_TASK_TOKEN.length) : resource;
    // Heartbeats are real time: the worker that sends them does real work.
    const heartbeatSeconds = (state as { HeartbeatSeconds?: number }).HeartbeatSeconds;
    const issued = waitsForToken
      ? this.#tokens.issue(heartbeatSeconds !== undefined ? { heartbeatMs: heartbeatSeconds * 1000 } : {})
      : undefined;
    const taskInput = issued ? fillToken(input, issued.token) : input;

    const started = this.#invokeResource(stateName, base, taskInput);
    if (issued === undefined) return started;
    // The task ends when its token is completed; the invoked function's own result is ignored,
    // but its failure fails the task, as in AWS.
    return Promise.race([issued.completion, started.then(() => issued.completion)]);
  }

  async #invokeResource(stateName: string, resource: string, input: unknown): Promise<unknown> {
    try {
      if (resource === LAMBDA_INVOKE) {
        const { FunctionName, Payload } = input as { FunctionName: string; Payload?: unknown };
        const payload = await this.#lambda.invoke(FunctionName, Payload ?? input);
        return { ExecutedVersion: '$LATEST', Payload: payload, StatusCode: 200 };
      }
      if (resource.startsWith('arn:aws:lambda:')) return await this.#lambda.invoke(resource, input);
      const integration = this.#integrations[resource];
      if (integration === undefined) {
        throw new StatesTaskError(
          'Keel.LocalIntegrationMissing',
          `State ${stateName} uses ${resource}, which has no local handler in this runtime`,
        );
      }
      return await integration(input);
    } catch (error) {
      // The cause as Step Functions records a Lambda function error: JSON with errorType and errorMessage.
      if (error instanceof FunctionInvocationError)
        throw new StatesTaskError(
          error.errorType,
          JSON.stringify({ errorType: error.errorType, errorMessage: error.errorMessage }),
        );
      throw error;
    }
  }
}
