/**
 * The serving core: score validated columns with the primary model behind a circuit breaker
 * and a timeout (cockatiel), fall back to the `fallback`-alias model, then to a configured safe
 * default, so a failing model never fails a caller. Every prediction gets an id and is handed
 * to the capture sink (an in-memory append: no network on the request path).
 */

import { randomUUID } from 'node:crypto';
import {
  type CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleAll,
} from 'cockatiel';
import type { CapturedExplanation, CaptureRecord } from '../contracts/capture.ts';
import type { ExplainedRow, Explanation } from '../core/explain/explainer.ts';
import type { ModelInput, Scored } from '../core/onnx/runtime.ts';
import { KeelError, ValidationError } from '../kernel/errors.ts';
import type { CaptureSink } from '../ports/capture.ts';
import type { Scorer, ScoringColumns } from '../ports/scorer.ts';
import { type PiiPolicy, protectPii } from './capture.ts';
import type { Columns, RequestOptions } from './requests.ts';

export type ServedBy = 'primary' | 'fallback' | 'default';

export interface InferenceServiceOptions {
  readonly modelName: string;
  readonly primary: Scorer;
  /** The `fallback`-alias model. @default none: failures go straight to the safe default */
  readonly fallback?: Scorer;
  /** What is served when no model can answer: the cautious decision. */
  readonly safeDefault: { readonly probability: number; readonly label: 0 | 1 };
  /** Per-call time limit of the primary, in ms. @default 200 */
  readonly timeoutMs?: number;
  /** Consecutive primary failures that open the circuit. @default 5 */
  readonly breakerFailures?: number;
  /** How long an open circuit waits before letting one call try again, in ms. @default 10000 */
  readonly halfOpenAfterMs?: number;
  /** @default 1000 rows */
  readonly maxBatch?: number;
  /** Where predictions are captured. @default none */
  readonly capture?: CaptureSink;
  /** PII fields of the inputs, hashed or dropped in captures. @default none */
  readonly pii?: PiiPolicy;
  /** Extra fields, training ranges and the range policy requests are judged by. @default none */
  readonly request?: RequestOptions;
  /** Why the primary cannot answer at all (its artifact failed to load). @default it can */
  readonly primaryUnavailable?: string;
  /** Why the fallback cannot answer at all. @default it can */
  readonly fallbackUnavailable?: string;
  /**
   * A fallback still loading, in place of `fallback`: it loads after the primary, off the first
   * answer's path, and a failing primary waits for it. A rejection means no fallback.
   * @default none
   */
  readonly pendingFallback?: Promise<{ readonly scorer: Scorer; readonly unavailable?: string } | undefined>;
  /**
   * The explainer of a model version (by registry version), loaded on first use; rejects with
   * {@link ExplanationUnavailableError} when the version has none. @default no explanations: `:explain` answers 501
   */
  readonly explainer?: (version: string) => Promise<RowExplainer>;
  /** Share of ordinary predictions explained in their capture. @default 0 */
  readonly explanationSampleRate?: number;
  /** @default Math.random, for the explanation sample */
  readonly random?: () => number;
  /** Called once per request with the path that answered (metrics). @default none */
  readonly onServed?: (servedBy: ServedBy, rows: number, latencyMs: number) => void;
  /** @default crypto.randomUUID */
  readonly newId?: () => string;
  /** @default Date.now */
  readonly now?: () => number;
}

export interface PredictionResult {
  readonly predictionIds: readonly string[];
  readonly probabilities: Float64Array;
  readonly labels: Int32Array;
  readonly servedBy: ServedBy;
  readonly modelVersion: string;
  readonly latencyMs: number;
  /** When explanations were asked for: by the version that answered, or why there are none. */
  readonly explanation?: Omit<Explanation, 'rows'> | { readonly unavailable: string };
  /** Per row, with `explanation`. */
  readonly explanations?: readonly ExplainedRow[];
}

/** Explains rows of one model version with its stored explainer. */
export interface RowExplainer {
  /** The feature perturbations it can explain with. */
  readonly perturbations: readonly Explanation['featurePerturbation'][];
  explain(
    columns: ScoringColumns,
    rows: number,
    options?: { readonly featurePerturbation?: Explanation['featurePerturbation'] },
  ): Explanation;
}

/**
 * A version cannot be explained: 501 when it has no explainer (registered without one, or
 * served from an endpoint), 503 when its explainer failed to load; `cause` says why.
 */
export class ExplanationUnavailableError extends KeelError {
  static readonly status = 501;
}

