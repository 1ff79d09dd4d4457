/**
 * Runs Lambda handlers in-process, or in a worker sandbox (`sandbox.ts`), with the
 * event/context contract of the real service:
 * JSON-serialised payloads in and out (so no object is shared with the caller), a complete
 * `Context`, the configured timeout, the 6 MB payload limits, and function errors surfaced
 * with their error type like Lambda's `FunctionError`.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { FunctionInvocationError, NotFoundError, ValidationError } from '../functions/kernel/errors.ts';
import type { FunctionInvoker } from '../functions/ports/function-invoker.ts';
import type { SandboxPool } from './sandbox.ts';
import type { SandboxContext } from './sandbox-protocol.ts';

/** Lambda's synchronous invocation payload limit, for requests and responses alike. */
export const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;

// biome-ignore lint/suspicious/noExplicitAny: handlers accept any event shape, as in Lambda.
export type LambdaHandler = (event: any, context: Context) => Promise<unknown>;

export interface LocalFunction {
  readonly name: string;
  readonly handler: LambdaHandler;
  /** @default 30 000 ms, the timeout the CDK function wrapper sets. */
  readonly timeoutMs?: number;
  /** @default 1024 */
  readonly memoryMb?: number;
  /**
   * Run this export of a sandbox pool's entry module in a worker instead of `handler`
   * in-process (the same code: `handler` is that export). A timed-out run is killed.
   * @default in-process
   */
  readonly sandbox?: { readonly pool: SandboxPool; readonly exportName: string };
}

export interface LocalLambdaOptions {
  /** @default `AWS_REGION`, else `us-east-1` */
  readonly region?: string;
  /** Account id in generated ARNs. @default '000000000000' */
  readonly accountId?: string;
  /** Multiplies every function timeout (the local runtime's time scale). @default 1 */
  readonly timeScale?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

function pickLimits(fn: LocalFunction): Pick<LocalFunction, 'timeoutMs' | 'memoryMb'> {
  return {
    ...(fn.timeoutMs !== undefined ? { timeoutMs: fn.timeoutMs } : {}),
    ...(fn.memoryMb !== undefined ? { memoryMb: fn.memoryMb } : {}),
  };
}

/** The context's plain fields, for a sandbox to rebuild it. */
function sandboxContext(context: Context, timeoutMs: number): SandboxContext {
  return {
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    invokedFunctionArn: context.invokedFunctionArn,
    memoryLimitInMB: context.memoryLimitInMB,
    awsRequestId: context.awsRequestId,
    logGroupName: context.logGroupName,
    logStreamName: context.logStreamName,
    timeoutMs,
  };
}

/** Extracts the function name from a name, `name:qualifier`, partial or full ARN. */
export function functionNameOf(nameOrArn: string): string {
  const parts = nameOrArn.split(':');
  const fnIndex = parts.indexOf('function');
  if (fnIndex >= 0) return parts[fnIndex + 1] ?? nameOrArn;
  return parts[0] ?? nameOrArn;
}

export class LocalLambdaRuntime implements FunctionInvoker {
  readonly #functions = new Map<string, LocalFunction>();
  readonly #region: string;
  readonly #accountId: string;
  readonly #timeScale: number;
  /** Handler runs not finished yet, including those whose invoke already timed out. */
  readonly #running = new Set<Promise<void>>();

  constructor(options: LocalLambdaOptions = {}) {
    this.#region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
    this.#accountId = options.accountId ?? '000000000000';
    this.#timeScale = options.timeScale ?? 1;
  }

