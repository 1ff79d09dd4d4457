/**
 * Capture records read back from S3 (see {@link S3CaptureReader}).
 */
import { GetObjectCommand, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import {
  type CaptureRecord,
  type CaptureWindow,
  type FeedbackRecord,
  type PredictionRecord,
  parseCaptureLines,
  partitionOverlaps,
} from '../../contracts/capture.ts';
import type { CapturedRecords, CapturePartitions, CaptureReader } from '../../ports/capture.ts';

const DAY_MS = 86_400_000;

function days(from: Date, to: Date): string[] {
  const out: string[] = [];
  const start = Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate());
  for (let t = start; t <= to.getTime(); t += DAY_MS) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

async function keysUnder(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: prefix }))
    for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
  return keys;
}

/**
 * Reads captured predictions and outcomes back from the capture bucket, where Firehose (AWS)
 * or the local capture sink put them as JSON lines under
 * `capture/<type>/model=<m>/date=<yyyy-mm-dd>/hour=<hh>/`. Only the days in the window are listed.
 */
export class S3CaptureReader implements CaptureReader, CapturePartitions {
  readonly #s3: S3Client;
  readonly #bucket: string;

  constructor(s3: S3Client, bucket: string) {
    this.#s3 = s3;
    this.#bucket = bucket;
  }

  read(model: string, window: CaptureWindow): Promise<CapturedRecords> {
    return readCaptured(this.#s3, this.#bucket, model, window);
  }

  readFile(key: string): Promise<Record<string, unknown>[]> {
    return readObject(this.#s3, this.#bucket, key);
  }

  async files(model: string, type: CaptureRecord['type'], window: CaptureWindow): Promise<string[]> {
    const prefixes = days(window.from, window.to).map((d) => `capture/${type}/model=${model}/date=${d}/`);
    const keys = (await Promise.all(prefixes.map((p) => keysUnder(this.#s3, this.#bucket, p)))).flat();
    return keys.filter((key) => partitionOverlaps(key, window)).sort();
  }
}

async function readObject(s3: S3Client, bucket: string, key: string): Promise<Record<string, unknown>[]> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return parseCaptureLines((await object.Body?.transformToString('utf8')) ?? '');
}

async function readCaptured(
  s3: S3Client,
  bucket: string,
  model: string,
  window: CaptureWindow,
): Promise<CapturedRecords> {
  const read = async (type: 'prediction' | 'feedback') => {
    const prefixes = days(window.from, window.to).map((d) => `capture/${type}/model=${model}/date=${d}/`);
    const keys = (await Promise.all(prefixes.map((p) => keysUnder(s3, bucket, p)))).flat();
    const records: Record<string, unknown>[] = [];
    for (const key of keys) records.push(...(await readObject(s3, bucket, key)));
    const from = window.from.toISOString();
    const to = window.to.toISOString();
    return records.filter((r) => typeof r.timestamp === 'string' && r.timestamp >= from && r.timestamp <= to);
  };
  const [predictions, feedback] = await Promise.all([read('prediction'), read('feedback')]);
  return {
    predictions: predictions as unknown as PredictionRecord[],
    feedback: feedback as unknown as FeedbackRecord[],
  };
}
