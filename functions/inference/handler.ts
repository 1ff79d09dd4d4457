/**
 * The inference Lambda handler, as a factory: `lambda.ts` binds it to the environment of a
 * published Lambda version (pinned to one registry model version), and the local runtime
 * builds one per model version it serves. On the first request (the cold start) the handler
 * resolves its model version in the registry, fetches the artifact from lineage (the store
 * re-hashes every read), creates the onnxruntime session, and does the same for the
 * `fallback`-alias model. A model that cannot load is a failing scorer, not a failing
 * endpoint: requests are served by the fallback or the safe default.
 */

import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda';
import { keelHandler } from '../commons/middleware.ts';
import { logger, metrics } from '../commons/powertools.ts';
import { type ModelInput, OnnxModel } from '../core/onnx/runtime.ts';
import { KeelError } from '../kernel/errors.ts';
import type { LineageStore } from '../lineage/store.ts';
import type { CaptureSink } from '../ports/capture.ts';
import type { Scorer } from '../ports/scorer.ts';
import { loadModelCard } from '../registry/card.ts';
import type { ModelRegistry, ModelVersion } from '../registry/registry.ts';
import { loadExplainer } from './explainers.ts';
import type { RangePolicy } from './requests.ts';
import { handleHttp } from './routes.ts';
import { onnxScorer } from './scorers.ts';
import { ExplanationUnavailableError, InferenceService, type RowExplainer } from './service.ts';

export interface InferenceSettings {
  readonly modelName: string;
  /** The registry version this handler is pinned to. */
  readonly modelVersion: number;
  /** Alias of the fallback model. @default 'fallback' */
  readonly fallbackAlias?: string;
  readonly safeDefault: { readonly probability: number; readonly label: 0 | 1 };
  /** @default 200 */
  readonly timeoutMs?: number;
  /** @default 1000 */
  readonly maxBatch?: number;
  /** Salt for hashing PII fields in captures; without it they are dropped. @default none */
  readonly piiSalt?: string;
  /** Serve the primary from this SageMaker endpoint instead of an in-process session. @default in-process */
  readonly sagemakerEndpoint?: string;
  /** Fields accepted beside the model's inputs and captured, never scored. @default none */
  readonly requestFields?: readonly string[];
  /** Extra fields that are PII: hashed or dropped in captures, as PII inputs are. @default none */
  readonly piiFields?: readonly string[];
  /** What a numeric input outside its training range gets. @default flag, tolerance 1 */
  readonly inputRange?: RangePolicy;
  /** Share of ordinary predictions explained in their capture. @default 0 */
  readonly explanationSampleRate?: number;
}

export interface InferenceDependencies {
  readonly registry: ModelRegistry;
  readonly lineage: LineageStore;
  readonly capture: CaptureSink;
  /** Builds the scorer of a SageMaker endpoint (see `sagemakerEndpoint`). @default none */
  readonly endpointScorer?: (endpoint: string, version: string, inputs: readonly ModelInput[]) => Scorer;
}

export interface LoadedModel {
  readonly scorer: Scorer;
  readonly version: ModelVersion;
  /** Why the artifact could not be used, when it could not. */
  readonly error?: unknown;
  /** Loads its explainer (once per call: the service keeps it). */
  readonly explainer: () => Promise<RowExplainer>;
}

function inputsOf(version: ModelVersion): ModelInput[] {
  return version.metadata.inputSchema.map((f) => ({
    name: f.name,
    type: f.type === 'string' ? 'categorical' : 'numeric',
    ...(f.protected ? { protected: true } : {}),
  }));
}

/** Loads a registered version's ONNX artifact; a bad artifact yields a scorer that always fails. */
export async function loadModel(
  deps: Pick<InferenceDependencies, 'registry' | 'lineage'>,
  model: string,
  ref: number | string,
): Promise<LoadedModel> {
  const label = `${model}@${ref}`;
  const version = await deps.registry.get(model, ref);
  mark(`registry ${label}`);
  try {
    const bytes = await deps.lineage.getBytes({ kind: 'models', sha256: version.metadata.artifact.sha256 });
    mark(`fetch + SHA-256 ${label}`);
    const onnx = await OnnxModel.load(bytes);
    mark(`session ${label}`);
    return {
      scorer: onnxScorer(onnx, String(version.version)),
      version,
      explainer: () => loadExplainer(deps.lineage, version, bytes),
    };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      version,
      error,
      explainer: async () => {
        throw new ExplanationUnavailableError(`model ${label} is unavailable: ${reason}`, { status: 503 });
      },
      scorer: {
        version: String(version.version),
        inputs: inputsOf(version),
        score: async () => {
          throw new ModelUnavailableError(`model ${model}@${version.version} is unavailable: ${reason}`, {
            cause: error,
          });
        },
      },
    };
  }
}

/**
 * Marks a phase of the cold start on the process's performance timeline (a few µs, once per
 * model load), where `bench/cold-start.bench.ts` and a profiler read them.
 */
function mark(phase: string): void {
  performance.mark(`keel:cold-start:${phase}`);
}

