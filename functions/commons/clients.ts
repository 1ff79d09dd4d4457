/**
 * The one place where AWS SDK v3 clients are created.
 *
 * Every client is a lazily created module-level singleton, so a warm Lambda reuses its
 * connections and the local runtime can set emulator endpoints before first use.
 *
 * Endpoints follow the SDK's own convention: `AWS_ENDPOINT_URL_<SERVICE>` wins over
 * `AWS_ENDPOINT_URL`, and `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` disables both. When an
 * endpoint is configured the target is an emulator (embedded, moto_server or LocalStack), so
 * S3 uses path-style addressing and checksums only where required: emulators store streamed
 * bodies with their aws-chunked framing otherwise, corrupting them.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CodeDeployClient } from '@aws-sdk/client-codedeploy';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { tracer } from './powertools.ts';

/** The service keys used in `AWS_ENDPOINT_URL_<SERVICE>`, as the SDK defines them. */
export const SERVICE_ENDPOINT_KEYS = {
  dynamodb: 'DYNAMODB',
  s3: 'S3',
  lambda: 'LAMBDA',
  sfn: 'SFN',
  cloudwatch: 'CLOUDWATCH',
  eventbridge: 'EVENTBRIDGE',
  sagemakerRuntime: 'SAGEMAKER_RUNTIME',
  codedeploy: 'CODEDEPLOY',
} as const;

export type ServiceName = keyof typeof SERVICE_ENDPOINT_KEYS;

/** Region used against an emulator when none is configured; emulators accept any region. */
const EMULATOR_DEFAULT_REGION = 'us-east-1';

/**
 * The endpoint a service's client must use, or `undefined` for the SDK's regional default.
 */
export function endpointFor(service: ServiceName, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS?.toLowerCase() === 'true') return undefined;
  const specific = env[`AWS_ENDPOINT_URL_${SERVICE_ENDPOINT_KEYS[service]}`];
  if (specific) return specific;
  return env.AWS_ENDPOINT_URL || undefined;
}

/** Client configuration for a service, derived only from the environment. */
export function clientConfig(service: ServiceName, env: NodeJS.ProcessEnv = process.env) {
  const endpoint = endpointFor(service, env);
  if (endpoint === undefined) return {};
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || EMULATOR_DEFAULT_REGION;
  const base = { endpoint, region };
  if (service !== 's3') return base;
  return {
    ...base,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  } as const;
}

const instances = new Map<string, { destroy(): void }>();

function singleton<T extends { destroy(): void }>(key: string, create: () => T): T {
  let client = instances.get(key) as T | undefined;
  if (client === undefined) {
    client = create();
    instances.set(key, client);
  }
  return client;
}

/** Instruments a client for X-Ray; a no-op outside Lambda, where the tracer is disabled. */
function traced<T>(client: T): T {
  return tracer.captureAWSv3Client(client);
}

export const dynamoDbClient = (): DynamoDBClient =>
  singleton('dynamodb', () => traced(new DynamoDBClient(clientConfig('dynamodb'))));

/** Document client over {@link dynamoDbClient}; drops `undefined` attributes instead of failing. */
export const documentClient = (): DynamoDBDocumentClient =>
  singleton('dynamodb-document', () =>
    DynamoDBDocumentClient.from(dynamoDbClient(), {
      marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    }),
  );

export const s3Client = (): S3Client => singleton('s3', () => traced(new S3Client(clientConfig('s3'))));

export const lambdaClient = (): LambdaClient =>
  singleton('lambda', () => traced(new LambdaClient(clientConfig('lambda'))));

export const sfnClient = (): SFNClient => singleton('sfn', () => traced(new SFNClient(clientConfig('sfn'))));

export const cloudWatchClient = (): CloudWatchClient =>
  singleton('cloudwatch', () => traced(new CloudWatchClient(clientConfig('cloudwatch'))));

export const eventBridgeClient = (): EventBridgeClient =>
  singleton('eventbridge', () => traced(new EventBridgeClient(clientConfig('eventbridge'))));

export const sageMakerRuntimeClient = (): SageMakerRuntimeClient =>
  singleton('sagemaker-runtime', () => traced(new SageMakerRuntimeClient(clientConfig('sagemakerRuntime'))));

export const codeDeployClient = (): CodeDeployClient =>
  singleton('codedeploy', () => traced(new CodeDeployClient(clientConfig('codedeploy'))));

/**
 * Destroys every client so the next call creates it again from the current environment.
 * Used when the local runtime re-points the environment, and between tests.
 */
export function resetClients(): void {
  for (const client of instances.values()) client.destroy();
  instances.clear();
}
