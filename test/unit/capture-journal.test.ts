import { appendFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { S3CaptureSink } from '../../functions/adapters/aws/capture.ts';
import type { CaptureRecord } from '../../functions/contracts/capture.ts';
import { FileCaptureJournal } from '../../local/capture-journal.ts';

const s3 = mockClient(S3Client);
const dirs: string[] = [];

afterEach(async () => {
  s3.reset();
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** A record as the sink hands it to the journal: its JSON. */
const line = (id: string): string => JSON.stringify(record(id));

const record = (id: string): CaptureRecord => ({
  type: 'prediction',
  prediction_id: id,
  timestamp: '2026-12-01T10:05:00.000Z',
  model: 'credit',
  model_version: '1',
  served_by: 'primary',
  inputs: { income: 1 },
  outputs: { probability: 0.2, label: 0 },
  latency_ms: 1,
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'keel-journal-'));
  dirs.push(dir);
  return dir;
}

/** The records each put stored, by key, in put order. */
const stored = () =>
  s3.commandCalls(PutObjectCommand).map((c) => ({
    key: c.args[0].input.Key as string,
    ids: String(c.args[0].input.Body)
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as CaptureRecord).prediction_id),
  }));

describe('FileCaptureJournal', () => {
  it.each(['fsync', 'write'] as const)(
    'replays what was appended and made durable (%s), in order',
    async (durability) => {
      // Prepare
      const dir = await tempDir();
      const journal = await FileCaptureJournal.open(dir, { durability });

      // Act: append from several "requests" at once; each waits for its group commit.
      await Promise.all(
        Array.from({ length: 50 }, (_, i) => {
          journal.append([line(`p${i}`)]);
          return journal.durable();
        }),
      );
      // A killed process closes nothing: open the same directory again.
      const reopened = await FileCaptureJournal.open(dir);

      // Assess
      expect(reopened.replay.map((r) => r.record.prediction_id)).toEqual(
        Array.from({ length: 50 }, (_, i) => `p${i}`),
      );
      expect(reopened.replay.map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect(reopened.id).toBe(journal.id);
      expect(reopened.append([line('next')])).toBe(50);
    },
  );

  it('commits in groups: waiters that arrive during a write share the next one', async () => {
    // Prepare
    const dir = await tempDir();
    const journal = await FileCaptureJournal.open(dir);

    // Act: 200 requests, each appending and waiting, without yielding in between.
    const waits: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      journal.append([line(`p${i}`)]);
      waits.push(journal.durable());
    }
    await Promise.all(waits);

    // Assess: the first write carries p0; the second, everything queued while it was on disk.
    expect(journal.commits).toBe(2);
    expect((await FileCaptureJournal.open(dir)).replay).toHaveLength(200);
  });

  it('skips a line torn by a kill, and keeps the ones before it', async () => {
    // Prepare
    const dir = await tempDir();
    const journal = await FileCaptureJournal.open(dir);
    journal.append([line('a'), line('b')]);
    await journal.durable();
    const [segment] = (await readdir(dir)).filter((n) => n.endsWith('.log'));
    await appendFile(join(dir, segment as string), '{"s":2,"r":{"type":"predic');

    // Act
    const reopened = await FileCaptureJournal.open(dir);

    // Assess
    expect(reopened.replay.map((r) => r.record.prediction_id)).toEqual(['a', 'b']);
    expect(reopened.append([line('c')])).toBe(2);
  });

  it('forgets what is released, and deletes closed segments wholly below it', async () => {
    // Prepare: two runs, so the first run's segment is closed.
    const dir = await tempDir();
    const first = await FileCaptureJournal.open(dir);
    first.append([line('a'), line('b')]);
    await first.durable();
    await first.close();
    const second = await FileCaptureJournal.open(dir);
    second.append([line('c')]);
    await second.durable();

    // Act
    await second.release(2);
    const reopened = await FileCaptureJournal.open(dir);

    // Assess
    expect(reopened.replay.map((r) => r.record.prediction_id)).toEqual(['c']);
    expect((await readdir(dir)).filter((n) => n.endsWith('.log'))).toEqual(['000000000002.log']);
  });
});

describe('S3CaptureSink with a journal', () => {
  it('stores what a killed process journaled, under keys a replay rewrites rather than duplicates', async () => {
    // Prepare: a run that journaled 3 records, stored one partition's object, and was killed
    // before its flush finished (the second put failed), so nothing was released.
    const dir = await tempDir();
    const journal = await FileCaptureJournal.open(dir);
    s3.on(PutObjectCommand)
      .resolvesOnce({})
      .rejects(
        new S3ServiceException({ name: 'SlowDown', $fault: 'server', $metadata: {}, message: 'slow down' }),
      );
    const sink = new S3CaptureSink({
      client: new S3Client({}),
      bucket: 'b',
      intervalMs: 0,
      attempts: 1,
      journal,
    });
    sink.write([record('a'), { ...record('b'), model: 'other' }, record('c')]);
    await journal.durable();
    await sink.flush().catch(() => {});
    const firstRun = stored();
    s3.reset();
    s3.on(PutObjectCommand).resolves({});

    // Act: the next start replays the journal into a new sink and flushes.
    const reopened = await FileCaptureJournal.open(dir);
    const next = new S3CaptureSink({
      client: new S3Client({}),
      bucket: 'b',
      intervalMs: 0,
      journal: reopened,
      replay: reopened.replay,
    });
    next.write([record('d')]);
    await next.flush();
    const afterRestart = await FileCaptureJournal.open(dir);

    // Assess: the object stored before the kill is rewritten under its own key with the same
    // records and the new one; the other partition is stored once; nothing remains to replay.
    expect(firstRun).toHaveLength(2);
    const again = stored();
    const credit = again.find((o) => o.key.includes('model=credit'));
    expect(credit?.key).toBe(firstRun[0]?.key);
    expect(credit?.ids).toEqual(['a', 'c', 'd']);
    expect(again.find((o) => o.key.includes('model=other'))?.ids).toEqual(['b']);
    expect(afterRestart.replay).toEqual([]);
  });
});
