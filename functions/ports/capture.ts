/** Capture ports: where records go, and how they are read back. */
import type { CaptureRecord, CaptureWindow, FeedbackRecord, PredictionRecord } from '../contracts/capture.ts';

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
  /**
   * Queues records for the next group commit, each given as its JSON (`JSON.stringify(record)`:
   * the sink serialises a record once for the journal and the object); the first one's sequence
   * number.
   */
  append(records: readonly string[]): number;
  /** Resolves once every record appended so far is on disk. */
  durable(): Promise<void>;
  /** Every record below sequence number `upTo` is stored; the journal may drop it. */
  release(upTo: number): Promise<void>;
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
