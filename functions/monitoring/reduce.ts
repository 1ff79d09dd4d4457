/**
 * Step 3 of the drift check: merges the partial profiles, compares them with the baseline,
 * computes outcome metrics and money at risk, writes the reports, emits the metrics, records
 * flags in the registry and, on an alert, asks for retraining.
 */
import {
  CHECK_COMPLETED_EVENT,
  MONITORING_NAMESPACE,
  type MonitoringSettings,
} from '../contracts/monitoring.ts';
import { DRIFT_EVENT } from '../contracts/retraining.ts';
import { mergeProfiles, type Profile } from '../core/drift/profile.ts';
import { driftReport } from '../core/drift/report.ts';
import { attributeDrift, type DriftAttribution } from '../core/explain/drift-attribution.ts';
import { tableOfInstances } from '../core/explain/explainer.ts';
import { type ImpactSettings, impactFromDrift, impactFromOutcomes } from '../core/monitoring/impact.ts';
import {
  decisionConfusion,
  type LabelledDecision,
  type OutcomeMetrics,
  outcomeMetrics,
} from '../core/monitoring/outcomes.ts';
import {
  checkMechanism,
  noisyCounts,
  privatizeConfusion,
  privatizeProfile,
  psiFromNoise,
} from '../core/privacy/monitoring.ts';
import { bucketOf } from '../core/search.ts';
import { SCORE_COLUMN } from '../core/training/train.ts';
import { ConflictError } from '../kernel/errors.ts';
import type { KeelEvent } from '../ports/index.ts';
import { loadModelExplainer } from '../registry/explainers.ts';
import { renderReportHtml } from './html.ts';
import { checkMetrics, decideRetrainRequest, judge } from './judge.ts';
import {
  ATTRIBUTION_LABELLED_ROWS,
  ATTRIBUTION_ROWS,
  type CheckPlan,
  type CheckReport,
  type CheckStatus,
  type CheckSummary,
  MONITORING_ACTOR,
  type MonitoringDependencies,
  type PartialCheck,
  type Ref,
  type RowSample,
} from './types.ts';

