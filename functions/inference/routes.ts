/**
 * The inference HTTP API on API Gateway v2 event shapes, for Lambda and the local server alike:
 * Open Inference Protocol v2 (`/v2/...`), the plain JSON API (`/v1/models/{name}:predict`) and
 * outcome feedback (`/v1/feedback`). A caller's mistake is a 4xx listing every bad field; a
 * failing model is never the caller's 5xx (the service falls back).
 */

import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import {
  type RouteEvent as Event,
  type RouteHandler,
  type RouteTable,
  readJsonBody,
  routeTable,
} from '../commons/http.ts';
import { toHttpError } from '../commons/middleware.ts';
import type { FeedbackRecord } from '../contracts/capture.ts';
import type { ModelCard } from '../contracts/card.ts';
import { aliasNameSchema } from '../contracts/registry.ts';
import type { FeaturePerturbation } from '../core/explain/explainer.ts';
import { NotFoundError, ValidationError } from '../kernel/errors.ts';
import type { CaptureSink } from '../ports/capture.ts';
import { renderCardMarkdown } from '../reports/card.ts';
import { parseFeedback, parseV1, parseV2 } from './requests.ts';
import type { InferenceService, PredictionResult } from './service.ts';

/** API Gateway's payload limit; bodies above it never reach a handler in AWS. */
export const MAX_BODY_BYTES = 6 * 1024 * 1024;

export interface RouteContext {
  readonly service: InferenceService;
  /** Sink for feedback records. */
  readonly capture?: CaptureSink;
  readonly requestId?: string;
  readonly traceId?: string;
  readonly now?: () => number;
  /** Told of every error that became a 5xx (they are bugs: log them). @default none */
  readonly onError?: (error: unknown) => void;
  /** A version's model card (as stored, or generated when it has none). @default no card route */
  readonly card?: (model: string, ref: number | string) => Promise<ModelCard>;
}

/** `text`: the body is sent as it is (Markdown, HTML), not as JSON. */
type Result = { statusCode: number; body: unknown; headers?: Record<string, string>; text?: boolean };
type Route = RouteHandler<RouteContext, Result>;

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
    // Said plainly: a threshold-post-processed model reads a protected attribute to decide.
    ...(protectedInputs(service).length > 0
      ? { parameters: { protected_inputs: protectedInputs(service) } }
      : {}),
  };
}

/** The protected attributes the serving model takes as inputs (threshold post-processing). */
function protectedInputs(service: InferenceService): string[] {
  return service.inputs.filter((i) => i.protected).map((i) => i.name);
}

const contextOf = (ctx: RouteContext) => ({
  ...(ctx.traceId ? { traceId: ctx.traceId } : {}),
  ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
});

const param = (event: Event, name: string) => segment(event.pathParameters?.[name] ?? '');

const ready: Route = (_, { service }) => {
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
};

/** The model named in the path, and the version if one is named: 404 when this endpoint serves neither. */
async function servedModel(event: Event, service: InferenceService): Promise<string> {
  const name = param(event, 'name');
  checkModel(service, name);
  if (event.pathParameters?.version !== undefined) {
    const version = param(event, 'version');
    // Only another version than the primary's waits for the fallback to have loaded.
    if (version !== service.primary.version && (await service.fallbackSettled())?.version !== version)
      throw new NotFoundError(`${name} has no version ${version} here; it serves ${service.primary.version}`);
  }
  return name;
}

/** The explanation of a result, as the HTTP APIs give it (snake_case, as the rest of them). */
function explanationBody(result: PredictionResult) {
  const e = result.explanation;
  if (!e) return undefined;
  if ('unavailable' in e) return { unavailable: e.unavailable };
  return {
    method: e.method,
    feature_perturbation: e.featurePerturbation,
    output_space: e.outputSpace,
    base_value: e.baseValue,
    derived: e.derived,
  };
}

const explainedRow = (result: PredictionResult, i: number) => {
  const row = result.explanations?.[i];
  return row
    ? {
        margin: row.margin,
        contributions: row.contributions,
        ...(row.inputContributions ? { input_contributions: row.inputContributions } : {}),
      }
    : null;
};

const inferV2: Route = async (event, ctx) => {
  const { service } = ctx;
  await servedModel(event, service);
  const request = parseV2(
    await readJsonBody(event, MAX_BODY_BYTES),
    service.inputs,
    service.maxBatch,
    service.requestOptions,
  );
  const explain = request.explain?.requested === true;
  const result = await service.predict(request, contextOf(ctx), { explain, ...perturbationOf(request) });
  const explanation = explain ? explanationBody(result) : undefined;
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
      parameters: {
        served_by: result.servedBy,
        prediction_ids: result.predictionIds,
        ...(explanation
          ? {
              explanation: {
                ...explanation,
                rows: result.predictionIds.map((_, i) => explainedRow(result, i)),
              },
            }
          : {}),
      },
      outputs: [
        { name: 'probabilities', datatype: 'FP32', shape: [n, 2], data: probabilities },
        { name: 'label', datatype: 'INT64', shape: [n], data: Array.from(result.labels) },
      ],
    },
  };
};

/** The V1 body of a request to the model in its path. */
async function v1Request(event: Event, service: InferenceService) {
  checkModel(service, param(event, 'name'));
  return parseV1(
    await readJsonBody(event, MAX_BODY_BYTES),
    service.inputs,
    service.maxBatch,
    service.requestOptions,
  );
}

