import {
  HeadObjectCommand,
  NotFound,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { S3BlobStore } from '../../functions/adapters/aws/s3-blob-store.ts';
import { canonicalJson } from '../../functions/kernel/canonical-json.ts';
import { ValidationError } from '../../functions/kernel/errors.ts';
import { LineageStore } from '../../functions/lineage/store.ts';

const s3 = mockClient(S3Client);
afterEach(() => s3.reset());

describe('canonicalJson', () => {
  it('sorts keys at every level and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: undefined } })).toBe(
      '{"a":{"d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY])('refuses %d, which JSON cannot carry', (value) => {
    expect(() => canonicalJson({ x: value })).toThrow('cannot represent');
  });
});

describe('S3BlobStore', () => {
  it('writes with If-None-Match so S3 never replaces an object', async () => {
    s3.on(PutObjectCommand).resolves({});
    const store = new S3BlobStore(new S3Client({}), 'lineage');
    await expect(
      store.putIfAbsent('k', new Uint8Array([1]), { contentType: 'x', metadata: { sha256: 'h' } }),
    ).resolves.toBe('created');
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, {
      Bucket: 'lineage',
      Key: 'k',
      IfNoneMatch: '*',
      Metadata: { sha256: 'h' },
    });
  });

  it('reports an existing object when S3 answers 412', async () => {
    s3.on(PutObjectCommand).rejects(
      new S3ServiceException({
        name: 'PreconditionFailed',
        $fault: 'client',
        $metadata: { httpStatusCode: 412 },
        message: 'exists',
      }),
    );
    const store = new S3BlobStore(new S3Client({}), 'lineage');
    await expect(
      store.putIfAbsent('k', new Uint8Array([1]), { contentType: 'x', metadata: {} }),
    ).resolves.toBe('exists');
  });

  it('treats a missing object as absent and propagates other errors', async () => {
    s3.on(HeadObjectCommand, { Key: 'missing' }).rejects(new NotFound({ message: 'nf', $metadata: {} }));
    s3.on(HeadObjectCommand, { Key: 'denied' }).rejects(
      new S3ServiceException({
        name: 'AccessDenied',
        $fault: 'client',
        $metadata: { httpStatusCode: 403 },
        message: 'no',
      }),
    );
    const store = new S3BlobStore(new S3Client({}), 'lineage');
    await expect(store.head('missing')).resolves.toBeUndefined();
    await expect(store.head('denied')).rejects.toMatchObject({ name: 'AccessDenied' });
  });
});

describe('LineageStore keys', () => {
  const lineage = new LineageStore(new S3BlobStore(new S3Client({}), 'lineage'));
  const sha = 'ab'.repeat(32);

  it('derives the key from kind and hash', () => {
    expect(lineage.keyFor('models', sha)).toBe(`models/sha256/ab/${sha}`);
  });

  it.each([
    ['models', 'not-a-hash'],
    ['weights', sha],
  ])('refuses kind %s with hash %s', (kind, hash) => {
    expect(() => lineage.keyFor(kind as never, hash)).toThrow(ValidationError);
  });

  it('parses its own URIs back into refs and ignores foreign ones', () => {
    expect(lineage.refOf(`s3://lineage/models/sha256/ab/${sha}`)).toEqual({ kind: 'models', sha256: sha });
    expect(lineage.refOf(`s3://other/models/sha256/ab/${sha}`)).toBeUndefined();
    expect(lineage.refOf('s3://lineage/models/latest.onnx')).toBeUndefined();
  });
});
