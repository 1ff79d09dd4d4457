/**
 * The composition root for control-plane ports.
 *
 * In Lambda, `ports()` lazily builds the AWS adapters from the environment the CDK wrapper
 * sets. A runtime that is not AWS (the local runtime) calls {@link installPorts} once at
 * start-up with its own adapters. Nothing else decides where a port goes, so there is no
 * "am I local?" test anywhere in the code.
 */
import { z } from 'zod';
import { LineageStore } from '../lineage/store.ts';
import { ModelRegistry } from '../registry/registry.ts';
import { LogCaptureSink } from './adapters/aws/capture.ts';
import { CodeDeployDeployer } from './adapters/aws/deployer.ts';
import { EventBridgeEventBus } from './adapters/aws/event-bus.ts';
import { LambdaFunctionInvoker } from './adapters/aws/function-invoker.ts';
import { CloudWatchAlarmMonitor, CloudWatchMetricsSink, EmfMetricsSink } from './adapters/aws/metrics.ts';
import { StepFunctionsPipelineRunner } from './adapters/aws/pipeline-runner.ts';
import { DynamoRegistryStore } from './adapters/aws/registry-store.ts';
import { S3BlobStore } from './adapters/aws/s3-blob-store.ts';
import {
  cloudWatchClient,
  codeDeployClient,
  documentClient,
  eventBridgeClient,
  lambdaClient,
  s3Client,
  sfnClient,
} from './clients.ts';
import { ConfigError } from './errors.ts';
import { requireEnv } from './helpers/env.ts';
import type { EventBus, Ports } from './ports/index.ts';
import { logger } from './powertools.ts';
import { RESOURCE_ENV } from './resources.ts';

/** Environment variables read by the AWS adapters; the CDK `bind*` methods set them. */
export const PORT_ENV = {
  eventBusName: 'KEEL_EVENT_BUS_NAME',
  stateMachineArns: 'KEEL_STATE_MACHINE_ARNS',
  deploymentGroups: 'KEEL_DEPLOYMENT_GROUPS',
} as const;

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
    throw new ConfigError(
      `${name} is invalid`,
      result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    );
  }
  return result.data;
}

/** Builds the AWS adapters. Each is created on first use, so a handler only needs the variables of the ports it uses. */
export function awsPorts(env: NodeJS.ProcessEnv = process.env): Ports {
  const cache = new Map<keyof Ports, unknown>();
  const lazy = <K extends keyof Ports>(key: K, build: () => Ports[K]): Ports[K] => {
    if (!cache.has(key)) cache.set(key, build());
    return cache.get(key) as Ports[K];
  };
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

let installed: Ports | undefined;

/** The ports of this process: the installed ones, else the AWS adapters. */
export function ports(): Ports {
  installed ??= awsPorts();
  return installed;
}

/** Wires this process's ports. Called once by a non-AWS runtime before any handler runs. */
export function installPorts(replacement: Ports): void {
  installed = replacement;
}

/** Forgets the wiring (tests, and the local runtime's shutdown). */
export function resetPorts(): void {
  installed = undefined;
}

/**
 * The model registry on the table named by `KEEL_TABLE_NAME`, publishing to `eventBus`.
 * @param eventBus @default this process's event-bus port
 */
export function createRegistry(
  env: NodeJS.ProcessEnv = process.env,
  eventBus: EventBus = ports().eventBus,
): ModelRegistry {
  return new ModelRegistry({
    store: new DynamoRegistryStore(documentClient(), requireEnv(RESOURCE_ENV.table, env)),
    eventBus,
    onPublishError: (error, event) =>
      logger.warn('Registry event committed but not published', {
        error,
        model: event.model,
        seq: event.seq,
      }),
  });
}

/** The lineage store on the bucket named by `KEEL_LINEAGE_BUCKET`. */
export function createLineageStore(env: NodeJS.ProcessEnv = process.env): LineageStore {
  return new LineageStore(new S3BlobStore(s3Client(), requireEnv(RESOURCE_ENV.lineageBucket, env)));
}