export interface PredictOptions {
  /** Explain every row (by the version that answers). @default only the sampled share, in the capture */
  readonly explain?: boolean;
  /** @default 'interventional' */
  readonly featurePerturbation?: Explanation['featurePerturbation'];
}

const capturedOf = (e: Omit<Explanation, 'rows'>, row: ExplainedRow): CapturedExplanation => ({
  method: e.method,
  feature_perturbation: e.featurePerturbation,
  base_value: e.baseValue,
  margin: row.margin,
  contributions: row.contributions,
  ...(row.inputContributions ? { input_contributions: row.inputContributions } : {}),
});

export interface RequestContext {
  readonly traceId?: string;
  readonly requestId?: string;
}

/** A model "answered" only with one finite probability in [0, 1] per row. */
export class InvalidModelOutputError extends KeelError {}

function checkOutput(scored: Scored, rows: number): Scored {
  if (scored.probabilities.length !== rows)
    throw new InvalidModelOutputError(`${scored.probabilities.length} outputs for ${rows} rows`);
  for (const p of scored.probabilities) {
    if (!(p >= 0 && p <= 1)) throw new InvalidModelOutputError(`probability ${p} is not in [0, 1]`);
  }
  return scored;
}

/** The model did not answer within the service's timeout. */
export class ModelTimeoutError extends KeelError {}

/**
 * Rejects when `work` takes longer than `ms`. Not cockatiel's timeout policy: it allocates an
 * AbortController and aborts it after every call, and the DOMException that creates cost
 * ~20 µs a request here (a tenth of a single-row prediction). The model call cannot be
 * cancelled either way; the breaker stops sending work to a model that keeps hanging.
 */
function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ModelTimeoutError(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}

/**
 * What answers now and why: `degraded` whenever the primary is not the one answering (its
 * artifact failed to load, its circuit is open, or the last request went to the fallback or
 * the safe default). Serving keeps answering while degraded; readiness says so.
 */
export interface ServingHealth {
  readonly ready: true;
  readonly degraded: boolean;
  readonly circuit: 'closed' | 'open' | 'half-open';
  /** The path that answered the last request, or that will answer the next. */
  readonly servedBy: ServedBy;
  /** The registry version behind `servedBy` (`safe-default` for the safe default). */
  readonly answeringVersion: string;
  readonly primary: { readonly version: string; readonly available: boolean; readonly reason?: string };
  readonly reason?: string;
}

/** The explanations of one request: the explainer's summary, and its rows where they were made. */
interface Explained {
  readonly explanation?: PredictionResult['explanation'];
  readonly rows?: readonly ExplainedRow[];
  /** Which rows' captures hold their explanation. */
  readonly sampled?: readonly boolean[];
}

export class InferenceService {
  #lastServedBy: ServedBy | undefined;
  readonly modelName: string;
  readonly primary: Scorer;
  #fallback: Scorer | undefined;
  #fallbackUnavailable: string | undefined;
  #fallbackLoading: Promise<void> | undefined;
  readonly maxBatch: number;
  readonly #options: InferenceServiceOptions;
  readonly #breaker: CircuitBreakerPolicy;
  /** Explainers by version: loading, then loaded (sampled explanations use only loaded ones). */
  readonly #explainers = new Map<string, Promise<RowExplainer>>();
  readonly #loadedExplainers = new Map<string, RowExplainer>();

