/** Capture helpers of the serving path: PII protection, outcome joins, in-memory and tee sinks. */
import { createHmac } from 'node:crypto';
import type { CaptureRecord, FeedbackRecord } from '../contracts/capture.ts';
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
