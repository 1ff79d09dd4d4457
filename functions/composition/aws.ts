/**
 * The AWS composition root: the one module that constructs AWS adapters.
 *
 * In Lambda, `ports()` lazily builds them from the environment the CDK wrapper sets. A runtime
 * that is not AWS (the local runtime, `local/runtime.ts`, the other root) calls
 * {@link installPorts} once at start-up with its own control-plane adapters. Nothing else
 * decides where a port goes, so there is no "am I local?" test anywhere in the code.
 */
import { z } from 'zod';
import { DynamoApprovalStore } from '../adapters/aws/approval-store.ts';
import { LogCaptureSink } from '../adapters/aws/capture.ts';
import { S3CaptureReader } from '../adapters/aws/capture-reader.ts';
import { CodeDeployDeployer } from '../adapters/aws/deployer.ts';
import { EventBridgeEventBus } from '../adapters/aws/event-bus.ts';
import { DynamoFederatedStore } from '../adapters/aws/federated-store.ts';
import { LambdaFunctionInvoker } from '../adapters/aws/function-invoker.ts';
import { CloudWatchAlarmMonitor, CloudWatchMetricsSink, EmfMetricsSink } from '../adapters/aws/metrics.ts';
import { StepFunctionsPipelineRunner } from '../adapters/aws/pipeline-runner.ts';
import { AwsRolloutPlatform } from '../adapters/aws/rollout.ts';
import { S3BlobStore } from '../adapters/aws/s3-blob-store.ts';
import { s3ObjectReader } from '../adapters/aws/s3-objects.ts';
import { SageMakerScorer } from '../adapters/aws/sagemaker-scorer.ts';
import { S3UrlSigner } from '../adapters/aws/url-signer.ts';
import {
  cloudWatchClient,
  codeDeployClient,
  documentClient,
  eventBridgeClient,
  lambdaClient,
  s3Client,
  sageMakerRuntimeClient,
  sfnClient,
} from '../commons/clients.ts';
import { requireEnv } from '../commons/helpers/env.ts';
import { PORT_ENV, RESOURCE_ENV } from '../contracts/resources.ts';
import { ConfigError } from '../kernel/errors.ts';
import type { LineageStore } from '../lineage/store.ts';
import type { DataPorts, EventBus, Ports } from '../ports/index.ts';
import type { PrivacyLedger } from '../registry/ledger.ts';
import type { ModelRegistry } from '../registry/registry.ts';
import { awsLedgerStore, awsLineageBlobs, awsRegistryStore, lazily } from './aws-stores.ts';
import { lineageOf, privacyLedgerOf, registryOf } from './services.ts';

const stateMachineArnsSchema = z.record(z.string(), z.string().startsWith('arn:'));
const deploymentGroupsSchema = z.record(
  z.string(),
  z.object({
    application: z.string().min(1),
    deploymentGroup: z.string().min(1),
    hooks: z
      .object({ beforeAllowTraffic: z.string().optional(), afterAllowTraffic: z.string().optional() })
      .optional(),
  }),
);

function jsonEnv<T>(env: NodeJS.ProcessEnv, name: string, schema: z.ZodType<T>, fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (cause) {
    throw new ConfigError(`${name} is not valid JSON`, [], { cause });
  }
  const result = schema.safeParse(parsed);
  if (!result.success) {
    throw ConfigError.fromZod(`${name} is invalid`, result.error);
  }
  return result.data;
}

/** Builds the AWS adapters. Each is created on first use, so a handler only needs the variables of the ports it uses. */
export function awsPorts(env: NodeJS.ProcessEnv = process.env): Ports {
  const lazy = lazily();
  return {
    get eventBus() {
      return lazy(
        'eventBus',
        () => new EventBridgeEventBus(eventBridgeClient(), env[PORT_ENV.eventBusName] || 'default'),
      );
    },
    get metricsSink() {
      // Inside Lambda, EMF log lines (no API call, no permission); elsewhere (the CLI) PutMetricData.
      return lazy('metricsSink', () =>
        env.AWS_LAMBDA_FUNCTION_NAME ? new EmfMetricsSink() : new CloudWatchMetricsSink(cloudWatchClient()),
      );
    },
    get alarmMonitor() {
      return lazy('alarmMonitor', () => new CloudWatchAlarmMonitor(cloudWatchClient()));
    },
    get functionInvoker() {
      return lazy('functionInvoker', () => new LambdaFunctionInvoker(lambdaClient()));
    },
    get pipelineRunner() {
      return lazy(
        'pipelineRunner',
        () =>
          new StepFunctionsPipelineRunner(
            sfnClient(),
            jsonEnv(env, PORT_ENV.stateMachineArns, stateMachineArnsSchema, {}),
          ),
      );
    },
    get deployer() {
      return lazy(
        'deployer',
        () =>
          new CodeDeployDeployer(
            lambdaClient(),
            codeDeployClient(),
            jsonEnv(env, PORT_ENV.deploymentGroups, deploymentGroupsSchema, {}),
          ),
      );
    },
    get captureSink() {
      return lazy('captureSink', () => new LogCaptureSink());
    },
  };
}

