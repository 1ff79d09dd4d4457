/**
 * Messages between a sandbox pool (`sandbox.ts`) and its workers (`sandbox-host.ts`), and how
 * errors cross: structured clone keeps neither an error's class nor its own fields, and Step
 * Functions' Retry/Catch and the callers' `instanceof` checks need both.
 */
import * as errors from '../functions/kernel/errors.ts';
import type { Ports } from '../functions/ports/index.ts';

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  /** The error's own enumerable fields (issues, functionName…), as JSON. */
  readonly fields?: string;
  readonly cause?: SerializedError;
}

export type SandboxMessage =
  /** Worker → pool: the entry module is loaded. */
  | { readonly type: 'ready' }
  /** Pool → worker: run one handler. */
  | {
      readonly type: 'invoke';
      readonly exportName: string;
      readonly event: string;
      readonly context: SandboxContext;
    }
  /** Worker → pool: the handler's JSON result, or its error. */
  | { readonly type: 'result'; readonly ok: true; readonly response: string | undefined }
  | { readonly type: 'result'; readonly ok: false; readonly error: SerializedError }
  /** Worker → pool: a call on one of the runtime's ports. */
  | {
      readonly type: 'port';
      readonly id: number;
      readonly port: keyof Ports;
      readonly method: string;
      readonly args: readonly unknown[];
    }
  /** Pool → worker: what that call returned, or threw. */
  | { readonly type: 'port-result'; readonly id: number; readonly ok: true; readonly value: unknown }
  | {
      readonly type: 'port-result';
      readonly id: number;
      readonly ok: false;
      readonly error: SerializedError;
    };

export function serializeError(error: unknown, depth = 0): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const own = Object.fromEntries(
    Object.entries(error).filter(
      ([key, value]) => !['cause', 'name', 'message', 'stack'].includes(key) && typeof value !== 'function',
    ),
  );
  let fields: string | undefined;
  try {
    fields = Object.keys(own).length > 0 ? JSON.stringify(own) : undefined;
  } catch {
    fields = undefined; // a cyclic field: the name and message still say what happened
  }
  return {
    name: error.name,
    message: error.message,
    ...(error.stack ? { stack: error.stack } : {}),
    ...(fields ? { fields } : {}),
    ...(error.cause !== undefined && depth < 4 ? { cause: serializeError(error.cause, depth + 1) } : {}),
  };
}

const KNOWN_ERRORS: ReadonlyMap<string, { prototype: Error }> = new Map(
  (Object.values(errors) as unknown[])
    .filter(
      (value): value is { name: string; prototype: Error } =>
        typeof value === 'function' && value.prototype instanceof Error,
    )
    .map((type) => [type.name, type]),
);

/** The error again, of its Keel class when it has one (else an `Error` of the same name). */
export function deserializeError(serialized: SerializedError): Error {
  const type = KNOWN_ERRORS.get(serialized.name);
  const error: Error = type ? (Object.create(type.prototype) as Error) : new Error(serialized.message);
  Object.defineProperties(error, {
    name: { value: serialized.name, writable: true, configurable: true },
    message: { value: serialized.message, writable: true, configurable: true },
    stack: {
      value: serialized.stack ?? `${serialized.name}: ${serialized.message}`,
      writable: true,
      configurable: true,
    },
  });
  if (serialized.cause) {
    Object.defineProperty(error, 'cause', {
      value: deserializeError(serialized.cause),
      writable: true,
      configurable: true,
    });
  }
  if (serialized.fields) Object.assign(error, JSON.parse(serialized.fields));
  return error;
}

/** The Lambda context fields a sandboxed handler is given. */
export interface SandboxContext {
  readonly functionName: string;
  readonly functionVersion: string;
  readonly invokedFunctionArn: string;
  readonly memoryLimitInMB: string;
  readonly awsRequestId: string;
  readonly logGroupName: string;
  readonly logStreamName: string;
  /** How long the handler may run, counted from its start in the worker (not the cold start). */
  readonly timeoutMs: number;
}
