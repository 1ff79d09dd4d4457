/**
 * The inference HTTP API on API Gateway v2 event shapes, for Lambda and the local server alike:
 * Open Inference Protocol v2 (`/v2/...`), the plain JSON API (`/v1/models/{name}:predict`) and
 * outcome feedback (`/v1/feedback`). A caller's mistake is a 4xx listing every bad field; a
 * failing model is never the caller's 5xx (the service falls back).
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import { KeelError, NotFoundError, ValidationError } from '../commons/errors.ts';
import { toHttpError } from '../commons/middleware.ts';
import type { CaptureSink, FeedbackRecord } from './capture.ts';
import { parseFeedback, parseV1, parseV2 } from './requests.ts';
import type { InferenceService } from './service.ts';

/** API Gateway's payload limit; bodies above it never reach a handler in AWS. */
export const MAX_BODY_BYTES = 6 * 1024 * 1024;

export class MethodNotAllowedError extends KeelError {
  readonly allowed: readonly string[];
  constructor(allowed: readonly string[]) {
    super(`method not allowed; use ${allowed.join(' or ')}`);
    this.allowed = allowed;
  }
}

export class PayloadTooLargeError extends KeelError {}

export interface RouteContext {
  readonly service: InferenceService;
  /** Sink for feedback records. */
  readonly capture?: CaptureSink;
  readonly requestId?: string;
  readonly traceId?: string;
  readonly now?: () => number;
  /** Told of every error that became a 5xx (they are bugs: log them). @default none */
  readonly onError?: (error: unknown) => void;
}

type Result = { statusCode: number; body: unknown; headers?: Record<string, string> };

function readBody(event: APIGatewayProxyEventV2): unknown {
  const raw = event.body ?? '';
  const text = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  if (Buffer.byteLength(text) > MAX_BODY_BYTES)
    throw new PayloadTooLargeError(`the body exceeds ${MAX_BODY_BYTES} bytes`);
  if (text.trim() === '')
    throw new ValidationError('The request has no body', [{ path: 'body', message: 'expected JSON' }]);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ValidationError('The body is not valid JSON', [
      { path: 'body', message: error instanceof Error ? error.message : 'unparseable' },
    ]);
  }
}

/** A path segment, decoded; a malformed escape is the caller's mistake, not a crash. */
function segment(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new ValidationError('Malformed path', [
      { path: 'path', message: `bad percent-encoding in "${text}"` },
    ]);
  }
}

function checkModel(service: InferenceService, name: string): void {
  if (name !== service.modelName)
    throw new NotFoundError(`no model named ${name}; this endpoint serves ${service.modelName}`);
}

function describeModel(service: InferenceService) {
  return {
    name: service.modelName,
    versions: [service.primary.version, ...(service.fallback ? [service.fallback.version] : [])],
    platform: 'onnx',
    inputs: service.inputs.map((i) => ({
      name: i.name,
      datatype: i.type === 'numeric' ? 'FP32' : 'BYTES',
      shape: [-1, 1],
    })),
    outputs: [
      { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] },
      { name: 'label', datatype: 'INT64', shape: [-1] },
    ],
  };
}

