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
import { ValidationError } from '../commons/errors.ts';
import type { EventBus, KeelEvent, MetricDatum, MetricsSink } from '../commons/ports/index.ts';
import { CategoricalBuilder, NumericBuilder } from '../core/data/table.ts';
import { addTable, emptyProfileLike, finish, mergeProfiles, type Profile } from '../core/drift/profile.ts';
import { type DriftReport, driftReport, type FeatureDrift } from '../core/drift/report.ts';
import { type Impact, impactFromDrift, impactFromOutcomes } from '../core/monitoring/impact.ts';
import { type LabelledDecision, type OutcomeMetrics, outcomeMetrics } from '../core/monitoring/outcomes.ts';
import { bucketOf } from '../core/search.ts';
import { SCORE_COLUMN } from '../core/training/train.ts';
import { type CapturePartitions, type FeedbackRecord, latestOutcomes } from '../inference/capture.ts';
import type { ArtifactRef, LineageStore } from '../lineage/store.ts';
import type { ModelRegistry } from '../registry/registry.ts';
import type { RegistryEvent } from '../registry/schema.ts';
import { DRIFT_EVENT, PIPELINE_ACTOR, RETRAINING_ENDED_METRIC } from '../retraining/settings.ts';
import { renderReportHtml } from './html.ts';
import {
  CHECK_COMPLETED_EVENT,
  MONITORING_METRICS,
  MONITORING_NAMESPACE,
  type MonitoringSettings,
} from './settings.ts';

export interface MonitoringDependencies {
  readonly registry: ModelRegistry;
  readonly lineage: LineageStore;
  readonly captures: CapturePartitions;
  readonly eventBus: EventBus;
  readonly metrics: MetricsSink;
  /** @default the clock */
  readonly now?: () => Date;
}

export interface CheckRequest {
  readonly settings: MonitoringSettings;
  /** End of the window (ISO 8601). @default now */
  readonly asOf?: string;
}

type Ref = Pick<ArtifactRef, 'kind' | 'sha256'>;
const refOf = (r: ArtifactRef): Ref => ({ kind: r.kind, sha256: r.sha256 });

/** What the children and the reducer need: small enough for a state's payload. */
export interface CheckPlan {
  readonly settings: MonitoringSettings;
  readonly window: { readonly from: string; readonly to: string };
  /** The version checked; absent when no version is in production (nothing to check). */
  readonly production?: { readonly version: number; readonly baseline: Ref };
  /** Hour partitions (their start, ISO) holding predictions of the window. */
  readonly hours: readonly string[];
  /** Outcomes fed back for the window's predictions: `{ids, outcomes}` in lineage. */
  readonly outcomes?: Ref;
  readonly feedbackRecords: number;
  /** Distinct prediction ids with an outcome fed back in the window. */
  readonly outcomeIds?: number;
}

/** One child's share of the check, stored in lineage. */
export interface PartialCheck {
  readonly format: 'keel.drift-partial/v1';
  readonly predictions: number;
  readonly files: number;
  readonly inputs: Profile;
  readonly scores: Profile;
  /** The production version's scores counted over the outcome baseline's buckets (impact from drift). */
  readonly scoreCounts: readonly number[];
  /** [probability, decision, outcome, prediction time in ms] of each labelled prediction. */
  readonly labelled: readonly (readonly [number, 0 | 1, 0 | 1, number?])[];
  /** Predictions (any version or path) whose outcome came back: the rest of the outcomes name none. */
  readonly matched?: number;
}

export type CheckStatus = 'ok' | 'warning' | 'alert' | 'no-data' | 'no-model';