/** A model version that could not be loaded (its artifact is missing, corrupt or not ONNX); `cause` says why. */
export class ModelUnavailableError extends KeelError {}

/** Builds the service of one pinned model version (the cold start). */
export async function createInferenceService(
  settings: InferenceSettings,
  deps: InferenceDependencies,
): Promise<InferenceService> {
  const primary: LoadedModel =
    settings.sagemakerEndpoint && deps.endpointScorer
      ? await (async () => {
          const version = await deps.registry.get(settings.modelName, settings.modelVersion);
          const endpoint = settings.sagemakerEndpoint as string;
          return {
            version,
            scorer: deps.endpointScorer?.(endpoint, String(version.version), inputsOf(version)) as Scorer,
            explainer: async () => {
              throw new ExplanationUnavailableError(
                `${settings.modelName}@${version.version} is served by SageMaker endpoint ${endpoint}: explain it offline with keel explain --method kernel`,
              );
            },
          };
        })()
      : await loadModel(deps, settings.modelName, settings.modelVersion);
  if (primary.error)
    logger.error('Primary model unavailable; serving the fallback', { error: primary.error });
  // The fallback loads after the primary, off the first answer's path (which it cost ~35 ms of
  // a 300 ms cold start): a request the primary fails waits for it.
  let fallbackExplainer: LoadedModel['explainer'] | undefined;
  const pendingFallback = loadModel(deps, settings.modelName, settings.fallbackAlias ?? 'fallback').then(
    (loaded) => {
      if (loaded.error) logger.error('Fallback model unavailable', { error: loaded.error });
      fallbackExplainer = loaded.explainer;
      return { scorer: loaded.scorer, ...(loaded.error ? { unavailable: messageOf(loaded.error) } : {}) };
    },
    (error: unknown) => {
      logger.warn('No fallback model; failures get the safe default', { error });
      return undefined;
    },
  );
  const pii = [
    ...new Set([
      ...primary.version.metadata.inputSchema.filter((f) => f.pii).map((f) => f.name),
      ...(settings.piiFields ?? []),
    ]),
  ];
  const ranges = Object.fromEntries(
    primary.version.metadata.inputSchema.flatMap((f) =>
      f.type === 'number' && f.min !== undefined && f.max !== undefined
        ? [[f.name, { min: f.min, max: f.max }]]
        : [],
    ),
  );
  metrics.setDefaultDimensions({ model: settings.modelName, version: String(settings.modelVersion) });
  const service: InferenceService = new InferenceService({
    modelName: settings.modelName,
    primary: primary.scorer,
    pendingFallback,
    safeDefault: settings.safeDefault,
    ...(settings.timeoutMs !== undefined ? { timeoutMs: settings.timeoutMs } : {}),
    ...(settings.maxBatch !== undefined ? { maxBatch: settings.maxBatch } : {}),
    capture: deps.capture,
    ...(primary.error ? { primaryUnavailable: messageOf(primary.error) } : {}),
    pii: { fields: pii, ...(settings.piiSalt ? { salt: settings.piiSalt } : {}) },
    request: {
      ...(settings.requestFields ? { extraFields: settings.requestFields } : {}),
      ranges,
      ...(settings.inputRange ? { rangePolicy: settings.inputRange } : {}),
    },
    explainer: async (version) => {
      if (version === primary.scorer.version) return primary.explainer();
      const fallback = await service.fallbackSettled();
      if (fallback?.version === version && fallbackExplainer) return fallbackExplainer();
      throw new ExplanationUnavailableError(`version ${version} is not served here`);
    },
    ...(settings.explanationSampleRate ? { explanationSampleRate: settings.explanationSampleRate } : {}),
    onServed: (servedBy, rows, latencyMs) => {
      metrics.addMetric('Predictions', MetricUnit.Count, rows);
      metrics.addMetric(`ServedBy${servedBy[0]?.toUpperCase()}${servedBy.slice(1)}`, MetricUnit.Count, 1);
      metrics.addMetric('InferenceLatency', MetricUnit.Milliseconds, latencyMs);
    },
  });
  return service;
}

/** The API Gateway v2 handler of one pinned model version. */
export function makeInferenceHandler(settings: InferenceSettings, deps: () => InferenceDependencies) {
  let service: Promise<InferenceService> | undefined;
  const ready = () => {
    service ??= createInferenceService(settings, deps()).catch((error) => {
      service = undefined; // the next request tries again
      throw error;
    });
    return service;
  };
  return keelHandler(
    async (event: APIGatewayProxyEventV2, context: Context): Promise<APIGatewayProxyResultV2> => {
      const dependencies = deps();
      const response = await handleHttp(event, {
        service: await ready(),
        capture: dependencies.capture,
        card: async (model, ref) => (await loadModelCard(dependencies, model, ref)).card,
        requestId: context.awsRequestId,
        ...(process.env._X_AMZN_TRACE_ID ? { traceId: process.env._X_AMZN_TRACE_ID } : {}),
        onError: (error) => logger.error('Unhandled error', { error }),
      });
      return response;
    },
    { http: true },
  );
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