let installed: { control: Ports; data: DataPorts } | undefined;

/**
 * The ports of this process: the installed ones, else the AWS adapters. Control and data
 * plane together; a handler module takes what its use case needs from it.
 */
export function ports(): Ports & DataPorts {
  installed ??= { control: awsPorts(), data: awsDataPorts() };
  const { control, data } = installed;
  // Getters, not a spread: a spread would build every lazy adapter at once.
  return new Proxy({} as Ports & DataPorts, {
    get: (_, key) => (key in control ? control[key as keyof Ports] : data[key as keyof DataPorts]),
  });
}

/**
 * Wires this process's ports. Called once by a non-AWS runtime before any handler runs; its
 * data plane is the SDK adapters on its own endpoints unless given.
 */
export function installPorts(control: Ports, data: DataPorts = awsDataPorts()): void {
  installed = { control, data };
}

/** Forgets the wiring (tests, and the local runtime's shutdown). */
export function resetPorts(): void {
  installed = undefined;
}

/**
 * The data-plane adapters on the resources named by the environment (`KEEL_TABLE_NAME`,
 * `KEEL_LINEAGE_BUCKET`, `KEEL_CAPTURE_BUCKET`), each built on first use so that a function
 * needs only the variables of the ports it uses.
 */
export function awsDataPorts(env: NodeJS.ProcessEnv = process.env): DataPorts {
  const lazy = lazily();
  return {
    get registryStore() {
      return lazy('registryStore', () => awsRegistryStore(env));
    },
    get ledgerStore() {
      return lazy('ledgerStore', () => awsLedgerStore(env));
    },
    get lineageBlobs() {
      return lazy('lineageBlobs', () => awsLineageBlobs(env));
    },
    get captureReader() {
      return lazy(
        'captureReader',
        () => new S3CaptureReader(s3Client(), requireEnv(RESOURCE_ENV.captureBucket, env)),
      );
    },
    get objectReader() {
      return lazy('objectReader', () => s3ObjectReader(s3Client()));
    },
    get approvalStore() {
      return lazy(
        'approvalStore',
        () => new DynamoApprovalStore(documentClient(), requireEnv(RESOURCE_ENV.table, env)),
      );
    },
    get federatedStore() {
      return lazy(
        'federatedStore',
        () => new DynamoFederatedStore(documentClient(), requireEnv(RESOURCE_ENV.table, env)),
      );
    },
    get federatedBlobs() {
      return lazy(
        'federatedBlobs',
        () => new S3BlobStore(s3Client(), requireEnv(RESOURCE_ENV.federatedBucket, env)),
      );
    },
    get urlSigner() {
      return lazy('urlSigner', () => new S3UrlSigner(s3Client()));
    },
    get rolloutPlatform() {
      return lazy(
        'rolloutPlatform',
        () => new AwsRolloutPlatform(codeDeployClient(), lambdaClient(), cloudWatchClient()),
      );
    },
    endpointScorer: (endpoint, version, inputs) =>
      new SageMakerScorer(sageMakerRuntimeClient(), endpoint, version, inputs),
  };
}

/**
 * The model registry on the table named by `KEEL_TABLE_NAME`, publishing to `eventBus`.
 * @param eventBus @default this process's event-bus port
 */
export function createRegistry(
  env: NodeJS.ProcessEnv = process.env,
  eventBus: EventBus = ports().eventBus,
): ModelRegistry {
  return registryOf({ registryStore: awsDataPorts(env).registryStore, eventBus });
}

/**
 * The privacy budget ledgers in the table named by `KEEL_TABLE_NAME`, announcing to `eventBus`.
 * @param eventBus @default this process's event-bus port
 */
export function createPrivacyLedger(
  env: NodeJS.ProcessEnv = process.env,
  eventBus: EventBus = ports().eventBus,
): PrivacyLedger {
  return privacyLedgerOf({ ledgerStore: awsDataPorts(env).ledgerStore, eventBus });
}

/** The lineage store on the bucket named by `KEEL_LINEAGE_BUCKET`. */
export function createLineageStore(env: NodeJS.ProcessEnv = process.env): LineageStore {
  return lineageOf(awsDataPorts(env));
}
