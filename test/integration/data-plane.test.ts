import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { ConditionalCheckFailedException, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, HeadBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { Upload } from '@aws-sdk/lib-storage';
import { describe, expect, inject, it } from 'vitest';
import { documentClient, dynamoDbClient, s3Client } from '../../functions/commons/clients.ts';
import { TABLE_SCHEMA } from '../../functions/contracts/resources.ts';
import { ensureBucket, ensureTable, provision } from '../../local/provision.ts';

/**
 * Runs unchanged on every tier (embedded emulators, moto_server, LocalStack): the one code path
 * to AWS is the client factory configured by endpoint variables.
 */
describe(`data plane through the client factory (${inject('awsTier')} tier)`, () => {
  const suffix = randomUUID().slice(0, 8);
  const names = {
    table: `it-${suffix}`,
    lineageBucket: `it-lineage-${suffix}`,
    captureBucket: `it-capture-${suffix}`,
    federatedBucket: `it-federated-${suffix}`,
  };

  it('provisions the table and buckets idempotently', async () => {
    // Act: provisioning twice must not fail.
    await provision(names);
    await provision(names);

    // Assess
    const table = await dynamoDbClient().send(new DescribeTableCommand({ TableName: names.table }));
    expect(table.Table?.KeySchema).toEqual([
      { AttributeName: TABLE_SCHEMA.partitionKey, KeyType: 'HASH' },
      { AttributeName: TABLE_SCHEMA.sortKey, KeyType: 'RANGE' },
    ]);
    expect(table.Table?.GlobalSecondaryIndexes?.map((i) => i.IndexName)).toEqual(['gsi1']);
    await expect(
      s3Client().send(new HeadBucketCommand({ Bucket: names.lineageBucket })),
    ).resolves.toBeDefined();
  });

  it('round-trips a streamed S3 body byte for byte', async () => {
    // Prepare: a body large enough for a multipart upload, sent as a stream.
    await ensureBucket(names.lineageBucket);
    const bytes = Buffer.alloc(6 * 1024 * 1024 + 123);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + 7) % 251;

    // Act
    await new Upload({
      client: s3Client(),
      params: { Bucket: names.lineageBucket, Key: 'stream.bin', Body: Readable.from([bytes]) },
      partSize: 5 * 1024 * 1024,
    }).done();
    await s3Client().send(
      new PutObjectCommand({
        Bucket: names.lineageBucket,
        Key: 'small.json',
        Body: Readable.from(['{"a":1}']),
        ContentLength: 7,
      }),
    );
    const big = await s3Client().send(
      new GetObjectCommand({ Bucket: names.lineageBucket, Key: 'stream.bin' }),
    );
    const small = await s3Client().send(
      new GetObjectCommand({ Bucket: names.lineageBucket, Key: 'small.json' }),
    );

    // Assess: no aws-chunked framing or checksum trailer leaked into the stored object.
    const stored = Buffer.from((await big.Body?.transformToByteArray()) ?? []);
    expect(stored.length).toBe(bytes.length);
    expect(stored.equals(bytes)).toBe(true);
    expect(await small.Body?.transformToString()).toBe('{"a":1}');
  });

  it('enforces conditional writes and queries the secondary index', async () => {
    // Prepare
    await ensureTable(names.table);
    const item = {
      pk: 'MODEL#credit',
      sk: 'VERSION#0001',
      gsi1pk: 'MODELS',
      gsi1sk: 'credit',
      owner: 'risk',
    };

    // Act
    await documentClient().send(
      new PutCommand({ TableName: names.table, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }),
    );
    const duplicate = documentClient().send(
      new PutCommand({
        TableName: names.table,
        Item: { ...item, owner: 'other' },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );

    // Assess
    await expect(duplicate).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    const stored = await documentClient().send(
      new GetCommand({ TableName: names.table, Key: { pk: item.pk, sk: item.sk } }),
    );
    expect(stored.Item?.owner).toBe('risk');
    const byIndex = await documentClient().send(
      new QueryCommand({
        TableName: names.table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :p',
        ExpressionAttributeValues: { ':p': 'MODELS' },
      }),
    );
    expect(byIndex.Items?.map((i) => i.gsi1sk)).toEqual(['credit']);
  });
});
