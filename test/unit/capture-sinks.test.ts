import { spawnSync } from 'node:child_process';
import { PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { LogCaptureSink, S3CaptureSink } from '../../functions/adapters/aws/capture.ts';
import {
  CAPTURE_MARKER,
  CAPTURE_PARTITION_QUERY,
  type CaptureRecord,
  capturePrefix,
} from '../../functions/contracts/capture.ts';

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

describe("Firehose's partitioning of capture lines (jq 1.6, the engine the stream names)", () => {
  const jq = (line: string) =>
    spawnSync('jq', ['-c', CAPTURE_PARTITION_QUERY], { input: line, encoding: 'utf8' });

  it.each([
    ['a prediction', record('p1', '2026-01-02T03:04:05.000Z')],
    [
      'an outcome',
      {
        type: 'feedback',
        prediction_id: 'p1',
        model: 'credit',
        outcome: 1,
        observed_at: '2026-01-02T23:59:59.000Z',
        timestamp: '2026-01-02T23:59:59.999Z',
      } as CaptureRecord,
    ],
  ])('keys %s as the local runtime partitions it', (_, r) => {
    // Prepare: the line as Lambda logs it.
    const lines: string[] = [];
    new LogCaptureSink((line) => lines.push(line)).write([r]);

    // Act
    const result = jq(lines[0] as string);

    // Assess
    expect(result.status, result.stderr).toBe(0);
    const keys = JSON.parse(result.stdout) as { type: string; model: string; date: string; hour: string };
    expect(`capture/${keys.type}/model=${keys.model}/date=${keys.date}/hour=${keys.hour}/`).toBe(
      capturePrefix(r),
    );
  });

  it('cannot key a torn line, which Firehose then writes under capture-errors/', () => {
    const lines: string[] = [];
    new LogCaptureSink((line) => lines.push(line)).write([record('p1')]);
    const torn = (lines[0] as string).slice(0, 40);
    expect(jq(torn).status).not.toBe(0);
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