/** Step 3: merges the partials, judges, reports, emits; returns the summary. */
export async function reduceCheck(
  input: { readonly plan: CheckPlan; readonly partials: readonly { readonly partial: Ref }[] },
  deps: MonitoringDependencies,
): Promise<CheckSummary> {
  const { plan } = input;
  const { settings } = plan;
  const checkedAt = (deps.now?.() ?? new Date()).toISOString();
  const thresholds = {
    ...settings.thresholds,
    alertOn: settings.alerts.on,
    minLabelledRows: settings.minLabelledRows,
  };
  const empty = (status: CheckStatus, reason: string, predictions = 0): CheckReport => ({
    format: 'keel.drift-report/v1',
    model: settings.model,
    version: plan.production?.version ?? null,
    checkedAt,
    window: plan.window,
    status,
    reasons: [reason],
    rows: { predictions, scored: 0, files: 0 },
    drift: null,
    predictionDrift: null,
    outcomes: null,
    impact: null,
    impacts: { outcomes: null, drift: null },
    currency: settings.costs.currency,
    thresholds,
  });
  if (!plan.production) {
    return finishCheck(
      empty('no-model', 'no version with a drift baseline is in production'),
      deps,
      settings,
    );
  }
  const baseline = await deps.lineage.getJson<Profile>(plan.production.baseline);
  const partials = await Promise.all(
    input.partials.map((p) => deps.lineage.getJson<PartialCheck>(p.partial)),
  );
  const predictions = partials.reduce((s, p) => s + p.predictions, 0);
  if (predictions === 0)
    return finishCheck(empty('no-data', 'no predictions were captured in the window'), deps, settings);
  const inputs = partials.map((p) => p.inputs).reduce(mergeProfiles);
  const scores = partials.map((p) => p.scores).reduce(mergeProfiles);
  const merged: Profile = { ...inputs, columns: { ...inputs.columns, ...scores.columns } };
  const labelledRows: LabelledDecision[] = partials.flatMap((p) =>
    p.labelled.map(([probability, decision, outcome]) => ({ probability, decision, outcome })),
  );
  const rawScoreCounts = partials
    .map((p) => p.scoreCounts)
    .reduce((a, b) => a.map((v, k) => v + (b[k] ?? 0)));
  // A private check releases only noisy counts, spent from the ledger before any is computed.
  const released = settings.privacy
    ? await releasePrivately(plan, merged, rawScoreCounts, labelledRows, deps)
    : undefined;
  const current = released?.current ?? merged;
  const features = Object.keys(baseline.columns).filter((c) => c !== SCORE_COLUMN);
  const drift = driftReport(baseline, current, { ...settings.thresholds, features });
  const scored = released ? current.rows : scores.rows;
  const predictionDrift =
    scored > 0
      ? (driftReport(baseline, current, { ...settings.thresholds, features: [SCORE_COLUMN] }).features[
          SCORE_COLUMN
        ] ?? null)
      : null;

  const labelled = released ? [] : labelledRows;
  // Coverage is of the production model's own decisions.
  const outcomes = released?.outcomes ?? outcomeMetrics(labelled, scored);
  const labelledCount = released ? outcomes.labelled : labelled.length;
  const impactSettings = {
    costs: settings.costs,
    decisionsPerDay: settings.decisionsPerDay,
    dailyBudget: settings.alerts.dailyBudget,
    confidence: settings.alerts.confidence,
  };
  const outcomeBaseline = baseline.outcomes;
  const fromOutcomes =
    outcomeBaseline && labelledCount > 0
      ? impactFromOutcomes(outcomes.confusion, outcomeBaseline, impactSettings)
      : null;
  const scoreCounts = released?.scoreCounts ?? rawScoreCounts;
  const fromDrift =
    outcomeBaseline && scored > 0 ? impactFromDrift(scoreCounts, outcomeBaseline, impactSettings) : null;
  const impact = labelledCount >= settings.minLabelledRows && fromOutcomes ? fromOutcomes : fromDrift;

  // A version promoted within the window has made none of its decisions yet: nothing to weigh,
  // which is not the same as a baseline without a record of its decisions.
  const judged = judge(
    settings,
    drift,
    predictionDrift,
    impact,
    labelledCount,
    outcomeBaseline
      ? `none of the window's predictions were scored by v${plan.production.version} yet`
      : 'the baseline has no outcome record',
  );
  const { status } = judged;
  const matched = partials.reduce((n, p) => n + (p.matched ?? 0), 0);
  const unmatched = Math.max(0, (plan.outcomeIds ?? matched) - matched);
  // Why, when something was flagged: which columns moved the predictions and the money.
  const attributed =
    status === 'ok'
      ? { attribution: null, attributionReason: 'nothing was flagged' }
      : released
        ? {
            attribution: null,
            attributionReason: 'a private check releases counts only; attributions read sampled rows',
          }
        : await attribute(plan, partials, baseline, impactSettings, deps);
  const reasons = [
    ...judged.reasons,
    ...(attributed.attribution ? [`why: ${attributed.attribution.summary}`] : []),
    ...(unmatched > 0
      ? [
          `${unmatched} outcome(s) fed back name no prediction of the window (unknown ids, or decisions before it)`,
        ]
      : []),
  ];
  const report: CheckReport = {
    format: 'keel.drift-report/v1',
    model: settings.model,
    version: plan.production.version,
    checkedAt,
    window: plan.window,
    status,
    reasons,
    rows: {
      predictions: released ? current.rows : predictions,
      scored,
      files: partials.reduce((s, p) => s + p.files, 0),
    },
    drift,
    predictionDrift,
    outcomes: {
      ...outcomes,
      baseline: { ...(outcomeBaseline?.metrics ?? {}) },
      unmatched,
    },
    impact,
    impacts: { outcomes: fromOutcomes, drift: fromDrift },
    attribution: attributed.attribution,
    ...(attributed.attributionReason ? { attributionReason: attributed.attributionReason } : {}),
    ...(released ? { privacy: released.privacy } : {}),
    currency: settings.costs.currency,
    thresholds,
  };
  const labelledAt = partials.flatMap((p) => p.labelled.map((l) => l[3] ?? Number.NaN));
  return finishCheck(report, deps, settings, { baseline, current }, labelledAt);
}

/** Re-noisings per feature behind the report's statement of what noise alone reads as PSI. */
const PSI_NOISE_TRIALS = 100;

/**
 * A private check's release: the ledger grants the check's discrete Gaussian releases, then
 * every count is noised; the outcomes keep what the noisy confusion matrix gives (no AUC or
 * calibration: they read rows). No idempotency key: a retried step draws new noise, which is a
 * second release of the same rows, and must spend again.
 */
