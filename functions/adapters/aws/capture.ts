/**
 * Capture sinks on AWS. In Lambda, {@link LogCaptureSink} prints each record as one JSON log
 * line: no network call on the request path, and a subscription filter on the log group
 * (`{ $.keel_capture = 1 }`) routes them through Firehose to S3. {@link S3CaptureSink} buffers
 * records and puts them to S3 in batches: the local runtime's sink, and the writer for jobs.
 */
import { randomUUID } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CAPTURE_MARKER, type CaptureRecord, capturePrefix } from '../../contracts/capture.ts';
import type { CaptureJournal, CaptureSink } from '../../ports/capture.ts';

export class LogCaptureSink implements CaptureSink {
  readonly #write: (line: string) => void;

  constructor(write: (line: string) => void = (line) => process.stdout.write(line)) {
    this.#write = write;
  }

  write(records: readonly CaptureRecord[]): void {
    for (const record of records) this.#write(`${JSON.stringify({ [CAPTURE_MARKER]: 1, ...record })}\n`);
  }

  async flush(): Promise<void> {}
}

export interface S3CaptureSinkOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** Flush when this many records are waiting. @default 500 */
  readonly maxRecords?: number;
  /** Flush this often, in ms; 0 for only on demand. @default 1000 */
  readonly intervalMs?: number;
  /** Attempts per object before a flush gives up (the records stay buffered). @default 5 */
  readonly attempts?: number;
  /** First retry delay in ms, doubled per attempt. @default 50 */
  readonly backoffMs?: number;
  /** Told when a flush fails after every attempt. @default none */
  readonly onError?: (error: unknown) => void;
  /**
   * Journal every record before it is buffered, name objects after the journal and the flush's
   * first sequence number (a replayed flush rewrites the same keys), and release what is
   * stored. @default none: records live in memory until stored
   */
  readonly journal?: CaptureJournal;
  /** Records the journal kept from before a restart, stored by the next flush. @default none */
  readonly replay?: readonly { readonly seq: number; readonly record: CaptureRecord }[];
}

/**
 * Buffers records and writes one JSON-lines object per partition (type, model, date, hour)
 * per flush. Records leave the buffer only once their object is stored, so a failed flush
 * loses nothing: the next flush (or `close`) retries them.
 *
 * Each record is serialised once, as it is written: the journal and the object get the same
 * line, and the buffer holds flat strings rather than the records' object graphs. Those lived
 * for the whole flush interval, so each young-generation collection copied and promoted the
 * latest ones; under `keel up` the slowest requests were those a collection fell on.
 */
export class S3CaptureSink implements CaptureSink {
  readonly #options: S3CaptureSinkOptions;
  /** Each buffered record's JSON, and its partition prefix, in order. */
  #lines: string[] = [];
  #prefixes: string[] = [];
  #flushing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Objects written so far (observability and tests). */
  objects = 0;

  /** Sequence number of the first buffered record (journal mode; the buffer is contiguous). */
  #firstSeq = 0;

  constructor(options: S3CaptureSinkOptions) {
    this.#options = options;
    const replay = options.replay ?? [];
    if (replay.length > 0) {
      this.#firstSeq = replay[0]?.seq as number;
      this.#lines = replay.map((r) => JSON.stringify(r.record));
      this.#prefixes = replay.map((r) => capturePrefix(r.record));
    }
    const interval = options.intervalMs ?? 1000;
    if (interval > 0) {
      this.#timer = setInterval(() => {
        this.flush().catch(() => {});
      }, interval);
      this.#timer.unref();
    }
  }

  get pending(): number {
    return this.#lines.length;
  }

  write(records: readonly CaptureRecord[]): void {
    const lines = records.map((record) => JSON.stringify(record));
    if (this.#options.journal) {
      const first = this.#options.journal.append(lines);
      if (this.#lines.length === 0) this.#firstSeq = first;
    }
    for (let i = 0; i < records.length; i++) {
      this.#lines.push(lines[i] as string);
      this.#prefixes.push(capturePrefix(records[i] as CaptureRecord));
    }
    if (this.#lines.length >= (this.#options.maxRecords ?? 500)) this.flush().catch(() => {});
  }

  /** Writes what is buffered; concurrent calls share one flush and then run another. */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    if (this.#lines.length === 0) return;
    this.#flushing = this.#flushOnce().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #flushOnce(): Promise<void> {
    const lines = this.#lines;
    const prefixes = this.#prefixes;
    const firstSeq = this.#firstSeq;
    this.#lines = [];
    this.#prefixes = [];
    this.#firstSeq = firstSeq + lines.length;
    const journal = this.#options.journal;
    const groups = new Map<string, number[]>();
    prefixes.forEach((prefix, i) => {
      const group = groups.get(prefix);
      if (group) group.push(i);
      else groups.set(prefix, [i]);
    });
    const failed: number[] = [];
    let lastError: unknown;
    for (const [prefix, members] of groups) {
      const key = journal
        ? `${prefix}${journal.id}-${String(firstSeq).padStart(12, '0')}.jsonl`
        : `${prefix}${new Date().toISOString().replace(/[:.]/g, '-')}-${randomUUID()}.jsonl`;
      const body = members.map((i) => lines[i] as string).join('\n');
      try {
        await this.#put(key, `${body}\n`);
        this.objects++;
      } catch (error) {
        lastError = error;
        failed.push(...members);
      }
    }
    if (failed.length > 0) {
      // Back in front of anything written meanwhile: nothing lost, order kept. With a journal the
      // whole batch goes back (the buffer stays contiguous in sequence numbers): the objects that
      // were stored are written again under the same keys, with the same records and more.
      const back = journal ? lines.map((_, i) => i) : failed.sort((a, b) => a - b);
      this.#lines = [...back.map((i) => lines[i] as string), ...this.#lines];
      this.#prefixes = [...back.map((i) => prefixes[i] as string), ...this.#prefixes];
      if (journal) this.#firstSeq = firstSeq;
      this.#options.onError?.(lastError);
      throw lastError;
    }
    await journal?.release(firstSeq + lines.length);
  }

  async #put(key: string, body: string): Promise<void> {
    const attempts = this.#options.attempts ?? 5;
    let delay = this.#options.backoffMs ?? 50;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#options.client.send(
          new PutObjectCommand({
            Bucket: this.#options.bucket,
            Key: key,
            Body: body,
            ContentType: 'application/x-ndjson',
          }),
        );
        return;
      } catch (error) {
        if (attempt >= attempts) throw error;
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay *= 2;
      }
    }
  }

  /** Stops the timer and flushes; rejects if records could not be written. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }
}
