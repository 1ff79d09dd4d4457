/**
 * The capture-stream monitor in AWS, subscribed to an inference function's log group (capture
 * lines arrive as CloudWatch Logs subscription events, after the callers were answered):
 * - compares each serving version's prediction distribution with its own at evaluation (see
 *   `canary.ts`) and publishes `PredictionShiftPsi` per version, which the rollout's
 *   prediction-shift alarm watches;
 * - when the model samples traffic for a shadow, scores that sample with the `shadow`-alias
 *   model, prints the shadow records as capture lines (this function's log group feeds the
 *   capture stream too) and publishes the comparison.
 * State (the score windows) lives in the execution environment; the shadow model is resolved
 * at cold start, so a moved alias takes effect in new environments.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { CloudWatchLogsEvent } from 'aws-lambda';
import { requireEnv } from '../commons/helpers/env.ts';
import { keelHandler } from '../commons/middleware.ts';
import { logger, metrics } from '../commons/powertools.ts';
import { ports } from '../composition/aws.ts';
import { lineageOf, registryOf } from '../composition/services.ts';
import { INFERENCE_ENV } from '../contracts/inference.ts';
import { resolveBaselines, VersionShiftMonitor } from './canary.ts';
import { captureRecordsFromLogs, loadShadowScorer, type ShadowScorer } from './shadow.ts';

const model = requireEnv(INFERENCE_ENV.modelName);
const sampleRate = Number(requireEnv('KEEL_SHADOW_SAMPLE_RATE'));
const p = ports();
const dependencies = { registry: registryOf(p), lineage: lineageOf(p) };
let shadow: Promise<ShadowScorer | undefined> | undefined;
const versions = new VersionShiftMonitor();

const loadShadow = () => loadShadowScorer(dependencies, model, p.captureSink, sampleRate);

export const handler = keelHandler(async (event: CloudWatchLogsEvent) => {
  const records = captureRecordsFromLogs(event.awslogs.data);
  versions.observe(records);
  await resolveBaselines(versions, dependencies);
  for (const s of versions.shifts()) {
    // One metric per version, with its own dimensions (the alarm of that version's rollout).
    const single = metrics.singleMetric();
    single.addDimensions({ model: s.model, version: s.version });
    single.addMetric('PredictionShiftPsi', MetricUnit.NoUnit, s.psi);
  }
  shadow ??= loadShadow();
  const scorer = await shadow;
  if (!scorer) {
    logger.debug('No shadow model; nothing to score', { model });
    return;
  }
  await scorer.process(records);
  const report = scorer.report();
  metrics.addDimensions({ model, shadowVersion: scorer.version });
  metrics.addMetric('ShadowScored', MetricUnit.Count, report.scored);
  if (report.labelAgreement !== null)
    metrics.addMetric('ShadowLabelAgreement', MetricUnit.NoUnit, report.labelAgreement);
  if (report.psi !== null) metrics.addMetric('ShadowPsi', MetricUnit.NoUnit, report.psi);
});
