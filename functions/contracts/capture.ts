/**
 * The capture contract: the record shapes, their line format and the S3 key layout shared by
 * the writers (Lambda log lines, the local sink), Firehose's partitioning query and the readers.
 *
 * Capture: every prediction (and every outcome fed back) as one JSON record, written without a
 * network call on the request path. In Lambda the records are log lines a subscription filter
 * routes to Firehose and S3; locally a buffered writer puts them in the embedded S3. Both land
 * under the same keys: `capture/<type>/model=<m>/date=<yyyy-mm-dd>/hour=<hh>/…`.
 */
/** Field that marks a log line as a capture record, for the subscription filter. */
export const CAPTURE_MARKER = 'keel_capture';

export interface PredictionRecord {
  readonly type: 'prediction';
  readonly prediction_id: string;
  readonly timestamp: string;
  readonly model: string;
  readonly model_version: string;
  readonly served_by: string;
  readonly inputs: Readonly<Record<string, number | string | null>>;
  readonly outputs: { readonly probability: number; readonly label: number };
  readonly latency_ms: number;
  readonly trace_id?: string;
  readonly request_id?: string;
  /** Set on shadow scores: the same prediction id, the shadow model's answer. */
  readonly shadow_of?: string;
  /** Numeric inputs outside their training range, scored as sent or clipped (`serving.inputRange`). */
  readonly out_of_range?: readonly string[];
  /**
   * The prediction's explanation, when it was asked for or sampled (`serving.explanationSampleRate`):
   * SHAP values of the log-odds, per raw column (and per model input), by the version that served.
   */
  readonly explanation?: CapturedExplanation;
}

export interface CapturedExplanation {
  readonly method: string;
  readonly feature_perturbation: string;
  readonly base_value: number;
  readonly margin: number;
  readonly contributions: Readonly<Record<string, number>>;
  readonly input_contributions?: Readonly<Record<string, number>>;
}

export interface FeedbackRecord {
  readonly type: 'feedback';
  readonly prediction_id: string;
  readonly model: string;
  readonly outcome: 0 | 1;
  readonly observed_at: string;
  readonly timestamp: string;
}

export type CaptureRecord = PredictionRecord | FeedbackRecord;

export interface CaptureWindow {
  readonly from: Date;
  readonly to: Date;
}

/** Whether a capture key's hour partition (`…/date=…/hour=…/`) overlaps the window. */
export function partitionOverlaps(key: string, window: CaptureWindow): boolean {
  const match = /\/date=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\//.exec(key);
  if (!match) return false;
  const start = Date.parse(`${match[1]}T${match[2]}:00:00Z`);
  return start <= window.to.getTime() && start + 3_600_000 > window.from.getTime();
}

const MARKER_PREFIX = `{"${CAPTURE_MARKER}":1,`;

/** Parses JSON lines, skipping blank and malformed ones (a half-written line must not stop a reader). */
export function parseCaptureLines(text: string): Record<string, unknown>[] {
  const records: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      // The log marker is routing, not data. The capture sink writes it first: cut it from the
      // text (copying the parsed record without it, or deleting it, costs more than the parse).
      const text = line.startsWith(MARKER_PREFIX) ? `{${line.slice(MARKER_PREFIX.length)}` : line;
      const record = JSON.parse(text) as Record<string, unknown>;
      if (CAPTURE_MARKER in record) {
        const { [CAPTURE_MARKER]: _marker, ...rest } = record;
        records.push(rest);
      } else records.push(record);
    } catch {
      /* skipped */
    }
  }
  return records;
}

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * Firehose's dynamic-partitioning query (JQ 1.6) over one capture record: it must give the keys
 * {@link capturePrefix} uses, so that AWS and the local runtime lay capture out alike. A line
 * it cannot partition lands under Firehose's error prefix (`capture-errors/`).
 */
export const CAPTURE_PARTITION_QUERY =
  '{type: .type, model: .model, date: .timestamp[0:10], hour: .timestamp[11:13]}';

/** The S3 prefix a record belongs to, partitioned by type, model, date and hour (UTC). */
export function capturePrefix(record: CaptureRecord): string {
  const at = new Date(record.timestamp);
  const date = `${at.getUTCFullYear()}-${pad(at.getUTCMonth() + 1)}-${pad(at.getUTCDate())}`;
  return `capture/${record.type}/model=${record.model}/date=${date}/hour=${pad(at.getUTCHours())}/`;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A parsed capture line as a prediction record, or undefined when it is not one (another type,
 * or a line missing the fields every writer sets). Readers check shape here, once, instead of
 * casting; fields a reader does not need (latency, ids) are passed through as written.
 */
export function predictionRecordOf(r: Record<string, unknown>): PredictionRecord | undefined {
  if (r.type !== 'prediction' || !isString(r.prediction_id) || !isString(r.model) || !isString(r.timestamp))
    return undefined;
  if (!isObject(r.inputs) || !isObject(r.outputs)) return undefined;
  if (!isString(r.model_version) || !isString(r.served_by)) return undefined;
  return r as unknown as PredictionRecord;
}

/** A parsed capture line as a feedback record (outcome 0 or 1), or undefined when it is not one. */
export function feedbackRecordOf(r: Record<string, unknown>): FeedbackRecord | undefined {
  if (r.type !== 'feedback' || !isString(r.prediction_id) || !isString(r.model) || !isString(r.timestamp))
    return undefined;
  if (r.outcome !== 0 && r.outcome !== 1) return undefined;
  return r as unknown as FeedbackRecord;
}