export interface CheckReport {
  readonly format: 'keel.drift-report/v1';
  readonly model: string;
  readonly version: number | null;
  readonly checkedAt: string;
  readonly window: { readonly from: string; readonly to: string };
  readonly status: CheckStatus;
  /** Why the status is what it is, in words. */
  readonly reasons: readonly string[];
  readonly rows: { readonly predictions: number; readonly scored: number; readonly files: number };
  readonly drift: DriftReport | null;
  readonly predictionDrift: FeatureDrift | null;
  readonly outcomes:
    | (OutcomeMetrics & {
        readonly baseline: Record<string, number | null>;
        /**
         * Outcomes fed back in the window that name no prediction in it: unknown prediction ids,
         * or decisions made before the window.
         */
        readonly unmatched?: number;
      })
    | null;
  /** The estimate that decides: from outcomes when enough came back, else from drift. */
  readonly impact: Impact | null;
  /** Both estimates, when each can be made. */
  readonly impacts: { readonly outcomes: Impact | null; readonly drift: Impact | null };
  readonly currency: string;
  readonly thresholds: MonitoringSettings['thresholds'] & {
    readonly alertOn: MonitoringSettings['alerts']['on'];
    readonly minLabelledRows: number;
  };
}

/** The small answer of a check (the state machine's output, the CLI's summary). */
export interface CheckSummary {
  readonly model: string;
  readonly version: number | null;
  readonly status: CheckStatus;
  readonly reasons: readonly string[];
  readonly moneyAtRisk: number | null;
  readonly shareDrifted: number | null;
  readonly predictions: number;
  readonly report: ArtifactRef | null;
  readonly html: ArtifactRef | null;
  /** Whether a `keel.drift.detected` event was published (retraining starts). */
  readonly retrainingRequested: boolean;
}

const HOUR_MS = 3_600_000;

/** Step 1: what to read. */
export async function planCheck(request: CheckRequest, deps: MonitoringDependencies): Promise<CheckPlan> {
  const { settings } = request;
  const to = request.asOf ? new Date(request.asOf) : (deps.now?.() ?? new Date());
  const from = new Date(to.getTime() - settings.windowHours * HOUR_MS);
  const window = { from: from.toISOString(), to: to.toISOString() };
  const production = (await deps.registry.aliases(settings.model).catch(() => ({}) as Record<string, number>))
    .production;
  const version = production === undefined ? undefined : await deps.registry.get(settings.model, production);
  const profileSha = version?.metadata.tags.profile;
  if (production === undefined || !profileSha) return { settings, window, hours: [], feedbackRecords: 0 };
  const range = { from, to };
  const [predictionFiles, feedbackFiles] = await Promise.all([
    deps.captures.files(settings.model, 'prediction', range),
    deps.captures.files(settings.model, 'feedback', range),
  ]);
  const hours = [
    ...new Set(
      predictionFiles.flatMap((key) => {
        const m = /\/date=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\//.exec(key);
        return m ? [`${m[1]}T${m[2]}:00:00.000Z`] : [];
      }),
    ),
  ].sort();
  const reports: FeedbackRecord[] = [];
  for (const key of feedbackFiles) {
    for (const r of await deps.captures.readFile(key)) {
      if (r.type !== 'feedback' || r.model !== settings.model || typeof r.prediction_id !== 'string')
        continue;
      const at = String(r.timestamp ?? '');
      if (at < window.from || at > window.to || (r.outcome !== 0 && r.outcome !== 1)) continue;
      reports.push(r as unknown as FeedbackRecord);
    }
  }
  const feedbackRecords = reports.length;
  const latest = latestOutcomes(reports);
  const ids = [...latest.keys()].sort();
  const outcomes = await deps.lineage.putJson('drift', {
    format: 'keel.outcomes/v1',
    ids,
    outcomes: ids.map((id) => (latest.get(id) as FeedbackRecord).outcome),
  });
  return {
    settings,
    window,
    production: { version: production, baseline: { kind: 'profiles', sha256: profileSha } },
    hours,
    outcomes: refOf(outcomes),
    feedbackRecords,
    outcomeIds: ids.length,
  };
}

