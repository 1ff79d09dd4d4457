/**
 * The shadow scorer in AWS: subscribed to an inference function's log group, it receives the
 * capture lines (CloudWatch Logs subscription events), and the `shadow`-alias model scores a
 * sample of them, after the callers were answered. Shadow records are printed as capture lines
 * too (this function's log group feeds the capture stream), and the comparison is published as
 * metrics. The shadow model is resolved at cold start: a moved alias takes effect in new
 * execution environments.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { CloudWatchLogsEvent } from 'aws-lambda';
import { LogCaptureSink } from '../commons/adapters/aws/capture.ts';
import { createLineageStore, createRegistry } from '../commons/composition.ts';
import { requireEnv } from '../commons/helpers/env.ts';
import { keelHandler } from '../commons/middleware.ts';
import { logger, metrics } from '../commons/powertools.ts';
import { INFERENCE_ENV } from './env.ts';
import { loadModel } from './handler.ts';
import { captureRecordsFromLogs, ShadowScorer } from './shadow.ts';

const model = requireEnv(INFERENCE_ENV.modelName);
const sampleRate = Number(requireEnv('KEEL_SHADOW_SAMPLE_RATE'));
const dependencies = { registry: createRegistry(), lineage: createLineageStore() };
let shadow: Promise<ShadowScorer | undefined> | undefined;

async function loadShadow(): Promise<ShadowScorer | undefined> {
  const version = (await dependencies.registry.aliases(model)).shadow;
  if (version === undefined) return undefined;
  const loaded = await loadModel(dependencies, model, version);
  return new ShadowScorer(loaded.scorer, new LogCaptureSink(), { sampleRate });
}

export const handler = keelHandler(async (event: CloudWatchLogsEvent) => {
  shadow ??= loadShadow();
  const scorer = await shadow;
  if (!scorer) {
    logger.info('No shadow model; nothing to score', { model });
    return;
  }
  await scorer.process(captureRecordsFromLogs(event.awslogs.data));
  const report = scorer.report();
  metrics.addDimensions({ model, shadowVersion: scorer.version });
  metrics.addMetric('ShadowScored', MetricUnit.Count, report.scored);
  if (report.labelAgreement !== null)
    metrics.addMetric('ShadowLabelAgreement', MetricUnit.NoUnit, report.labelAgreement);
  if (report.psi !== null) metrics.addMetric('ShadowPsi', MetricUnit.NoUnit, report.psi);
});
