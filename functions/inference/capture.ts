/**
 * Capture: every prediction (and every outcome fed back) as one JSON record, written without a
 * network call on the request path. In Lambda the records are log lines a subscription filter
 * routes to Firehose and S3; locally a buffered writer puts them in the embedded S3. Both land
 * under the same keys: `capture/<type>/model=<m>/date=<yyyy-mm-dd>/hour=<hh>/…`.
 */
import { createHmac } from 'node:crypto';

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

/** Where capture records go. `write` only appends in memory; `flush` does the I/O. */
export interface CaptureSink {
  write(records: readonly CaptureRecord[]): void;
  /** Delivers everything written so far; retried by the sink, so nothing is lost on shutdown. */
  flush(): Promise<void>;
}

/**
 * A write-ahead journal under a buffering sink: what a sink was given survives the process
 * until the sink has stored it (the local runtime's; in Lambda the log line is the journal).
 */
export interface CaptureJournal {
  /** Names this journal's objects, so a replayed flush rewrites the same keys. */
  readonly id: string;
  /** Queues records for the next group commit; the first one's sequence number. */
  append(records: readonly CaptureRecord[]): number;
  /** Resolves once every record appended so far is on disk. */
  durable(): Promise<void>;
  /** Every record below sequence number `upTo` is stored; the journal may drop it. */
  release(upTo: number): Promise<void>;
}

export interface CaptureWindow {
  readonly from: Date;
  readonly to: Date;
}

export interface CapturedRecords {
  readonly predictions: PredictionRecord[];
  readonly feedback: FeedbackRecord[];
}

/** Reads a model's captured predictions and outcomes back (retraining, outcome monitoring). */
export interface CaptureReader {
  read(model: string, window: CaptureWindow): Promise<CapturedRecords>;
}

/**
 * Capture files of a model, read one at a time: how a drift check streams through millions of
 * records with memory for one file.
 */
export interface CapturePartitions {
  /** Keys of the capture files of `type` in the hour partitions that overlap the window. */
  files(model: string, type: CaptureRecord['type'], window: CaptureWindow): Promise<string[]>;
  /** The records of one file (malformed lines skipped). */
  readFile(key: string): Promise<Record<string, unknown>[]>;
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

/**
 * The outcome of each prediction id from feedback records: when an outcome was reported twice
 * (a correction), the latest report counts. Retraining and the drift check join on it.
 */
export function latestOutcomes(feedback: Iterable<FeedbackRecord>): Map<string, FeedbackRecord> {
  const outcomes = new Map<string, FeedbackRecord>();
  for (const f of feedback) {
    const seen = outcomes.get(f.prediction_id);
    if (!seen || seen.timestamp <= f.timestamp) outcomes.set(f.prediction_id, f);
  }
  return outcomes;
}

/**
 * PII in captured inputs: hashed with HMAC-SHA-256 under a secret salt (joinable, not
 * reversible by guessing without the salt), or dropped when no salt is configured.
 */
export interface PiiPolicy {
  readonly fields: readonly string[];
  /** @default none: PII fields are dropped */
  readonly salt?: string;
}

export function protectPii(
  inputs: Record<string, number | string | null>,
  policy: PiiPolicy | undefined,
): Record<string, number | string | null> {
  if (!policy || policy.fields.length === 0) return inputs;
  const out: Record<string, number | string | null> = {};
  for (const [name, value] of Object.entries(inputs)) {
    if (!policy.fields.includes(name)) out[name] = value;
    else if (policy.salt && value !== null)
      out[name] = `hmac-sha256:${createHmac('sha256', policy.salt).update(String(value)).digest('hex')}`;
    else if (policy.salt) out[name] = null;
  }
  return out;
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

/** Keeps records in memory: tests, and the shadow scorer's view of recent traffic. */
export class MemoryCaptureSink implements CaptureSink {
  readonly records: CaptureRecord[] = [];
  write(records: readonly CaptureRecord[]): void {
    this.records.push(...records);
  }
  async flush(): Promise<void> {}
}

/** Writes to `inner` and hands the same records to `tap` (shadow scoring, live views). */
export class TeeCaptureSink implements CaptureSink {
  readonly #inner: CaptureSink;
  readonly #tap: (records: readonly CaptureRecord[]) => void;

  constructor(inner: CaptureSink, tap: (records: readonly CaptureRecord[]) => void) {
    this.#inner = inner;
    this.#tap = tap;
  }

  write(records: readonly CaptureRecord[]): void {
    this.#inner.write(records);
    try {
      this.#tap(records);
    } catch {
      /* a tap never fails a write */
    }
  }

  flush(): Promise<void> {
    return this.#inner.flush();
  }
}