/** Step 2: profiles the predictions of some hour partitions; returns the partial's address. */
export async function profilePartitions(
  input: { readonly plan: CheckPlan; readonly hours: readonly string[] },
  deps: MonitoringDependencies,
): Promise<{ partial: Ref; predictions: number; files: number }> {
  const { plan } = input;
  const production = plan.production;
  if (!production || !plan.outcomes)
    throw new ValidationError('Nothing to profile', [
      { path: 'plan.production', message: 'the plan has no production version with a baseline' },
    ]);
  const baseline = await deps.lineage.getJson<Profile>(production.baseline);
  const stored = await deps.lineage.getJson<{ ids: string[]; outcomes: (0 | 1)[] }>(plan.outcomes);
  const outcomes = new Map(stored.ids.map((id, i) => [id, stored.outcomes[i] as 0 | 1]));
  const inputs = emptyProfileLike(baseline);
  const scoreColumn = inputs.columns[SCORE_COLUMN];
  delete inputs.columns[SCORE_COLUMN];
  const scores: Profile = { format: 'keel.profile/v1', rows: 0, columns: {} };
  if (scoreColumn) scores.columns[SCORE_COLUMN] = scoreColumn;
  const columns = Object.entries(inputs.columns);
  const outcomeEdges = baseline.outcomes?.edges ?? [];
  const scoreCounts = new Array<number>(outcomeEdges.length + 1).fill(0);
  const labelled: [number, 0 | 1, 0 | 1, number][] = [];
  const version = String(production.version);
  const { from, to } = plan.window;
  let predictions = 0;
  let files = 0;
  let matched = 0;
  for (const hour of input.hours) {
    const start = new Date(hour);
    const keys = await deps.captures.files(plan.settings.model, 'prediction', {
      from: start,
      to: new Date(start.getTime() + HOUR_MS - 1),
    });
    for (const key of keys) {
      files++;
      // One file at a time, as columns: the profile's column-wise path (typed arrays, row
      // priorities hashed from the file and row) — the path the drift benchmark measures.
      const builders = columns.map(([name, c]) => [
        name,
        c.kind === 'numeric' ? new NumericBuilder() : new CategoricalBuilder(),
      ]) as [string, NumericBuilder | CategoricalBuilder][];
      const scored = new NumericBuilder();
      let rows = 0;
      let scoredRows = 0;
      for (const r of await deps.captures.readFile(key)) {
        // Shadow scores are nobody's decision; other models' records never belong here.
        if (r.type !== 'prediction' || r.model !== plan.settings.model || r.shadow_of !== undefined) continue;
        const at = r.timestamp;
        if (typeof at !== 'string' || at < from || at > to || typeof r.prediction_id !== 'string') continue;
        const row = (r.inputs ?? {}) as Record<string, unknown>;
        const out = r.outputs as { probability?: unknown; label?: unknown } | undefined;
        rows++;
        for (const [name, builder] of builders) {
          const value = row[name];
          if (builder instanceof NumericBuilder) builder.push(typeof value === 'number' ? value : Number.NaN);
          else builder.push(value === null || value === undefined || value === '' ? null : String(value));
        }
        const probability = typeof out?.probability === 'number' ? out.probability : Number.NaN;
        // Score drift is the production model's: a canary's or the fallback's scores are another model's.
        if (r.model_version === version && r.served_by === 'primary' && Number.isFinite(probability)) {
          scored.push(probability);
          scoredRows++;
          const k = bucketOf(outcomeEdges, probability);
          scoreCounts[k] = (scoreCounts[k] as number) + 1;
        }
        // Outcomes judge the production model's own decisions: a canary's, the fallback's or an
        // earlier version's are another model's.
        const outcome = outcomes.get(r.prediction_id);
        if (outcome !== undefined) matched++;
        const own = r.model_version === version && r.served_by === 'primary';
        if (outcome !== undefined && own && Number.isFinite(probability))
          labelled.push([probability, out?.label === 1 ? 1 : 0, outcome, Date.parse(at)]);
      }
      predictions += rows;
      addTable(
        inputs,
        { rowCount: rows, columns: new Map(builders.map(([name, b]) => [name, b.build()])) },
        key,
      );
      if (scoreColumn)
        addTable(scores, { rowCount: scoredRows, columns: new Map([[SCORE_COLUMN, scored.build()]]) }, key);
    }
  }
  const partial: PartialCheck = {
    format: 'keel.drift-partial/v1',
    predictions,
    files,
    inputs: finish(inputs),
    scores: finish(scores),
    scoreCounts,
    labelled,
    matched,
  };
  return { partial: refOf(await deps.lineage.putJson('drift', partial)), predictions, files };
}