async function releasePrivately(
  plan: CheckPlan,
  merged: Profile,
  scoreCounts: readonly number[],
  labelled: readonly LabelledDecision[],
  deps: MonitoringDependencies,
) {
  const privacy = plan.settings.privacy as NonNullable<MonitoringSettings['privacy']>;
  if (!deps.ledger) throw new ConflictError('a private drift check needs the privacy ledger');
  const mechanism = checkMechanism(Object.keys(merged.columns).length, privacy.sigma);
  const entry = await deps.ledger.spend(
    privacy.ledger,
    {
      mechanism,
      budget: { epsilon: privacy.epsilon, delta: privacy.delta },
      purpose: {
        kind: 'monitoring',
        model: plan.settings.model,
        ...(plan.production ? { version: plan.production.version } : {}),
      },
    },
    {
      actor: MONITORING_ACTOR,
      reason: `private drift check of ${plan.settings.model}, ${plan.window.from} to ${plan.window.to}`,
    },
  );
  const current = privatizeProfile(merged, privacy.sigma);
  const confusion = privatizeConfusion(decisionConfusion(labelled), privacy.sigma);
  const count = confusion.tp + confusion.fp + confusion.tn + confusion.fn;
  const ratio = (a: number, b: number) => (b > 0 ? a / b : null);
  const outcomes: OutcomeMetrics = {
    predictions: current.rows,
    labelled: count,
    pending: Math.max(0, current.rows - count),
    coverage: ratio(count, current.rows) ?? 0,
    auc: null,
    precision: ratio(confusion.tp, confusion.tp + confusion.fp),
    recall: ratio(confusion.tp, confusion.tp + confusion.fn),
    ece: null,
    positiveRate: ratio(confusion.tp + confusion.fn, count),
    confusion,
  };
  const psiFromNoiseByColumn = Object.fromEntries(
    Object.entries(current.columns).map(([name, column]) => {
      const histogram =
        column.kind === 'numeric'
          ? [...column.counts, column.missing]
          : [...Object.values(column.counts), column.missing];
      return [name, psiFromNoise(histogram, privacy.sigma, PSI_NOISE_TRIALS)];
    }),
  );
  return {
    current,
    outcomes,
    scoreCounts: noisyCounts(scoreCounts, privacy.sigma),
    privacy: {
      sigma: privacy.sigma,
      histograms: mechanism.kind === 'discrete-gaussian' ? mechanism.count : 0,
      ledger: privacy.ledger,
      entry: entry.seq,
      epsilonAfter: entry.epsilonAfter,
      delta: privacy.delta,
      psiFromNoise: psiFromNoiseByColumn,
    },
  };
}

/** The partials' samples merged: the rows of the `k` smallest priorities across all of them. */
function mergeSamples<T extends RowSample>(
  samples: readonly (T | undefined)[],
  k: number,
  extra?: (s: T, i: number) => 0 | 1,
) {
  const all = samples.flatMap((s) =>
    s ? s.rows.map((row, i) => ({ priority: s.priorities[i] as number, row, extra: extra?.(s, i) })) : [],
  );
  all.sort((a, b) => a.priority - b.priority);
  return all.slice(0, k);
}

/**
 * Drift attribution with the production version's explainer: the window's sample against the
 * training rows stored with it. A version without an explainer, or a failure here, leaves the
 * check as it was and says why.
 */
