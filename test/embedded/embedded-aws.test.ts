import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  paginateListObjectsV2,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { clientConfig } from '../../functions/commons/clients.ts';
import { EmbeddedAws } from '../../local/embedded-aws.ts';
import { isListening, liveNetworkHandles } from '../support/net.ts';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Clients built exactly as the factory builds them, for this emulator's environment. */
function clientsFor(aws: EmbeddedAws) {
  const env = aws.env();
  const credentials = {
    accessKeyId: env.AWS_ACCESS_KEY_ID as string,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY as string,
  };
  return {
    dynamo: new DynamoDBClient({ ...clientConfig('dynamodb', env), credentials }),
    s3: new S3Client({ ...clientConfig('s3', env), credentials }),
  };
}

describe('EmbeddedAws', () => {
  it('listens on ephemeral loopback ports and releases them on stop', async () => {
    // Prepare
    const before = liveNetworkHandles();
    const aws = await EmbeddedAws.start();
    const { dynamo, s3 } = clientsFor(aws);

    // Act: use both so keep-alive sockets exist when stopping.
    await dynamo.send(
      new CreateTableCommand({
        TableName: 'lifecycle',
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }),
    );
    await s3.send(new CreateBucketCommand({ Bucket: 'lifecycle' }));
    expect(new URL(aws.endpoints.dynamodb).hostname).toBe('127.0.0.1');
    expect(await isListening(aws.endpoints.dynamodb)).toBe(true);
    expect(await isListening(aws.endpoints.s3)).toBe(true);
    dynamo.destroy();
    s3.destroy();
    await aws.stop();
    await aws.stop();

    // Assess
    expect(await isListening(aws.endpoints.dynamodb)).toBe(false);
    expect(await isListening(aws.endpoints.s3)).toBe(false);
    await expect.poll(() => liveNetworkHandles(), { timeout: 2000 }).toBeLessThanOrEqual(before);
  });

  it('gives concurrent instances distinct ports', async () => {
    const [a, b] = await Promise.all([EmbeddedAws.start(), EmbeddedAws.start()]);
    try {
      expect(a?.endpoints.dynamodb).not.toBe(b?.endpoints.dynamodb);
      expect(a?.endpoints.s3).not.toBe(b?.endpoints.s3);
    } finally {
      await Promise.all([a?.stop(), b?.stop()]);
    }
  });

  it('persists DynamoDB and S3 state across restarts in the state directory', async () => {
    // Prepare
    const stateDir = await mkdtemp(join(tmpdir(), 'keel-persist-'));
    dirs.push(stateDir);
    const first = await EmbeddedAws.start({ stateDir });
    let clients = clientsFor(first);
    await clients.dynamo.send(
      new CreateTableCommand({
        TableName: 'persisted',
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }),
    );
    // dynalite flips a new table to ACTIVE asynchronously; under load a put can arrive first.
    await waitUntilTableExists(
      { client: clients.dynamo, maxWaitTime: 10, minDelay: 0.1 },
      { TableName: 'persisted' },
    );
    await clients.dynamo.send(
      new PutItemCommand({ TableName: 'persisted', Item: { pk: { S: 'a' }, v: { N: '1' } } }),
    );
    await clients.s3.send(new CreateBucketCommand({ Bucket: 'persisted' }));
    await clients.s3.send(new PutObjectCommand({ Bucket: 'persisted', Key: 'k', Body: 'kept' }));
    clients.dynamo.destroy();
    clients.s3.destroy();
    await first.stop();

    // Act
    const second = await EmbeddedAws.start({ stateDir });
    clients = clientsFor(second);
    try {
      const item = await clients.dynamo.send(
        new GetItemCommand({ TableName: 'persisted', Key: { pk: { S: 'a' } } }),
      );
      const object = await clients.s3.send(new GetObjectCommand({ Bucket: 'persisted', Key: 'k' }));

      // Assess
      expect(item.Item?.v).toEqual({ N: '1' });
      expect(await object.Body?.transformToString()).toBe('kept');
    } finally {
      clients.dynamo.destroy();
      clients.s3.destroy();
      await second.stop();
    }
  });

  it('pages a listing past 1,000 objects under one prefix, as S3 does', async () => {
    // Prepare: s3rver 3.7.1 DES-encrypted its continuation token, which OpenSSL 3 refuses: every
    // second page was a 500 (patches/s3rver+3.7.1.patch).
    const aws = await EmbeddedAws.start();
    const { s3 } = clientsFor(aws);
    try {
      await s3.send(new CreateBucketCommand({ Bucket: 'paged' }));
      const keys = Array.from(
        { length: 2_345 },
        (_, i) => `capture/hour=01/${String(i).padStart(5, '0')}.jsonl`,
      );
      for (let i = 0; i < keys.length; i += 50) {
        await Promise.all(
          keys
            .slice(i, i + 50)
            .map((Key) => s3.send(new PutObjectCommand({ Bucket: 'paged', Key, Body: 'x' }))),
        );
      }

      // Act
      const listed: string[] = [];
      let pages = 0;
      for await (const page of paginateListObjectsV2(
        { client: s3, pageSize: 1000 },
        { Bucket: 'paged', Prefix: 'capture/hour=01/' },
      )) {
        pages++;
        for (const object of page.Contents ?? []) listed.push(object.Key as string);
      }

      // Assess
      expect(pages).toBe(3);
      expect(listed).toEqual(keys);
    } finally {
      s3.destroy();
      await aws.stop();
    }
  }, 120_000);
});