const round = (v: number | null | undefined, digits = 6) =>
  v === null || v === undefined || !Number.isFinite(v) ? null : Number(v.toFixed(digits));

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
  const current: Profile = { ...inputs, columns: { ...inputs.columns, ...scores.columns } };
  const features = Object.keys(baseline.columns).filter((c) => c !== SCORE_COLUMN);
  const drift = driftReport(baseline, current, { ...settings.thresholds, features });
  const scored = scores.rows;
  const predictionDrift =
    scored > 0
      ? (driftReport(baseline, current, { ...settings.thresholds, features: [SCORE_COLUMN] }).features[
          SCORE_COLUMN
        ] ?? null)
      : null;

  const labelled: LabelledDecision[] = partials.flatMap((p) =>
    p.labelled.map(([probability, decision, outcome]) => ({ probability, decision, outcome })),
  );
  // Coverage is of the production model's own decisions.
  const outcomes = outcomeMetrics(labelled, scored);
  const impactSettings = {
    costs: settings.costs,
    decisionsPerDay: settings.decisionsPerDay,
    dailyBudget: settings.alerts.dailyBudget,
    confidence: settings.alerts.confidence,
  };
  const outcomeBaseline = baseline.outcomes;
  const fromOutcomes =
    outcomeBaseline && labelled.length > 0
      ? impactFromOutcomes(outcomes.confusion, outcomeBaseline, impactSettings)
      : null;
  const scoreCounts = partials.map((p) => p.scoreCounts).reduce((a, b) => a.map((v, k) => v + (b[k] ?? 0)));
  const fromDrift =
    outcomeBaseline && scored > 0 ? impactFromDrift(scoreCounts, outcomeBaseline, impactSettings) : null;
  const impact = labelled.length >= settings.minLabelledRows && fromOutcomes ? fromOutcomes : fromDrift;

  const judged = judge(settings, drift, predictionDrift, impact, labelled.length);
  const { status } = judged;
  const matched = partials.reduce((n, p) => n + (p.matched ?? 0), 0);
  const unmatched = Math.max(0, (plan.outcomeIds ?? matched) - matched);
  const reasons =
    unmatched > 0
      ? [
          ...judged.reasons,
          `${unmatched} outcome(s) fed back name no prediction of the window (unknown ids, or decisions before it)`,
        ]
      : judged.reasons;
  const report: CheckReport = {
    format: 'keel.drift-report/v1',
    model: settings.model,
    version: plan.production.version,
    checkedAt,
    window: plan.window,
    status,
    reasons,
    rows: { predictions, scored, files: partials.reduce((s, p) => s + p.files, 0) },
    drift,
    predictionDrift,
    outcomes: {
      ...outcomes,
      baseline: { ...(outcomeBaseline?.metrics ?? {}) },
      unmatched,
    },
    impact,
    impacts: { outcomes: fromOutcomes, drift: fromDrift },
    currency: settings.costs.currency,
    thresholds,
  };
  const labelledAt = partials.flatMap((p) => p.labelled.map((l) => l[3] ?? Number.NaN));
  return finishCheck(report, deps, settings, { baseline, current }, labelledAt);
}

const money = (v: number, currency: string) => `${currency} ${Math.round(v).toLocaleString('en-US')}`;

/** The status and its reasons: alerts follow `alerts.on`; every other flag is a warning. */
export function judge(
  settings: MonitoringSettings,
  drift: DriftReport,
  prediction: FeatureDrift | null,
  impact: Impact | null,
  labelled: number,
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
  } else reasons.push('money at risk cannot be estimated (the baseline has no outcome record)');
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
    ? await deps.lineage.putBytes('drift', new TextEncoder().encode(renderReportHtml(report, profiles)), {
        contentType: 'text/html; charset=utf-8',
      })
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

const MONITORING_ACTOR = 'keel-monitoring';

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
