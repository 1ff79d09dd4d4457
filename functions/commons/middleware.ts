/**
 * The middy pipeline every Keel handler runs in, and the HTTP error mapping of the API.
 */
// First, so that it runs before the X-Ray SDK loads (see there).
import './xray-mode.ts';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyResultV2, Context } from 'aws-lambda';
// The core's error class: classic zod's and zod/mini's errors are both instances of it.
import { $ZodError } from 'zod/v4/core';
import { type FieldIssue, KeelError, ValidationError } from '../kernel/errors.ts';
import { logger, metrics, tracer } from './powertools.ts';

export interface HttpErrorsOptions {
  /** Extra headers on every error response. @default `content-type: application/json` only */
  readonly headers?: Readonly<Record<string, string>>;
}

interface ErrorBody {
  readonly error: string;
  readonly message: string;
  readonly issues?: readonly FieldIssue[];
  readonly requestId?: string;
}

/**
 * Maps an error to its HTTP status, headers and body: the caller's mistakes are 4xx (the
 * status a Keel error carries) with field-level issues; anything else is ours, a 500.
 */
export function toHttpError(
  error: unknown,
  requestId?: string,
): { statusCode: number; body: ErrorBody; headers?: Readonly<Record<string, string>> } {
  if (error instanceof ValidationError) {
    return { statusCode: 400, body: { error: error.name, message: error.message, issues: error.issues } };
  }
  // A status a Keel error carries was chosen: a 4xx for the caller's mistakes, or a deliberate
  // 501/503 (no explainer for this model, one that failed to load) that names the reason.
  if (error instanceof KeelError && error.status !== undefined) {
    return {
      statusCode: error.status,
      body: { error: error.name, message: error.message },
      ...(error.headers ? { headers: error.headers } : {}),
    };
  }
  if (error instanceof $ZodError) {
    return {
      statusCode: 400,
      body: {
        error: 'ValidationError',
        message: 'The request is invalid',
        issues: ValidationError.issuesOf(error),
      },
    };
  }
  // Anything else is ours: say so without leaking internals, with the id to find it in the logs.
  return {
    statusCode: 500,
    body: {
      error: 'InternalError',
      message: 'An internal error occurred',
      ...(requestId ? { requestId } : {}),
    },
  };
}

/**
 * Middy middleware turning thrown errors into API Gateway responses. 5xx errors are logged
 * with their stack; 4xx are the caller's and logged at info.
 */
export function httpErrors(
  options: HttpErrorsOptions = {},
): MiddlewareObj<unknown, APIGatewayProxyResultV2, Error, Context> {
  const headers = { 'content-type': 'application/json', ...options.headers };
  return {
    onError: async (request) => {
      const mapped = toHttpError(request.error, request.context.awsRequestId);
      const { statusCode, body } = mapped;
      if (statusCode >= 500) logger.error('Unhandled error', { error: request.error });
      else logger.info('Rejected request', { statusCode, error: body.error, issues: body.issues });
      request.response = {
        statusCode,
        headers: { ...headers, ...mapped.headers },
        body: JSON.stringify(body),
      };
    },
  };
}

export interface KeelHandlerOptions {
  /** Map errors to HTTP responses (API handlers). @default false: errors propagate, as Step Functions and EventBridge expect */
  readonly http?: boolean;
}

/**
 * Wraps a handler in the standard pipeline: Lambda context in every log line, X-Ray
 * subsegments, EMF metrics flushed per invocation, and for API handlers the HTTP error mapping.
 */
export function keelHandler<TEvent, TResult>(
  handler: (event: TEvent, context: Context) => Promise<TResult>,
  options: KeelHandlerOptions = {},
) {
  const pipeline = middy(handler)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(captureLambdaHandler(tracer))
    .use(logMetrics(metrics));
  if (options.http) pipeline.use(httpErrors() as never);
  return pipeline;
}
