import { PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CAPTURE_MARKER,
  LogCaptureSink,
  S3CaptureSink,
} from '../../functions/commons/adapters/aws/capture.ts';
import { type CaptureRecord, capturePrefix } from '../../functions/inference/capture.ts';

const s3 = mockClient(S3Client);

afterEach(() => {
  s3.reset();
});

const record = (id: string, timestamp = '2026-11-26T17:05:00.000Z', model = 'credit'): CaptureRecord => ({
  type: 'prediction',
  prediction_id: id,
  timestamp,
  model,
  model_version: '3',
  served_by: 'primary',
  inputs: { income: 1 },
  outputs: { probability: 0.2, label: 0 },
  latency_ms: 1,
});

const throttled = () =>
  new S3ServiceException({ name: 'SlowDown', $fault: 'server', $metadata: {}, message: 'slow down' });

describe('capturePrefix', () => {
  it('partitions by type, model, UTC date and hour', () => {
    expect(capturePrefix(record('a', '2026-01-02T03:04:05.000Z'))).toBe(
      'capture/prediction/model=credit/date=2026-01-02/hour=03/',
    );
  });
});

describe('LogCaptureSink', () => {
  it('writes one marked JSON line per record', () => {
    // Prepare
    const lines: string[] = [];
    const sink = new LogCaptureSink((line) => lines.push(line));

    // Act
    sink.write([record('a'), record('b')]);

    // Assess
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ [CAPTURE_MARKER]: 1, prediction_id: 'a' });
    expect(lines[1]?.endsWith('\n')).toBe(true);
  });
});

describe('S3CaptureSink', () => {
  it('writes one JSON-lines object per partition', async () => {
    // Prepare
    s3.on(PutObjectCommand).resolves({});
    const sink = new S3CaptureSink({ client: new S3Client({}), bucket: 'b', intervalMs: 0 });

    // Act
    sink.write([
      record('a'),
      record('b'),
      record('c', '2026-11-26T18:00:00.000Z'),
      record('d', undefined, 'other'),
    ]);
    await sink.close();

    // Assess
    const puts = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts).toHaveLength(3);
    const first = puts.find((p) =>
      p.Key?.startsWith('capture/prediction/model=credit/date=2026-11-26/hour=17/'),
    );
    expect(
      String(first?.Body)
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).prediction_id),
    ).toEqual(['a', 'b']);
    expect(sink.pending).toBe(0);
  });

  it('retries a throttled put with backoff', async () => {
    // Prepare
    s3.on(PutObjectCommand).rejectsOnce(throttled()).rejectsOnce(throttled()).resolves({});
    const sink = new S3CaptureSink({ client: new S3Client({}), bucket: 'b', intervalMs: 0, backoffMs: 1 });

    // Act
    sink.write([record('a')]);
    await sink.flush();

    // Assess
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(3);
    expect(sink.objects).toBe(1);
  });

  it('keeps the records when every attempt fails, and writes them on the next flush', async () => {
    // Prepare
    s3.on(PutObjectCommand).rejects(throttled());
    const errors: unknown[] = [];
    const sink = new S3CaptureSink({
      client: new S3Client({}),
      bucket: 'b',
      intervalMs: 0,
      attempts: 2,
      backoffMs: 1,
      onError: (e) => errors.push(e),
    });
    sink.write([record('a'), record('b')]);

    // Act
    await expect(sink.flush()).rejects.toBeInstanceOf(S3ServiceException);
    sink.write([record('c')]);
    s3.reset();
    s3.on(PutObjectCommand).resolves({});
    await sink.close();

    // Assess: nothing lost, order kept.
    expect(errors).toHaveLength(1);
    const bodies = s3.commandCalls(PutObjectCommand).map((c) => String(c.args[0].input.Body));
    expect(
      bodies
        .join('')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).prediction_id),
    ).toEqual(['a', 'b', 'c']);
    expect(sink.pending).toBe(0);
  });

  it('flushes on its own once enough records wait', async () => {
    // Prepare
    s3.on(PutObjectCommand).resolves({});
    const sink = new S3CaptureSink({ client: new S3Client({}), bucket: 'b', intervalMs: 0, maxRecords: 3 });

    // Act
    sink.write([record('a'), record('b'), record('c')]);
    await sink.flush();

    // Assess
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(1);
    await sink.close();
  });
});
