/** Capture helpers of the serving path: PII protection, outcome joins, in-memory and tee sinks. */
import { createHmac } from 'node:crypto';
import type { CaptureRecord, FeedbackRecord, PredictionRecord } from '../contracts/capture.ts';
import {
  CategoricalBuilder,
  type Column,
  NumericBuilder,
  type Schema,
  type Table,
} from '../core/data/table.ts';
import type { CaptureSink } from '../ports/capture.ts';

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

/** A prediction whose outcome came back. */
export interface LabelledPrediction {
  readonly predictionId: string;
  readonly timestamp: string;
  readonly inputs: Readonly<Record<string, number | string | null>>;
  readonly outcome: 0 | 1;
}

/**
 * Joins predictions with outcomes by prediction id. Shadow scores are not predictions anyone
 * acted on and are skipped; when an outcome was reported twice, the latest report counts.
 * Returns the most recent `limit` labelled predictions, oldest first.
 */
export function joinOutcomes(
  predictions: readonly PredictionRecord[],
  feedback: readonly FeedbackRecord[],
  limit = Number.POSITIVE_INFINITY,
): LabelledPrediction[] {
  const outcomes = latestOutcomes(feedback);
  const joined: LabelledPrediction[] = [];
  const served = new Set<string>();
  for (const p of predictions) {
    if (p.shadow_of !== undefined || served.has(p.prediction_id)) continue;
    const outcome = outcomes.get(p.prediction_id);
    if (!outcome) continue;
    served.add(p.prediction_id);
    joined.push({
      predictionId: p.prediction_id,
      timestamp: p.timestamp,
      inputs: p.inputs,
      outcome: outcome.outcome,
    });
  }
  joined.sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0));
  return Number.isFinite(limit) ? joined.slice(Math.max(0, joined.length - limit)) : joined;
}

/**
 * Labelled predictions as rows of a table with `schema`: inputs the capture lacks (protected
 * attributes are never model inputs) are missing, the outcome fills the label column, and a
 * value of the wrong type is missing rather than an error (captures are validated at serving).
 */
export function labelledTable(rows: readonly LabelledPrediction[], schema: Schema, label: string): Table {
  const columns = new Map<string, Column>();
  for (const [name, kind] of Object.entries(schema)) {
    if (kind === 'numeric') {
      const builder = new NumericBuilder();
      for (const row of rows) {
        const value = name === label ? row.outcome : row.inputs[name];
        builder.push(typeof value === 'number' ? value : Number.NaN);
      }
      columns.set(name, builder.build());
    } else {
      const builder = new CategoricalBuilder();
      for (const row of rows) {
        const value = name === label ? String(row.outcome) : row.inputs[name];
        builder.push(value === null || value === undefined ? null : String(value));
      }
      columns.set(name, builder.build());
    }
  }
  return { rowCount: rows.length, columns };
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