/** What a request's parameters ask of explanations, as `predict` takes it. */
const perturbationOf = (request: {
  readonly explain?: { readonly featurePerturbation?: FeaturePerturbation };
}) =>
  request.explain?.featurePerturbation ? { featurePerturbation: request.explain.featurePerturbation } : {};

const predictV1: Route = async (event, ctx) => {
  const { service } = ctx;
  const request = await v1Request(event, service);
  const result = await service.predict(request, contextOf(ctx));
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
};

/** KServe V1's verb: each instance's prediction and its SHAP values (log-odds), captured with its id. */
const explainV1: Route = async (event, ctx) => {
  const { service } = ctx;
  const request = await v1Request(event, service);
  const result = await service.predict(request, contextOf(ctx), {
    explain: true,
    ...perturbationOf(request),
  });
  return {
    statusCode: 200,
    body: {
      model_version: result.modelVersion,
      served_by: result.servedBy,
      explanation: explanationBody(result),
      explanations: result.predictionIds.map((id, i) => ({
        prediction_id: id,
        probability: result.probabilities[i],
        label: result.labels[i],
        ...explainedRow(result, i),
      })),
    },
  };
};

const feedback: Route = async (event, ctx) => {
  const { service } = ctx;
  if (event.pathParameters?.name !== undefined) checkModel(service, param(event, 'name'));
  const parsed = parseFeedback(await readJsonBody(event, MAX_BODY_BYTES));
  const now = new Date((ctx.now ?? Date.now)()).toISOString();
  const record: FeedbackRecord = {
    type: 'feedback',
    prediction_id: parsed.prediction_id,
    model: service.modelName,
    outcome: parsed.outcome,
    observed_at: parsed.observed_at ?? now,
    timestamp: now,
  };
  ctx.capture?.write([record]);
  return { statusCode: 202, body: { accepted: true, prediction_id: parsed.prediction_id } };
};

const CARD_FORMATS = ['json', 'md'] as const;

/**
 * `GET /v1/models/{name}/card[?version=][&format=json|md]`: the served version's by default.
 * HTML, with its charts, is `keel card --format html`: charting stays out of the serving bundle.
 */
const card: Route = async (event, { service, card: cardOf }) => {
  const name = param(event, 'name');
  checkModel(service, name);
  if (!cardOf) throw new NotFoundError('this endpoint serves no model cards');
  const query = event.queryStringParameters ?? {};
  const format = (query.format ?? 'json') as (typeof CARD_FORMATS)[number];
  const issues: { path: string; message: string }[] = [];
  if (!CARD_FORMATS.includes(format))
    issues.push({
      path: 'format',
      message: `expected one of ${CARD_FORMATS.join(', ')}, got "${query.format}" (HTML: keel card --format html)`,
    });
  const version = query.version;
  // A version number, or an alias by the registry's own rule.
  if (version !== undefined && !/^[1-9]\d*$/.test(version) && !aliasNameSchema.safeParse(version).success)
    issues.push({ path: 'version', message: `expected a version number or an alias, got "${version}"` });
  if (issues.length > 0) throw new ValidationError('Invalid card request', issues);
  const ref =
    version === undefined
      ? Number(service.primary.version)
      : /^\d+$/.test(version)
        ? Number(version)
        : version;
  const found = await cardOf(name, ref);
  return format === 'json'
    ? { statusCode: 200, body: found }
    : {
        statusCode: 200,
        body: renderCardMarkdown(found),
        text: true,
        headers: { 'content-type': 'text/markdown; charset=utf-8' },
      };
};

const describe: Route = async (event, { service }) => {
  await servedModel(event, service);
  await service.fallbackSettled();
  return { statusCode: 200, body: describeModel(service) };
};

/** Every route, by path and method; a path's other methods answer 405 naming these. */
const ROUTES: RouteTable<RouteContext, Result> = {
  '/v2/health/live': { GET: () => ({ statusCode: 200, body: { live: true } }) },
  '/v2/health/ready': { GET: ready },
  '/v2': { GET: () => ({ statusCode: 200, body: { name: 'keel', version: '2', extensions: [] } }) },
  '/v2/models/{name}': {
    GET: describe,
  },
  '/v2/models/{name}/versions/{version}': {
    GET: describe,
  },
  '/v2/models/{name}/ready': {
    GET: async (event, { service }) => ({
      statusCode: 200,
      body: { name: await servedModel(event, service), ready: true },
    }),
  },
  '/v2/models/{name}/versions/{version}/ready': {
    GET: async (event, { service }) => ({
      statusCode: 200,
      body: { name: await servedModel(event, service), ready: true },
    }),
  },
  '/v2/models/{name}/infer': { POST: inferV2 },
  '/v2/models/{name}/versions/{version}/infer': { POST: inferV2 },
  '/v1/models/{name}:predict': { POST: predictV1 },
  '/v1/models/{name}:explain': { POST: explainV1 },
  // Per model, or the shared `/v1/feedback` of a single-model API.
  '/v1/models/{name}/feedback': { POST: feedback },
  '/v1/feedback': { POST: feedback },
  '/v1/models/{name}/card': { GET: card },
};

const route = routeTable<RouteContext, Result>(ROUTES);

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
      body: result.text ? String(result.body) : JSON.stringify(result.body),
    };
  } catch (error) {
    const mapped = toHttpError(error, ctx.requestId);
    if (mapped.statusCode === 500) ctx.onError?.(error);
    return {
      statusCode: mapped.statusCode,
      headers: { ...headers, ...mapped.headers },
      body: JSON.stringify(mapped.body),
    };
  }
}