async function route(event: APIGatewayProxyEventV2, ctx: RouteContext): Promise<Result> {
  const method = event.requestContext?.http?.method ?? 'GET';
  const path = (event.rawPath ?? '/').replace(/\/+$/, '') || '/';
  const { service } = ctx;
  const only = (...allowed: string[]) => {
    if (!allowed.includes(method)) throw new MethodNotAllowedError(allowed);
  };
  const context = {
    ...(ctx.traceId ? { traceId: ctx.traceId } : {}),
    ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
  };

  if (path === '/v2/health/live') {
    only('GET');
    return { statusCode: 200, body: { live: true } };
  }
  if (path === '/v2/health/ready') {
    only('GET');
    const health = service.health();
    return {
      statusCode: 200,
      body: {
        ready: true,
        degraded: health.degraded,
        circuit: health.circuit,
        served_by: health.servedBy,
        answering_version: health.answeringVersion,
        primary: health.primary,
        ...(health.reason ? { reason: health.reason } : {}),
      },
    };
  }
  if (path === '/v2') {
    only('GET');
    return { statusCode: 200, body: { name: 'keel', version: '2', extensions: [] } };
  }
  let m = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/infer|\/ready)?$/.exec(path);
  if (m) {
    const [, name = '', version, action] = m;
    checkModel(service, segment(name));
    if (version !== undefined && !describeModel(service).versions.includes(segment(version)))
      throw new NotFoundError(`${name} has no version ${version} here; it serves ${service.primary.version}`);
    if (action === undefined) {
      only('GET');
      return { statusCode: 200, body: describeModel(service) };
    }
    if (action === '/ready') {
      only('GET');
      return { statusCode: 200, body: { name, ready: true } };
    }
    only('POST');
    const request = parseV2(readBody(event), service.inputs, service.maxBatch, service.requestOptions);
    const result = await service.predict(request, context);
    const n = request.rows;
    const probabilities: number[] = [];
    for (let i = 0; i < n; i++) {
      const p = result.probabilities[i] as number;
      probabilities.push(Math.fround(1 - p), Math.fround(p));
    }
    return {
      statusCode: 200,
      body: {
        model_name: service.modelName,
        model_version: result.modelVersion,
        ...(request.id ? { id: request.id } : {}),
        parameters: { served_by: result.servedBy, prediction_ids: result.predictionIds },
        outputs: [
          { name: 'probabilities', datatype: 'FP32', shape: [n, 2], data: probabilities },
          { name: 'label', datatype: 'INT64', shape: [n], data: Array.from(result.labels) },
        ],
      },
    };
  }
  m = /^\/v1\/models\/([^/:]+):predict$/.exec(path);
  if (m) {
    only('POST');
    checkModel(service, segment(m[1] ?? ''));
    const request = parseV1(readBody(event), service.inputs, service.maxBatch, service.requestOptions);
    const result = await service.predict(request, context);
    return {
      statusCode: 200,
      body: {
        predictions: result.predictionIds.map((id, i) => ({
          probability: result.probabilities[i],
          label: result.labels[i],
          prediction_id: id,
        })),
        model_version: result.modelVersion,
        served_by: result.servedBy,
      },
    };
  }
  // Per model (`/v1/models/{m}/feedback`), or the shared `/v1/feedback` of a single-model API.
  const feedbackFor = /^\/v1\/models\/([^/:]+)\/feedback$/.exec(path);
  if (path === '/v1/feedback' || feedbackFor) {
    only('POST');
    if (feedbackFor) checkModel(service, segment(feedbackFor[1] ?? ''));
    const feedback = parseFeedback(readBody(event));
    const now = new Date((ctx.now ?? Date.now)()).toISOString();
    const record: FeedbackRecord = {
      type: 'feedback',
      prediction_id: feedback.prediction_id,
      model: service.modelName,
      outcome: feedback.outcome,
      observed_at: feedback.observed_at ?? now,
      timestamp: now,
    };
    ctx.capture?.write([record]);
    return { statusCode: 202, body: { accepted: true, prediction_id: feedback.prediction_id } };
  }
  throw new NotFoundError(`no route ${method} ${path}`);
}

/** Handles one API Gateway v2 event; never throws. */
export async function handleHttp(
  event: APIGatewayProxyEventV2,
  ctx: RouteContext,
): Promise<APIGatewayProxyResultV2> {
  const headers = { 'content-type': 'application/json' };
  try {
    const result = await route(event, ctx);
    return {
      statusCode: result.statusCode,
      headers: { ...headers, ...result.headers },
      body: JSON.stringify(result.body),
    };
  } catch (error) {
    if (error instanceof MethodNotAllowedError)
      return {
        statusCode: 405,
        headers: { ...headers, allow: error.allowed.join(', ') },
        body: JSON.stringify({ error: 'MethodNotAllowed', message: error.message }),
      };
    if (error instanceof PayloadTooLargeError)
      return {
        statusCode: 413,
        headers,
        body: JSON.stringify({ error: 'PayloadTooLarge', message: error.message }),
      };
    const { statusCode, body } = toHttpError(error, ctx.requestId);
    if (statusCode >= 500) ctx.onError?.(error);
    return { statusCode, headers, body: JSON.stringify(body) };
  }
}
