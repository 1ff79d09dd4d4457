/**
 * HTTP routing and JSON bodies for Keel's APIs (inference, approvals, the local control API),
 * on middy's own router and JSON body parser rather than a hand-written matcher per API. What
 * is added here is what those leave to the caller: a 405 naming the allowed methods (middy's
 * router answers 404 for a known path with another method), a 413 over the size limit, and a
 * malformed body as a 400 naming `body`, as every other bad field is named.
 */
import httpJsonBodyParser from '@middy/http-json-body-parser';
import httpRouterHandler from '@middy/http-router';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import {
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  ValidationError,
} from '../kernel/errors.ts';

/** An event as a route sees it: path parameters filled in by the router. */
export type RouteEvent = APIGatewayProxyEventV2 & {
  readonly pathParameters?: Readonly<Record<string, string | undefined>>;
};

export type RouteHandler<C, R> = (event: RouteEvent, context: C) => Promise<R> | R;

/** Routes by path (middy's `{param}` syntax) and method. */
export type RouteTable<C, R> = Readonly<Record<string, Partial<Record<HttpMethod, RouteHandler<C, R>>>>>;

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'] as const;
export type HttpMethod = (typeof METHODS)[number];

/**
 * A router over `table`: resolves to the route's answer, or throws {@link NotFoundError} for an
 * unknown path and {@link MethodNotAllowedError} for a known one with another method. `context`
 * rides in the handler's second argument (middy passes it through).
 */
export function routeTable<C, R>(
  table: RouteTable<C, R>,
): (event: APIGatewayProxyEventV2, context: C) => Promise<R> {
  const router = httpRouterHandler({
    routes: Object.entries(table).flatMap(([path, byMethod]) => {
      const allowed = Object.keys(byMethod);
      const refuse = () => {
        throw new MethodNotAllowedError(allowed);
      };
      return METHODS.map((method) => ({ method, path, handler: (byMethod[method] ?? refuse) as never }));
    }),
    notFoundResponse: ({ method, path }: { method: string; path: string }) => {
      throw new NotFoundError(`no route ${method} ${path}`);
    },
  }) as unknown as (event: RouteEvent, context: C) => Promise<R> | R;
  return async (event, context) => router(withPath(event), context);
}

/**
 * The router matches `requestContext.http.path`, trailing slash trimmed; an event without one
 * (a direct invocation) falls back to `rawPath`.
 */
function withPath(event: APIGatewayProxyEventV2): RouteEvent {
  const http = event.requestContext?.http;
  const path = (http?.path ?? event.rawPath ?? '/').replace(/\/+$/, '') || '/';
  const method = http?.method ?? 'GET';
  if (http && http.path === path && http.method === method) return event;
  return {
    ...event,
    requestContext: { ...event.requestContext, http: { ...http, method, path } },
  } as RouteEvent;
}

/** What any `__proto__` or `constructor` key in a JSON text contains: the name, or an escape. */
const GUARDED_TEXT = /__proto__|constructor|\\u/;

// Any content type: callers (curl -d among them) do not always say application/json.
const jsonParser = httpJsonBodyParser({ disableContentTypeCheck: true });

/**
 * The request's JSON body, parsed by middy's JSON body parser (which also refuses `__proto__`
 * keys): an empty or malformed body is a 400 naming `body`, one over `maxBytes` a 413.
 */
export async function readJsonBody(event: APIGatewayProxyEventV2, maxBytes: number): Promise<unknown> {
  const raw = event.body ?? '';
  // A UTF-16 unit is at most 3 UTF-8 bytes: count the bytes only when the length cannot decide.
  if (raw.length > maxBytes || (raw.length * 3 > maxBytes && Buffer.byteLength(raw) > maxBytes))
    throw new PayloadTooLargeError(`the body exceeds ${maxBytes} bytes`);
  if (raw.trim() === '')
    throw new ValidationError('The request has no body', [{ path: 'body', message: 'expected JSON' }]);
  // middy's parser guards against `__proto__` and `constructor` keys with a reviver, which made
  // JSON.parse several times slower (7 % of a prediction's cost). A key can only be one of those
  // if the text spells it, or escapes a character of it: without either, the guard has nothing to
  // find, and a plain parse gives the same value. Anything else, malformed JSON included, goes to
  // middy, for its guard and its errors.
  if (!GUARDED_TEXT.test(raw)) {
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      // middy parses it again and says why it is not JSON
    }
  }
  // The parser reads and replaces only these (the content-type check is off): no copy of the event.
  const request = { event: { body: raw as unknown, isBase64Encoded: event.isBase64Encoded } };
  try {
    await jsonParser.before?.(request as never);
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause;
    throw new ValidationError(
      'The body is not valid JSON',
      [{ path: 'body', message: cause?.message ?? (error as Error).message }],
      { cause: error },
    );
  }
  return request.event.body;
}

/** The authenticated caller: the IAM principal (SigV4) or the JWT subject; none without an authorizer. */
export function callerOf(event: APIGatewayProxyEventV2): string | undefined {
  const authorizer = (event.requestContext as { authorizer?: Record<string, unknown> }).authorizer;
  const iam = authorizer?.iam as { userArn?: string } | undefined;
  const jwt = authorizer?.jwt as { claims?: Record<string, unknown> } | undefined;
  return (
    iam?.userArn ?? (jwt?.claims?.email as string | undefined) ?? (jwt?.claims?.sub as string | undefined)
  );
}