async function attribute(
  plan: CheckPlan,
  partials: readonly PartialCheck[],
  baseline: Profile,
  impactSettings: ImpactSettings,
  deps: MonitoringDependencies,
): Promise<{ attribution: DriftAttribution | null; attributionReason?: string }> {
  const production = plan.production as NonNullable<CheckPlan['production']>;
  try {
    const version = await deps.registry.get(plan.settings.model, production.version);
    const explainer = await loadModelExplainer(deps.lineage, version);
    if (!explainer)
      return {
        attribution: null,
        attributionReason: `v${production.version} was registered without an explainer`,
      };
    const current = mergeSamples(
      partials.map((p) => p.sample),
      ATTRIBUTION_ROWS,
    );
    if (current.length < 2) return { attribution: null, attributionReason: 'too few rows sampled' };
    const labelled = mergeSamples(
      partials.map((p) => p.labelledSample),
      ATTRIBUTION_LABELLED_ROWS,
      (s, i) => s.outcomes[i] as 0 | 1,
    );
    const { inputs } = explainer.artifact.pipeline;
    // Interventional, as `:explain` answers: the same values a caller saw for the same rows.
    const explain = (rows: readonly Readonly<Record<string, number | string | null>>[]) =>
      explainer.explain(tableOfInstances(rows, inputs));
    const outcomeBaseline = baseline.outcomes;
    // The holdout sample stored with the model (older artifacts: the background).
    const { reference, background } = explainer.artifact;
    const attribution = attributeDrift(explain(reference ?? background), explain(current.map((r) => r.row)), {
      ...(outcomeBaseline
        ? {
            moneyOf: (probabilities: ArrayLike<number>) => {
              const counts = new Array<number>(outcomeBaseline.edges.length + 1).fill(0);
              for (const p of Array.from(probabilities)) {
                const k = bucketOf(outcomeBaseline.edges, p);
                counts[k] = (counts[k] as number) + 1;
              }
              return impactFromDrift(counts, outcomeBaseline, impactSettings).costChangePerDay;
            },
          }
        : {}),
      ...(labelled.length > 0
        ? {
            labelled: {
              explanation: explain(labelled.map((r) => r.row)),
              outcomes: labelled.map((r) => r.extra as 0 | 1),
            },
          }
        : {}),
      minLabelled: Math.min(plan.settings.minLabelledRows, ATTRIBUTION_LABELLED_ROWS),
      currency: plan.settings.costs.currency,
    });
    // The report is canonical JSON, which has no NaN: a degenerate fit must not fail the check.
    if (!allFinite(attribution))
      return {
        attribution: null,
        attributionReason: 'attribution gave non-finite values (a degenerate sample)',
      };
    return { attribution };
  } catch (error) {
    return {
      attribution: null,
      attributionReason: `attribution failed: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}

/** Whether every number in a JSON-like value is finite. */
function allFinite(value: unknown): boolean {
  if (typeof value === 'number') return Number.isFinite(value);
  if (value === null || typeof value !== 'object') return true;
  return Object.values(value).every(allFinite);
}

/** Writes the reports, emits metrics and events, records flags in the registry. */
async function finishCheck(
  report: CheckReport,
  deps: MonitoringDependencies,
  settings: MonitoringSettings,
  profiles?: { readonly baseline: Profile; readonly current: Profile },
  labelledAt: readonly number[] = [],
): Promise<CheckSummary> {
  const json = await deps.lineage.putJson('drift', report);
  const html = profiles
    ? await deps.lineage.putBytes(
        'drift',
        new TextEncoder().encode(await renderReportHtml(report, profiles)),
        {
          contentType: 'text/html; charset=utf-8',
        },
      )
    : null;
  await deps.metrics.publish(MONITORING_NAMESPACE, checkMetrics(report));
  const alert = report.status === 'alert';
  const decision =
    alert && settings.alerts.retrain && report.version !== null
      ? decideRetrainRequest(await deps.registry.auditTrail(settings.model, report.version), {
          now: report.checkedAt,
          cooldownHours: settings.alerts.retrainCooldownHours,
          labelledAt,
          minNewLabelled: settings.minLabelledRows,
        })
      : { request: false };
  const retrainingRequested = alert && settings.alerts.retrain && decision.request;
  const reasons = decision.note ? [...report.reasons, decision.note] : report.reasons;
  const reason = reasons.join('; ');
  if ((alert || report.status === 'warning') && report.version !== null) {
    // The audit log tells the story: what was flagged, on which version, and where the report is.
    await deps.registry.recordEvaluation(
      settings.model,
      report.version,
      {
        metrics: Object.fromEntries(
          Object.entries({
            'production.moneyAtRisk': report.impact?.moneyAtRisk,
            'production.moneyAtRiskLower': report.impact?.interval.lower,
            'production.shareDrifted': report.drift?.shareDrifted,
            'production.predictionPsi': report.predictionDrift?.psi,
            'production.auc': report.outcomes?.auc,
            'production.labelled': report.outcomes?.labelled,
            'production.retrainingRequested': retrainingRequested ? 1 : 0,
          }).flatMap(([k, v]) => (typeof v === 'number' && Number.isFinite(v) ? [[k, v]] : [])),
        ),
        report: { sha256: json.sha256, uri: json.uri, sizeBytes: json.sizeBytes },
      },
      { actor: MONITORING_ACTOR, reason: `drift check ${report.status}: ${reason}` },
    );
  }
  const summary: CheckSummary = {
    model: report.model,
    version: report.version,
    status: report.status,
    reasons,
    moneyAtRisk: report.impact?.moneyAtRisk ?? null,
    shareDrifted: report.drift?.shareDrifted ?? null,
    predictions: report.rows.predictions,
    report: json,
    html,
    retrainingRequested,
  };
  const events: KeelEvent[] = [
    {
      source: CHECK_COMPLETED_EVENT.source,
      detailType: CHECK_COMPLETED_EVENT.detailType,
      detail: { ...summary, window: report.window },
    },
  ];
  if (retrainingRequested) {
    events.push({
      source: DRIFT_EVENT.source,
      detailType: DRIFT_EVENT.detailType,
      detail: { ...summary, window: report.window, model: report.model, reason },
    });
  }
  await deps.eventBus.publish(events);
  return summary;
}
