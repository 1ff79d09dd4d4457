/**
 * The drift check's pure rules: the status and its reasons, whether an alert asks for
 * retraining, and the metrics a report emits.
 */
import { MONITORING_METRICS, type MonitoringSettings } from '../contracts/monitoring.ts';
import type { RegistryEvent } from '../contracts/registry.ts';
import { PIPELINE_ACTOR, RETRAINING_ENDED_METRIC } from '../contracts/retraining.ts';
import type { DriftReport, FeatureDrift } from '../core/drift/report.ts';
import type { Impact } from '../core/monitoring/impact.ts';
import type { MetricDatum } from '../ports/index.ts';
import { type CheckReport, type CheckStatus, MONITORING_ACTOR } from './types.ts';

export const round = (v: number | null | undefined, digits = 6) =>
  v === null || v === undefined || !Number.isFinite(v) ? null : Number(v.toFixed(digits));

const money = (v: number, currency: string) => `${currency} ${Math.round(v).toLocaleString('en-US')}`;

/**
 * The status and its reasons: alerts follow `alerts.on`; every other flag is a warning.
 * `noImpact` says why there is no money at risk when `impact` is null.
 */
export function judge(
  settings: MonitoringSettings,
  drift: DriftReport,
  prediction: FeatureDrift | null,
  impact: Impact | null,
  labelled: number,
  noImpact = 'the baseline has no outcome record',
): { status: CheckStatus; reasons: string[] } {
  const currency = settings.costs.currency;
  const reasons: string[] = [];
  const drifted = Object.entries(drift.features)
    .filter(([, f]) => f.drifted)
    .map(([n]) => n);
  const warned = Object.entries(drift.features)
    .filter(([, f]) => f.warning)
    .map(([n]) => n);
  const impactAlert = impact?.overBudget === true;
  const driftAlert = drift.datasetDrift || prediction?.drifted === true;
  const alert =
    settings.alerts.on === 'impact'
      ? impactAlert
      : settings.alerts.on === 'drift'
        ? driftAlert
        : impactAlert || driftAlert;
  if (impact) {
    const basis = impact.basis === 'outcomes' ? `${labelled} labelled decisions` : 'the score distribution';
    const range = `${money(impact.interval.lower, currency)} to ${money(impact.interval.upper, currency)}`;
    reasons.push(
      impact.overBudget
        ? `money at risk ${money(impact.moneyAtRisk, currency)}/day (${range}, from ${basis}) is over the budget of ${money(impact.dailyBudget, currency)}`
        : impact.moneyAtRisk > impact.dailyBudget
          ? `money at risk ${money(impact.moneyAtRisk, currency)}/day (${range}, from ${basis}) may be over the budget of ${money(impact.dailyBudget, currency)}: not significantly`
          : `money at risk ${money(impact.moneyAtRisk, currency)}/day (${range}, from ${basis}) is within the budget of ${money(impact.dailyBudget, currency)}`,
    );
  } else reasons.push(`money at risk cannot be estimated (${noImpact})`);
  if (drifted.length > 0)
    reasons.push(`drifted: ${drifted.join(', ')} (${(drift.shareDrifted * 100).toFixed(0)} % of features)`);
  if (warned.length > 0) reasons.push(`shifted but not material: ${warned.join(', ')}`);
  if (prediction?.drifted) reasons.push(`the score distribution drifted (PSI ${prediction.psi.toFixed(3)})`);
  else if (prediction?.warning)
    reasons.push(`the score distribution shifted (PSI ${prediction.psi.toFixed(3)})`);
  const flagged =
    drifted.length > 0 ||
    warned.length > 0 ||
    prediction?.drifted === true ||
    prediction?.warning === true ||
    (impact !== null && impact.moneyAtRisk > impact.dailyBudget);
  return { status: alert ? 'alert' : flagged ? 'warning' : 'ok', reasons };
}

export interface RetrainDecision {
  readonly request: boolean;
  /** What the check adds to its reasons: why it did not ask, or that it asks again. */
  readonly note?: string;
}