  register(fn: LocalFunction): this {
    if (this.#functions.has(fn.name)) throw new ValidationError(`Function ${fn.name} is already registered`);
    this.#functions.set(fn.name, fn);
    return this;
  }

  /**
   * Replaces a registered function's code, as `UpdateFunctionCode` does; later invokes run it,
   * in-process (a closure cannot move to a sandbox).
   */
  updateCode(name: string, handler: LocalFunction['handler']): this {
    const fn = this.#functions.get(name);
    if (fn === undefined) throw new NotFoundError(`Function not found: ${name}`);
    this.#functions.set(name, { name: fn.name, handler, ...pickLimits(fn) });
    return this;
  }

  has(nameOrArn: string): boolean {
    return this.#functions.has(functionNameOf(nameOrArn));
  }

  get functionNames(): string[] {
    return [...this.#functions.keys()];
  }

  arnOf(name: string): string {
    return `arn:aws:lambda:${this.#region}:${this.#accountId}:function:${name}`;
  }

  async invoke<T = unknown>(nameOrArn: string, payload: unknown): Promise<T> {
    const name = functionNameOf(nameOrArn);
    const fn = this.#functions.get(name);
    if (fn === undefined) {
      throw new NotFoundError(
        `Function not found: ${nameOrArn} (registered: ${this.functionNames.join(', ') || 'none'})`,
      );
    }
    const requestText = JSON.stringify(payload ?? null);
    if (exceedsPayloadLimit(requestText)) {
      throw new FunctionInvocationError(
        name,
        'RequestEntityTooLargeException',
        'Request must be smaller than 6 MB',
      );
    }
    const timeoutMs = (fn.timeoutMs ?? DEFAULT_TIMEOUT_MS) * this.#timeScale;
    const deadline = Date.now() + timeoutMs;
    const context = this.#context(fn, deadline);

    let timer: NodeJS.Timeout | undefined;
    const sandbox = fn.sandbox;
    // Only a sandboxed run can be killed; an in-process one gets no controller (a per-request cost).
    const kill = sandbox ? new AbortController() : undefined;
    let timedOut!: (error: FunctionInvocationError) => void;
    const timeout = new Promise<never>((_, reject) => {
      timedOut = reject;
    });
    const arm = () => {
      timer = setTimeout(() => {
        // The timeout first: killing the worker rejects the run too, and the race must see this.
        timedOut(
          new FunctionInvocationError(
            name,
            'Sandbox.Timedout',
            `Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`,
          ),
        );
        kill?.abort();
      }, timeoutMs);
    };
    // A timed-out invoke fails at once. A sandboxed run dies with its worker, as in Lambda, and
    // its clock starts after the worker's cold start; an in-process handler cannot be killed:
    // it runs on, and `settled()` lets a shutdown wait for it.
    let run: Promise<unknown>;
    if (sandbox && kill) {
      run = sandbox.pool
        .run(sandbox.exportName, requestText, sandboxContext(context, timeoutMs), {
          signal: kill.signal,
          onStart: arm,
        })
        .then((text) => (text === undefined ? undefined : (JSON.parse(text) as unknown)));
    } else {
      arm();
      run = Promise.resolve().then(() => fn.handler(JSON.parse(requestText), context));
    }
    const tracked = run.then(
      () => undefined,
      () => undefined,
    );
    this.#running.add(tracked);
    void tracked.finally(() => this.#running.delete(tracked));
    let result: unknown;
    try {
      result = await Promise.race([run, timeout]);
    } catch (error) {
      if (error instanceof FunctionInvocationError && error.functionName === name) throw error;
      // Lambda reports the thrown error's name as its type; keep it so Retry/Catch can match.
      const thrown = error instanceof Error ? error : new Error(String(error));
      throw new FunctionInvocationError(name, thrown.name, thrown.message, { cause: thrown });
    } finally {
      clearTimeout(timer);
    }
    const responseText = result === undefined ? undefined : JSON.stringify(result);
    if (responseText !== undefined && exceedsPayloadLimit(responseText)) {
      throw new FunctionInvocationError(
        name,
        'Function.ResponseSizeTooLarge',
        'Response payload size exceeded maximum allowed payload size (6291556 bytes).',
      );
    }
    return (responseText === undefined ? undefined : JSON.parse(responseText)) as T;
  }

  /**
   * Resolves once every handler run started so far (and any they start) has finished, timed-out
   * ones included. A shutdown awaits it before closing the emulators those handlers write to.
   */
  async settled(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running);
  }

  #context(fn: LocalFunction, deadline: number): Context {
    const requestId = randomUUID();
    const unsupported = (what: string) => () => {
      throw new Error(`context.${what}() is deprecated; return or throw from an async handler`);
    };
    return {
      callbackWaitsForEmptyEventLoop: true,
      functionName: fn.name,
      functionVersion: '$LATEST',
      invokedFunctionArn: this.arnOf(fn.name),
      memoryLimitInMB: String(fn.memoryMb ?? 1024),
      awsRequestId: requestId,
      logGroupName: `/aws/lambda/${fn.name}`,
      // A getter: formatting a date per request for a field few handlers read.
      get logStreamName() {
        return `${new Date().toISOString().slice(0, 10).replaceAll('-', '/')}/[$LATEST]${requestId.replaceAll('-', '')}`;
      },
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: unsupported('done'),
      fail: unsupported('fail'),
      succeed: unsupported('succeed'),
    };
  }
}

/** UTF-8 takes at most 3 bytes per UTF-16 unit, so short texts need no byte count (a hot path). */
function exceedsPayloadLimit(text: string): boolean {
  return text.length * 3 > MAX_PAYLOAD_BYTES && Buffer.byteLength(text) > MAX_PAYLOAD_BYTES;
}
