/**
 * The drift check's Lambda handlers: thin middy pipelines around the steps of `check.ts`, with
 * their dependencies from the composition root. `driftCheckHandler` is the scheduled check
 * (the EventBridge rule's input is the model's {@link MonitoringSettings}); the other three are
 * the steps of `state-machines/drift-check.asl.json` when a model's check is distributed.
 */
import { z } from 'zod';
import { S3CaptureReader } from '../commons/adapters/aws/capture-reader.ts';
import { s3Client } from '../commons/clients.ts';
import { createLineageStore, createRegistry, ports } from '../commons/composition.ts';
import { requireEnv } from '../commons/helpers/env.ts';
import { keelHandler } from '../commons/middleware.ts';
import { RESOURCE_ENV } from '../commons/resources.ts';
import {
  type CheckPlan,
  type MonitoringDependencies,
  planCheck,
  profilePartitions,
  reduceCheck,
  runDriftCheck,
} from './check.ts';
import { monitoringSettingsSchema } from './settings.ts';

export function monitoringDependencies(env: NodeJS.ProcessEnv = process.env): MonitoringDependencies {
  const p = ports();
  return {
    registry: createRegistry(env, p.eventBus),
    lineage: createLineageStore(env),
    captures: new S3CaptureReader(s3Client(), requireEnv(RESOURCE_ENV.captureBucket, env)),
    eventBus: p.eventBus,
    metrics: p.metricsSink,
  };
}

/** A scheduled event's input, or a direct invocation (`keel monitor run`). */
const checkRequestSchema = z.object({
  settings: monitoringSettingsSchema,
  asOf: z.iso.datetime({ offset: true }).optional(),
});

export const driftCheckHandler = keelHandler(async (event: unknown) =>
  runDriftCheck(checkRequestSchema.parse(event), monitoringDependencies()),
);

/** The state machine's first step: `{settings, request}` (the execution's input, maybe with `asOf`). */
const planRequestSchema = z.object({
  settings: monitoringSettingsSchema,
  request: z.object({ asOf: z.iso.datetime({ offset: true }).optional() }).prefault({}),
});

export const listPartitionsHandler = keelHandler(async (event: unknown) => {
  const { settings, request } = planRequestSchema.parse(event);
  return planCheck({ settings, ...(request.asOf ? { asOf: request.asOf } : {}) }, monitoringDependencies());
});

/** One child of the Distributed Map: `{plan, hour}` (one hour partition). */
export const profilePartitionHandler = keelHandler(async (event: { plan: CheckPlan; hour: string }) =>
  profilePartitions({ plan: event.plan, hours: [event.hour] }, monitoringDependencies()),
);

export const reduceHandler = keelHandler(
  async (event: { plan: CheckPlan; partials: { partial: { kind: 'drift'; sha256: string } }[] }) =>
    reduceCheck(event, monitoringDependencies()),
);
