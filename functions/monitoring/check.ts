/**
 * The drift check of one model over one window of captured traffic, in three steps that run
 * in one function (the scheduled check) or as a Step Functions Distributed Map (plan, one
 * child per hour partition, reduce) when a window outgrows a function:
 *
 * 1. {@link planCheck}: the window, the production version and its baseline profile, the hour
 *    partitions holding predictions, and the outcomes fed back (stored once for the children).
 * 2. {@link profilePartitions}: streams the partitions' files one at a time into a profile of
 *    the inputs and one of the production version's scores (memory for bins and samples, not
 *    rows), and joins each prediction with its outcome, if one came back.
 * 3. {@link reduceCheck}: merges the partial profiles, compares them with the baseline, computes
 *    outcome metrics and money at risk, writes the JSON and HTML reports to lineage, emits the
 *    metrics, records warnings and alerts in the registry, and on an alert publishes the
 *    `keel.drift.detected` event that starts retraining.
 */

import { planCheck } from './plan.ts';
import { profilePartitions } from './profile.ts';
import { reduceCheck } from './reduce.ts';
import type { CheckRequest, CheckSummary, MonitoringDependencies } from './types.ts';

export { checkMetrics, decideRetrainRequest, judge, type RetrainDecision } from './judge.ts';
export { planCheck } from './plan.ts';
export { profilePartitions } from './profile.ts';
export { reduceCheck } from './reduce.ts';
export type * from './types.ts';

/** The whole check in one function: plan, every partition, reduce. */
export async function runDriftCheck(
  request: CheckRequest,
  deps: MonitoringDependencies,
): Promise<CheckSummary> {
  const plan = await planCheck(request, deps);
  const partials =
    plan.production && plan.hours.length > 0
      ? [await profilePartitions({ plan, hours: plan.hours }, deps)]
      : [];
  return reduceCheck({ plan, partials }, deps);
}