/**
 * Whether an alert asks for retraining, from the production version's audit trail (where each
 * flagged check and each retraining that ended without promotion is recorded):
 * - no request on this version within the cooldown: ask;
 * - a request whose retraining has not ended: wait (the drift persists while it runs and bakes);
 * - a request whose retraining ended without promotion (rejected, failed, rolled back): ask again
 *   once at least as many new labelled decisions have come in as that run learnt from (and at
 *   least `minNewLabelled`), counted by prediction time after it ended: a retry on the same
 *   evidence would end the same way, and a retry on fresh evidence is what the alert is for.
 * A promotion moves `production` to a new version with a trail of its own.
 */
export function decideRetrainRequest(
  trail: readonly RegistryEvent[],
  options: {
    readonly now: string;
    readonly cooldownHours: number;
    /** Prediction times (ms) of the labelled decisions in this check's window. */
    readonly labelledAt: readonly number[];
    readonly minNewLabelled: number;
  },
): RetrainDecision {
  const since = Date.parse(options.now) - options.cooldownHours * 3_600_000;
  const metricsOf = (e: RegistryEvent) =>
    (e.details?.evaluation as { metrics?: Record<string, number> } | undefined)?.metrics ?? {};
  const evaluations = trail.filter((e) => e.type === 'EvaluationRecorded');
  const requestIndex = evaluations.findLastIndex(
    (e) => e.actor === MONITORING_ACTOR && metricsOf(e)['production.retrainingRequested'] === 1,
  );
  const request = evaluations[requestIndex];
  if (!request || Date.parse(request.at) <= since) return { request: true };
  const ended = evaluations
    .slice(requestIndex + 1)
    .find((e) => e.actor === PIPELINE_ACTOR && metricsOf(e)[RETRAINING_ENDED_METRIC] === 1);
  if (!ended)
    return {
      request: false,
      note: `retraining requested at ${request.at} has not ended yet (cooldown ${options.cooldownHours} h)`,
    };
  const endedAt = Date.parse(ended.at);
  const fresh = options.labelledAt.reduce((n, t) => (t > endedAt ? n + 1 : n), 0);
  const needed = Math.max(options.minNewLabelled, metricsOf(ended)['retraining.productionRows'] ?? 0);
  const why = ended.reason.replace(/^retraining \S+ /, '');
  return fresh >= needed
    ? {
        request: true,
        note: `retrying: the retraining requested at ${request.at} ended ${why}; ${fresh} labelled decisions since`,
      }
    : {
        request: false,
        note: `the retraining requested at ${request.at} ended ${why}; a retry waits for ${needed} labelled decisions after it (${fresh} so far)`,
      };
}

/** The check's metrics, dimensioned by model (and feature for PSI). */
export function checkMetrics(report: CheckReport): MetricDatum[] {
  const model: Record<string, string> = { model: report.model };
  const data: MetricDatum[] = [
    { name: MONITORING_METRICS.rows, value: report.rows.predictions, unit: 'Count', dimensions: model },
    {
      name: MONITORING_METRICS.alert,
      value: report.status === 'alert' ? 1 : 0,
      unit: 'Count',
      dimensions: model,
    },
  ];
  const add = (name: string, value: number | null | undefined, dimensions = model) => {
    if (typeof value === 'number' && Number.isFinite(value))
      data.push({ name, value, unit: 'None', dimensions });
  };
  add(MONITORING_METRICS.moneyAtRisk, report.impact?.moneyAtRisk);
  add(MONITORING_METRICS.moneyAtRiskLower, report.impact?.interval.lower);
  add(MONITORING_METRICS.shareDrifted, report.drift?.shareDrifted);
  add(MONITORING_METRICS.predictionPsi, report.predictionDrift?.psi);
  add(MONITORING_METRICS.auc, report.outcomes?.auc);
  add(MONITORING_METRICS.precision, report.outcomes?.precision);
  add(MONITORING_METRICS.recall, report.outcomes?.recall);
  add(MONITORING_METRICS.ece, report.outcomes?.ece);
  add(MONITORING_METRICS.coverage, report.outcomes?.coverage);
  for (const [feature, f] of Object.entries(report.drift?.features ?? {}))
    add(MONITORING_METRICS.featurePsi, f.psi, { ...model, feature });
  return data.map((d) => ({ ...d, value: d.unit === 'None' ? (round(d.value) ?? d.value) : d.value }));
}
