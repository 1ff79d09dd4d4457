/**
 * The drift check's Lambda handlers: thin middy pipelines around the steps of `check.ts`, with
 * their dependencies from the composition root. `driftCheckHandler` is the scheduled check
 * (the EventBridge rule's input is the model's {@link MonitoringSettings}); the other three are
 * the steps of `state-machines/drift-check.asl.json` when a model's check is distributed.
 */
import { z } from 'zod';
import { keelHandler } from '../commons/middleware.ts';
import { ports } from '../composition/aws.ts';
import { lineageOf, privacyLedgerOf, registryOf } from '../composition/services.ts';
import { featureReviewSettingsSchema, monitoringSettingsSchema } from '../contracts/monitoring.ts';
import {
  type CheckPlan,
  type MonitoringDependencies,
  planCheck,
  profilePartitions,
  reduceCheck,
  runDriftCheck,
} from './check.ts';
import { runFeatureReview, summariseReview } from './feature-review.ts';

export function monitoringDependencies(): MonitoringDependencies {
  const p = ports();
  return {
    registry: registryOf(p),
    lineage: lineageOf(p),
    captures: p.captureReader,
    eventBus: p.eventBus,
    metrics: p.metricsSink,
    ledger: privacyLedgerOf(p),
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

/** The scheduled stale-feature review (the rule's input is the model's settings), or `keel features review`. */
const featureReviewRequestSchema = z.object({
  settings: featureReviewSettingsSchema,
  asOf: z.iso.datetime({ offset: true }).optional(),
  version: z.number().int().positive().optional(),
  actor: z.string().min(1).optional(),
});

export const featureReviewHandler = keelHandler(async (event: unknown) => {
  const { settings, asOf, version, actor } = featureReviewRequestSchema.parse(event);
  const p = ports();
  const outcome = await runFeatureReview(
    {
      settings,
      ...(asOf ? { asOf } : {}),
      ...(version ? { version } : {}),
      ...(actor ? { actor } : {}),
    },
    { captures: p.captureReader, eventBus: p.eventBus, lineage: lineageOf(p), registry: registryOf(p) },
  );
  // The report is in lineage; the invocation answers with its ref and the verdicts only.
  return summariseReview(outcome);
});
