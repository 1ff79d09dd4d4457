/**
 * Creates Keel's data resources on an AWS-compatible endpoint (embedded emulators, moto_server
 * or LocalStack) through the SDK, with the same shapes the CDK data stack deploys. Idempotent.
 */
import {
  BillingMode,
  CreateTableCommand,
  ResourceInUseException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { BucketAlreadyExists, BucketAlreadyOwnedByYou, CreateBucketCommand } from '@aws-sdk/client-s3';
import { dynamoDbClient, s3Client } from '../functions/commons/clients.ts';
import { TABLE_SCHEMA } from '../functions/contracts/resources.ts';

export async function ensureTable(tableName: string): Promise<void> {
  const { partitionKey, sortKey, indexes } = TABLE_SCHEMA;
  const attributes = new Set<string>([
    partitionKey,
    sortKey,
    ...indexes.flatMap((i) => [i.partitionKey, i.sortKey]),
  ]);
  try {
    await dynamoDbClient().send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: BillingMode.PAY_PER_REQUEST,
        AttributeDefinitions: [...attributes].map((name) => ({ AttributeName: name, AttributeType: 'S' })),
        KeySchema: [
          { AttributeName: partitionKey, KeyType: 'HASH' },
          { AttributeName: sortKey, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: indexes.map((index) => ({
          IndexName: index.name,
          KeySchema: [
            { AttributeName: index.partitionKey, KeyType: 'HASH' },
            { AttributeName: index.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        })),
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  await waitUntilTableExists(
    { client: dynamoDbClient(), maxWaitTime: 30, minDelay: 1 },
    { TableName: tableName },
  );
}

export async function ensureBucket(bucket: string): Promise<void> {
  try {
    await s3Client().send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (error) {
    if (error instanceof BucketAlreadyOwnedByYou || error instanceof BucketAlreadyExists) return;
    throw error;
  }
}

/** Creates the registry table and the lineage, capture and federated buckets. */
export async function provision(names: {
  table: string;
  lineageBucket: string;
  captureBucket: string;
  federatedBucket: string;
}): Promise<void> {
  await Promise.all([
    ensureTable(names.table),
    ensureBucket(names.lineageBucket),
    ensureBucket(names.captureBucket),
    ensureBucket(names.federatedBucket),
  ]);
}
