/**
 * Shadow testing from the capture stream: the `shadow`-alias model scores a sample of the
 * predictions already answered (their captured inputs), never the request path, so it adds no
 * latency. Each shadow score is captured with the same prediction id (`served_by: "shadow"`),
 * and the scorer keeps the comparison: label agreement, mean absolute difference of the
 * probabilities, and the PSI between the two score distributions.
 */
import { gunzipSync } from 'node:zlib';
import type { CloudWatchLogsDecodedData } from 'aws-lambda';
import { CAPTURE_MARKER, type CaptureRecord, type PredictionRecord } from '../contracts/capture.ts';
import { bucketCounts, psi, quantileEdges } from '../core/drift/statistics.ts';
import type { CaptureSink } from '../ports/capture.ts';
import type { Scorer } from '../ports/scorer.ts';
import { type InferenceDependencies, loadModel } from './handler.ts';

export interface ShadowOptions {
  /** Share of primary predictions the shadow scores. */
  readonly sampleRate: number;
  /** @default Math.random */
  readonly random?: () => number;
  /** Pairs kept for the distribution comparison. @default 10000 (oldest dropped) */
  readonly window?: number;
}

export interface ShadowReport {
  readonly scored: number;
  readonly failures: number;
  /** Share of scored rows where both models gave the same label. */
  readonly labelAgreement: number | null;
  readonly meanAbsoluteDifference: number | null;
  /** PSI of the shadow's probabilities against the primary's, on the primary's deciles. */
  readonly psi: number | null;
}

export class ShadowScorer {
  readonly #scorer: Scorer;
  readonly #sink: CaptureSink;
  readonly #options: ShadowOptions;
  readonly #primary: number[] = [];
  readonly #shadow: number[] = [];
  #scored = 0;
  #failures = 0;
  #agree = 0;
  #absDiff = 0;

  constructor(scorer: Scorer, sink: CaptureSink, options: ShadowOptions) {
    if (!(options.sampleRate >= 0 && options.sampleRate <= 1))
      throw new RangeError(`sampleRate must be in [0, 1], got ${options.sampleRate}`);
    this.#scorer = scorer;
    this.#sink = sink;
    this.#options = options;
  }

  get version(): string {
    return this.#scorer.version;
  }

  /** Scores a sample of the primary's captured predictions; never throws. */
  async process(records: readonly CaptureRecord[]): Promise<void> {
    const random = this.#options.random ?? Math.random;
    const sample = records.filter(
      (r): r is PredictionRecord =>
        r.type === 'prediction' && r.served_by === 'primary' && random() < this.#options.sampleRate,
    );
    if (sample.length === 0) return;
    const columns = new Map(
      this.#scorer.inputs.map((input) => [input.name, sample.map((r) => r.inputs[input.name] ?? null)]),
    );
    let scored: Awaited<ReturnType<Scorer['score']>>;
    try {
      scored = await this.#scorer.score(columns, sample.length);
    } catch {
      this.#failures += sample.length;
      return;
    }
    const timestamp = new Date().toISOString();
    const shadowRecords: PredictionRecord[] = sample.map((r, i) => {
      const probability = scored.probabilities[i] as number;
      const label = scored.labels[i] as number;
      this.#scored++;
      if (label === r.outputs.label) this.#agree++;
      this.#absDiff += Math.abs(probability - r.outputs.probability);
      this.#primary.push(r.outputs.probability);
      this.#shadow.push(probability);
      return {
        ...r,
        timestamp,
        model_version: this.#scorer.version,
        served_by: 'shadow',
        shadow_of: r.model_version,
        outputs: { probability, label },
        latency_ms: 0,
      };
    });
    const window = this.#options.window ?? 10_000;
    if (this.#primary.length > window) {
      this.#primary.splice(0, this.#primary.length - window);
      this.#shadow.splice(0, this.#shadow.length - window);
    }
    try {
      this.#sink.write(shadowRecords);
    } catch {
      /* the sink reports its own failures */
    }
  }

  report(): ShadowReport {
    if (this.#scored === 0)
      return {
        scored: 0,
        failures: this.#failures,
        labelAgreement: null,
        meanAbsoluteDifference: null,
        psi: null,
      };
    const edges = quantileEdges(this.#primary);
    return {
      scored: this.#scored,
      failures: this.#failures,
      labelAgreement: this.#agree / this.#scored,
      meanAbsoluteDifference: this.#absDiff / this.#scored,
      psi: psi(bucketCounts(this.#primary, edges), bucketCounts(this.#shadow, edges)),
    };
  }
}

/** The capture records in a CloudWatch Logs subscription payload (`awslogs.data`). */
export function captureRecordsFromLogs(data: string): CaptureRecord[] {
  const decoded = JSON.parse(
    gunzipSync(Buffer.from(data, 'base64')).toString('utf8'),
  ) as CloudWatchLogsDecodedData;
  const records: CaptureRecord[] = [];
  for (const event of decoded.logEvents ?? []) {
    try {
      const { [CAPTURE_MARKER]: marker, ...record } = JSON.parse(event.message) as Record<string, unknown>;
      if (marker === 1) records.push(record as unknown as CaptureRecord);
    } catch {
      /* not a capture line */
    }
  }
  return records;
}

/**
 * The `shadow`-alias scorer of a model, writing its records to `capture`; none when the model
 * samples no traffic for a shadow or has no `shadow` alias. The Lambda capture-stream monitor
 * and the local runtime both load it so.
 */
export async function loadShadowScorer(
  deps: Pick<InferenceDependencies, 'registry' | 'lineage'>,
  model: string,
  capture: CaptureSink,
  sampleRate: number,
): Promise<ShadowScorer | undefined> {
  if (!(sampleRate > 0)) return undefined;
  const version = (await deps.registry.aliasesOrNone(model)).shadow;
  if (version === undefined) return undefined;
  const loaded = await loadModel(deps, model, version);
  return new ShadowScorer(loaded.scorer, capture, { sampleRate });
}