  constructor(options: InferenceServiceOptions) {
    const p = options.safeDefault.probability;
    if (!(p >= 0 && p <= 1)) throw new RangeError(`safeDefault.probability must be in [0, 1], got ${p}`);
    this.modelName = options.modelName;
    this.primary = options.primary;
    this.#fallback = options.fallback;
    this.#fallbackUnavailable = options.fallbackUnavailable;
    if (options.pendingFallback) {
      const loading = options.pendingFallback.then(
        (loaded) => {
          this.#fallback = loaded?.scorer;
          this.#fallbackUnavailable = loaded?.unavailable;
        },
        () => undefined,
      );
      this.#fallbackLoading = loading.finally(() => {
        this.#fallbackLoading = undefined;
      });
    }
    this.maxBatch = options.maxBatch ?? 1000;
    this.#options = options;
    this.#breaker = circuitBreaker(handleAll, {
      halfOpenAfter: options.halfOpenAfterMs ?? 10_000,
      breaker: new ConsecutiveBreaker(options.breakerFailures ?? 5),
    });
    // Sampled explanations are never waited for: the primary's explainer loads off the path.
    if ((options.explanationSampleRate ?? 0) > 0)
      this.explainerFor(this.primary.version).catch(() => undefined);
  }

  /**
   * The explainer of `version`, loaded once; a load that failed for any reason but "it has none"
   * is tried again on the next call.
   */
  explainerFor(version: string): Promise<RowExplainer> {
    const load = this.#options.explainer;
    if (!load)
      return Promise.reject(new ExplanationUnavailableError('this endpoint has no explainers configured'));
    let pending = this.#explainers.get(version);
    if (!pending) {
      pending = load(version).then(
        (explainer) => {
          this.#loadedExplainers.set(version, explainer);
          return explainer;
        },
        (error: unknown) => {
          if (!(error instanceof ExplanationUnavailableError && error.status === 501))
            this.#explainers.delete(version);
          throw error;
        },
      );
      this.#explainers.set(version, pending);
    }
    return pending;
  }

  /** The fallback model, once loaded. */
  get fallback(): Scorer | undefined {
    return this.#fallback;
  }

  /** Resolves when the fallback has loaded (or failed to), at once when it is not loading. */
  async fallbackSettled(): Promise<Scorer | undefined> {
    await this.#fallbackLoading;
    return this.#fallback;
  }

  /** The primary's inputs: the request contract. */
  get inputs(): readonly ModelInput[] {
    return this.primary.inputs;
  }

  /** The rest of the request contract: declared extra fields, training ranges, the range policy. */
  get requestOptions(): RequestOptions {
    return this.#options.request ?? {};
  }

  health(): ServingHealth {
    const circuit = this.circuit;
    const primaryDown = this.#options.primaryUnavailable;
    const fallbackUp = this.#fallback !== undefined && this.#fallbackUnavailable === undefined;
    const expected: ServedBy =
      primaryDown === undefined && circuit !== 'open' ? 'primary' : fallbackUp ? 'fallback' : 'default';
    // The last answer is what callers actually got (a NaN-scoring primary falls back per call).
    const servedBy =
      primaryDown !== undefined || circuit === 'open' ? expected : (this.#lastServedBy ?? expected);
    const answeringVersion =
      servedBy === 'primary'
        ? this.primary.version
        : servedBy === 'fallback'
          ? (this.#fallback?.version ?? 'none')
          : 'safe-default';
    const reason =
      servedBy === 'primary'
        ? undefined
        : primaryDown !== undefined
          ? `the primary (v${this.primary.version}) is unavailable: ${primaryDown}`
          : circuit === 'open'
            ? `the primary's circuit is open after repeated failures`
            : 'the last request was not answered by the primary';
    return {
      ready: true,
      degraded: servedBy !== 'primary',
      circuit,
      servedBy,
      answeringVersion,
      primary: {
        version: this.primary.version,
        available: primaryDown === undefined,
        ...(primaryDown !== undefined ? { reason: primaryDown } : {}),
      },
      ...(reason ? { reason } : {}),
    };
  }

  get circuit(): 'closed' | 'open' | 'half-open' {
    const state = this.#breaker.state;
    return state === CircuitState.Closed ? 'closed' : state === CircuitState.HalfOpen ? 'half-open' : 'open';
  }

  async predict(
    input: Columns,
    context: RequestContext = {},
    options: PredictOptions = {},
  ): Promise<PredictionResult> {
    // A primary that cannot be explained (so) is refused before anything is scored or captured.
    if (options.explain) {
      const { perturbations } = await this.explainerFor(this.primary.version);
      const asked = options.featurePerturbation ?? 'interventional';
      if (!perturbations.includes(asked))
        throw new ValidationError('This model cannot be explained so', [
          {
            path: 'parameters.feature_perturbation',
            message: `${this.modelName}@${this.primary.version} is explained ${perturbations.join(' or ')}, not ${asked}`,
          },
        ]);
    }
    const now = this.#options.now ?? Date.now;
    const started = now();
    let servedBy: ServedBy = 'primary';
    let modelVersion = this.primary.version;
    let scored: Scored | undefined;
    try {
      // The timeout is inside the breaker, so a hanging model counts as a failure.
      scored = await this.#breaker.execute(async () =>
        checkOutput(
          await withTimeout(this.primary.score(input.columns, input.rows), this.#options.timeoutMs ?? 200),
          input.rows,
        ),
      );
    } catch {
      const fallback = await this.fallbackSettled();
      if (fallback) {
        try {
          scored = checkOutput(await fallback.score(input.columns, input.rows), input.rows);
          servedBy = 'fallback';
          modelVersion = fallback.version;
        } catch {
          scored = undefined;
        }
      }
    }
    if (scored === undefined) {
      servedBy = 'default';
      modelVersion = 'safe-default';
      const { probability, label } = this.#options.safeDefault;
      scored = {
        probabilities: new Float64Array(input.rows).fill(probability),
        labels: new Int32Array(input.rows).fill(label),
      };
    }
    const latencyMs = now() - started;
    this.#lastServedBy = servedBy;
    const newId = this.#options.newId ?? randomUUID;
    const predictionIds = Array.from({ length: input.rows }, () => newId());
    this.#options.onServed?.(servedBy, input.rows, latencyMs);
    const explained = options.explain
      ? await this.#explainAll(input, servedBy, modelVersion, options)
      : this.#explainSample(input, servedBy, modelVersion);
    this.#capture(
      input,
      scored,
      predictionIds,
      servedBy,
      modelVersion,
      latencyMs,
      context,
      started,
      explained,
    );
    return {
      predictionIds,
      probabilities: scored.probabilities,
      labels: scored.labels,
      servedBy,
      modelVersion,
      latencyMs,
      ...(explained.explanation ? { explanation: explained.explanation } : {}),
      ...(explained.rows && options.explain ? { explanations: explained.rows } : {}),
    };
  }

  /** Every row, by the version that answered; why not, when none of its rows can be. */
  async #explainAll(
    input: Columns,
    servedBy: ServedBy,
    version: string,
    options: PredictOptions,
  ): Promise<Explained> {
    if (servedBy === 'default')
      return { explanation: { unavailable: 'the safe default answered: there is no model to explain' } };
    try {
      const explainer = await this.explainerFor(version);
      const { rows, ...explanation } = explainer.explain(input.columns, input.rows, {
        ...(options.featurePerturbation ? { featurePerturbation: options.featurePerturbation } : {}),
      });
      return { explanation, rows, sampled: rows.map(() => true) };
    } catch (error) {
      // The answer stands: a fallback version without an explainer says so, it does not fail.
      if (servedBy === 'primary' && !(error instanceof ExplanationUnavailableError)) throw error;
      return { explanation: { unavailable: error instanceof Error ? error.message : String(error) } };
    }
  }

  /** The sampled share of rows, by a loaded explainer only (never waited for). */
  #explainSample(input: Columns, servedBy: ServedBy, version: string): Explained {
    const rate = this.#options.explanationSampleRate ?? 0;
    if (rate <= 0 || servedBy === 'default') return {};
    const explainer = this.#loadedExplainers.get(version);
    if (!explainer) {
      this.explainerFor(version).catch(() => undefined);
      return {};
    }
    const random = this.#options.random ?? Math.random;
    const sampled = Array.from({ length: input.rows }, () => random() < rate);
    if (!sampled.includes(true)) return {};
    try {
      const { rows, ...explanation } = explainer.explain(input.columns, input.rows);
      return { explanation, rows, sampled };
    } catch {
      return {}; // a sampled explanation must never fail a prediction
    }
  }

  #capture(
    input: Columns,
    scored: Scored,
    ids: readonly string[],
    servedBy: ServedBy,
    modelVersion: string,
    latencyMs: number,
    context: RequestContext,
    started: number,
    explained: Explained,
  ): void {
    const sink = this.#options.capture;
    if (!sink) return;
    const timestamp = new Date(started).toISOString();
    // Declared extra fields (protected attributes, ids) are captured beside the inputs, under the
    // same PII policy: retraining and fairness on production rows need them; the model never sees them.
    const fields = input.extras ? [...input.columns, ...input.extras] : [...input.columns];
    const records: CaptureRecord[] = ids.map((id, row) => ({
      type: 'prediction',
      prediction_id: id,
      timestamp,
      model: this.modelName,
      model_version: modelVersion,
      served_by: servedBy,
      inputs: protectPii(
        Object.fromEntries(fields.map(([name, values]) => [name, values[row] ?? null])),
        this.#options.pii,
      ),
      ...(input.outOfRange?.[row]?.length ? { out_of_range: input.outOfRange[row] } : {}),
      outputs: { probability: scored.probabilities[row] as number, label: scored.labels[row] as number },
      latency_ms: latencyMs,
      ...(explained.rows &&
      explained.sampled?.[row] &&
      explained.explanation &&
      'method' in explained.explanation
        ? { explanation: capturedOf(explained.explanation, explained.rows[row] as ExplainedRow) }
        : {}),
      ...(context.traceId ? { trace_id: context.traceId } : {}),
      ...(context.requestId ? { request_id: context.requestId } : {}),
    }));
    // Capture must never fail a prediction: a sink error is the sink's to report.
    try {
      sink.write(records);
    } catch {
      /* counted by the sink */
    }
  }
}
