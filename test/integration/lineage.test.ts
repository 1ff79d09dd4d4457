import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { S3BlobStore } from '../../functions/adapters/aws/s3-blob-store.ts';
import { s3Client } from '../../functions/commons/clients.ts';
import { IntegrityError } from '../../functions/kernel/errors.ts';
import { LineageStore, sha256Hex } from '../../functions/lineage/store.ts';
import type { BlobStore } from '../../functions/ports/blob-store.ts';
import { ensureBucket } from '../../local/provision.ts';

const bucket = `lineage-it-${randomUUID().slice(0, 8)}`;
let dir: string;

/** Counts writes reaching the bucket, to show that rewrites are no-ops. */
function counting(blobs: BlobStore) {
  const counts = { puts: 0 };
  const wrapped: BlobStore = {
    head: (k) => blobs.head(k),
    putIfAbsent: (...a) => {
      counts.puts++;
      return blobs.putIfAbsent(...a);
    },
    putFile: (...a) => {
      counts.puts++;
      return blobs.putFile(...a);
    },
    get: (k) => blobs.get(k),
    getStream: (k) => blobs.getStream(k),
    uri: (k) => blobs.uri(k),
    keyOf: (u) => blobs.keyOf(u),
  };
  return { wrapped, counts };
}

beforeAll(async () => {
  await ensureBucket(bucket);
  dir = await mkdtemp(join(tmpdir(), 'keel-lineage-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe(`LineageStore on S3 (${inject('awsTier')} tier)`, () => {
  it('stores content under its SHA-256 and makes a rewrite a no-op', async () => {
    // Prepare
    const { wrapped, counts } = counting(new S3BlobStore(s3Client(), bucket));
    const lineage = new LineageStore(wrapped);
    const bytes = new TextEncoder().encode('model weights v1');

    // Act
    const first = await lineage.putBytes('models', bytes);
    const again = await lineage.putBytes('models', bytes);

    // Assess
    expect(first.sha256).toBe(sha256Hex(bytes));
    expect(first.uri).toBe(`s3://${bucket}/models/sha256/${first.sha256.slice(0, 2)}/${first.sha256}`);
    expect(again).toEqual(first);
    expect(counts.puts).toBe(1);
    expect(new TextDecoder().decode(await lineage.getBytes(first))).toBe('model weights v1');
  });

  it('gives equal JSON values one address whatever their key order', async () => {
    const lineage = new LineageStore(new S3BlobStore(s3Client(), bucket));
    const a = await lineage.putJson('evaluations', { auc: 0.8, groups: { a: 1, b: 2 } });
    const b = await lineage.putJson('evaluations', { groups: { b: 2, a: 1 }, auc: 0.8 });
    expect(b.sha256).toBe(a.sha256);
    expect(await lineage.getJson(a)).toEqual({ auc: 0.8, groups: { a: 1, b: 2 } });
  });

  it('streams a file in and out, verifying it', async () => {
    // Prepare: larger than one multipart part.
    const source = join(dir, 'dataset.csv');
    const content = Buffer.alloc(6 * 1024 * 1024, 'a,b,c\n1,2,3\n');
    await writeFile(source, content);
    const lineage = new LineageStore(new S3BlobStore(s3Client(), bucket));

    // Act
    const ref = await lineage.putFile('datasets', source, { contentType: 'text/csv' });
    const copy = join(dir, 'copy.csv');
    await lineage.downloadFile(ref, copy);

    // Assess
    expect(ref.sizeBytes).toBe(content.length);
    expect((await readFile(copy)).equals(content)).toBe(true);
  });

  it('refuses a tampered artifact: one flipped byte and it is never used', async () => {
    // Prepare
    const lineage = new LineageStore(new S3BlobStore(s3Client(), bucket));
    const bytes = new TextEncoder().encode('{"weights":[0.1,0.2,0.3]}');
    const ref = await lineage.putBytes('models', bytes);
    const tampered = Buffer.from(bytes);
    tampered[5] = (tampered[5] as number) ^ 0x01;
    // Overwrite behind Keel's back, as someone with raw bucket access could.
    await s3Client().send(
      new PutObjectCommand({ Bucket: bucket, Key: lineage.keyFor('models', ref.sha256), Body: tampered }),
    );

    // Act / Assess
    await expect(lineage.getBytes(ref)).rejects.toBeInstanceOf(IntegrityError);
    const destination = join(dir, 'model.onnx');
    await expect(lineage.downloadFile(ref, destination)).rejects.toBeInstanceOf(IntegrityError);
    expect(existsSync(destination)).toBe(false);
    expect(existsSync(`${destination}.partial`)).toBe(false);
  });
});
