/**
 * The AWS data stores every root builds alike (the registry table, the lineage bucket), and the
 * memoising getter the roots build their ports with. Its own module so that the inference
 * function's root can use it without `aws.ts` and the clients that one brings.
 */
import { DynamoLedgerStore } from '../adapters/aws/ledger-store.ts';
import { DynamoRegistryStore } from '../adapters/aws/registry-store.ts';
import { S3BlobStore } from '../adapters/aws/s3-blob-store.ts';
import { documentClient, s3Client } from '../commons/clients.ts';
import { requireEnv } from '../commons/helpers/env.ts';
import { RESOURCE_ENV } from '../contracts/resources.ts';

/** The registry on the table named by `KEEL_TABLE_NAME`. */
export const awsRegistryStore = (env: NodeJS.ProcessEnv) =>
  new DynamoRegistryStore(documentClient(), requireEnv(RESOURCE_ENV.table, env));

/** The privacy budget ledgers, in the table named by `KEEL_TABLE_NAME`. */
export const awsLedgerStore = (env: NodeJS.ProcessEnv) =>
  new DynamoLedgerStore(documentClient(), requireEnv(RESOURCE_ENV.table, env));

/** The lineage bucket named by `KEEL_LINEAGE_BUCKET`. */
export const awsLineageBlobs = (env: NodeJS.ProcessEnv) =>
  new S3BlobStore(s3Client(), requireEnv(RESOURCE_ENV.lineageBucket, env));

/**
 * Builds each value once, on first use: a function then needs only the environment variables
 * of the ports it uses, and constructs no client it does not.
 */
export function lazily(): <T>(key: string, build: () => T) => T {
  const cache = new Map<string, unknown>();
  return <T>(key: string, build: () => T): T => {
    if (!cache.has(key)) cache.set(key, build());
    return cache.get(key) as T;
  };
}
