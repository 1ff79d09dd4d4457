/**
 * Model cards, generated from the registry and lineage, never typed by hand.
 *
 * Design: `gatherCardFacts` reads what is known of a version (its registry metadata and audit
 * trail, its evaluation report, its fitted pipeline); `modelCardOf` is a pure function of
 * those facts; `recordModelCard` stores the card content-addressed in lineage and appends a
 * `CardRecorded` event, so the version points at its card and every regeneration (on
 * promotion) is in the audit log (`card-record.ts`: ajv stays out of the serving bundle, which
 * only reads cards). The card's `content` is the SageMaker Model Card schema's content fields
 * and is validated against the schema in `contracts/schemas` with ajv before it is stored; `keel` holds what that schema has no place for (feature provenance, drift,
 * approvals and deployment history), which the Markdown and HTML renderings show.
 *
 * A fact that cannot be read (a version without an evaluation report, an unreadable pipeline)
 * is said in the card, never a failure: a card of a thin version is a thin card.
 */
import {
  CARD_FORMAT,
  type CardContent,
  type CardMetric as Metric,
  type ModelCard,
} from '../contracts/card.ts';
import type { RegistryEvent } from '../contracts/registry.ts';
import type { ParetoRow } from '../contracts/retraining.ts';
import type { EvaluationReport } from '../core/evaluation/report.ts';
import type { GlobalDiagnostics } from '../core/explain/diagnostics.ts';
import type { FittedPipeline } from '../core/features/pipeline.ts';
import type { LineageStore } from '../lineage/store.ts';
import type { FeatureReviewRecord, ModelRegistry, ModelVersion } from './registry.ts';

/** What the config says of a model's business and risk: the card's hand-given parts. */
export interface CardContext {
  /** @default 'Unknown' */
  readonly riskRating?: 'High' | 'Medium' | 'Low' | 'Unknown';
  readonly riskRationale?: string;
  readonly businessProblem?: string;
  readonly businessStakeholders?: string;
  readonly lineOfBusiness?: string;
  readonly ethicalConsiderations?: string;
}

/** The evaluation of a version as its report in lineage holds it. */
export interface CardEvaluation {
  readonly holdout: EvaluationReport;
  /** On labelled production rows, when the retraining pipeline held some out. */
  readonly production?: EvaluationReport;
  readonly diagnostics?: GlobalDiagnostics;
  readonly mitigations?: readonly ParetoRow[];
}

export interface CardFacts {
  readonly version: ModelVersion;
  readonly events: readonly RegistryEvent[];
  /** Undefined: no report is stored, or it could not be read (`evaluationMissing` says why). */
  readonly evaluation?: CardEvaluation;
  readonly evaluationMissing?: string;
  readonly pipeline?: FittedPipeline;
  readonly context?: CardContext;
  readonly generatedAt: string;
  /** Why this card was made: `registration`, `promotion`, `request`. */
  readonly trigger: string;
}

const clip = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);
const round = (v: number, digits = 4) => Number(v.toFixed(digits));
const finite = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);

/** Reads a version's evaluation report in either shape Keel stores one. */
export function cardEvaluationOf(report: unknown): CardEvaluation | undefined {
  if (report === null || typeof report !== 'object') return undefined;
  const r = report as Record<string, unknown>;
  // The retraining pipeline's report: both models on each dataset, diagnostics, mitigations.
  const reports = r.reports as Record<string, { candidate?: EvaluationReport } | undefined> | undefined;
  if (reports?.holdout?.candidate) {
    const diagnostics = r.diagnostics as GlobalDiagnostics | { error: string } | undefined;
    return {
      holdout: reports.holdout.candidate,
      ...(reports.production?.candidate ? { production: reports.production.candidate } : {}),
      ...(diagnostics && !('error' in diagnostics) ? { diagnostics } : {}),
      ...(Array.isArray(r.mitigations) ? { mitigations: r.mitigations as ParetoRow[] } : {}),
    };
  }
  // `keel train`'s holdout report.
  if (typeof r.auc === 'number' && typeof r.rows === 'number') return { holdout: report as EvaluationReport };
  return undefined;
}

function metricsOf(report: EvaluationReport): Metric[] {
  const interval = (key: 'auc' | 'logLoss' | 'brier' | 'accuracy' | 'precision' | 'recall' | 'f1') => {
    const i = report.intervals?.[key];
    return i
      ? `${Math.round((report.intervals?.level ?? 0.95) * 100)} % bootstrap interval ${round(i.lower)}–${round(i.upper)} (${report.intervals?.samples} resamples)`
      : undefined;
  };
  const metric = (name: string, value: number, notes?: string): Metric[] =>
    finite(value) ? [{ name, type: 'number', value: round(value, 6), ...(notes ? { notes } : {}) }] : [];
  return [
    ...metric('auc', report.auc, interval('auc')),
    ...metric('log_loss', report.logLoss, interval('logLoss')),
    ...metric('brier', report.brier, interval('brier')),
    ...metric('accuracy', report.accuracy, interval('accuracy')),
    ...metric('precision', report.precision, interval('precision')),
    ...metric('recall', report.recall, interval('recall')),
    ...metric('f1', report.f1, interval('f1')),
    ...metric('decision_threshold', report.threshold),
    ...(report.cost ? metric(`cost_per_1000_${report.cost.currency}`, report.cost.per1000) : []),
  ];
}

function calibrationOf(report: EvaluationReport): Metric[] {
  const points = report.reliability
    .filter((b) => b.count > 0 && finite(b.meanPredicted) && finite(b.fractionPositive))
    .map((b) => [round(b.meanPredicted, 6), round(b.fractionPositive, 6)]);
  return [
    { name: 'expected_calibration_error', type: 'number', value: round(report.ece, 6) },
    ...(points.length > 0
      ? [
          {
            name: 'reliability',
            type: 'linear_graph',
            value: points,
            x_axis_name: 'mean predicted',
            y_axis_name: 'observed rate',
          },
        ]
      : []),
  ];
}

function fairnessGroups(report: EvaluationReport): { name: string; metric_data: Metric[] }[] {
  return Object.entries(report.fairness).map(([attribute, f]) => ({
    name: clip(`fairness: ${attribute}`, 63),
    metric_data: [
      { name: 'demographic_parity_ratio', type: 'number', value: round(f.demographicParityRatio, 6) },
      {
        name: 'demographic_parity_difference',
        type: 'number',
        value: round(f.demographicParityDifference, 6),
      },
      { name: 'equalized_odds_difference', type: 'number', value: round(f.equalizedOddsDifference, 6) },
      { name: 'equal_opportunity_difference', type: 'number', value: round(f.equalOpportunityDifference, 6) },
      { name: 'four_fifths_rule', type: 'boolean', value: f.fourFifthsRule },
      {
        name: 'selection_rate_by_group',
        type: 'bar_chart',
        value: Object.values(f.groups).map((g) => round(g.selectionRate, 6)),
        x_axis_name: Object.keys(f.groups).map((g) => clip(g, 63)),
        y_axis_name: 'selection rate',
      },
    ],
  }));
}

function evaluationDetail(name: string, report: EvaluationReport, observation: string) {
  return {
    name,
    evaluation_observation: clip(observation, 2096),
    metadata: { rows: String(report.rows), positives: String(report.positives) },
    metric_groups: [
      { name: 'performance', metric_data: metricsOf(report) },
      { name: 'calibration', metric_data: calibrationOf(report) },
      ...fairnessGroups(report),
    ],
  };
}

/** What the fairness measures and the mitigation say of the model's biases, in sentences. */
function knownBiases(version: ModelVersion, evaluation: CardEvaluation | undefined): string[] {
  const found: string[] = [];
  for (const [attribute, f] of Object.entries(evaluation?.holdout.fairness ?? {})) {
    if (!f.fourFifthsRule)
      found.push(
        `${attribute}: the selection rates' ratio is ${f.demographicParityRatio.toFixed(3)} on the holdout, below the four-fifths rule`,
      );
    if (f.equalizedOddsDifference > 0.1)
      found.push(
        `${attribute}: error rates differ by ${f.equalizedOddsDifference.toFixed(3)} between groups (equalised odds) on the holdout`,
      );
  }
  const m = version.metadata.mitigation;
  if (m)
    found.push(
      `mitigated with ${m.method} for ${m.constraint} on ${m.attribute}: ${m.value.toFixed(3)} on the holdout (bound ${m.bound}, ${m.met ? 'met' : 'not met'})`,
    );
  if (m?.attributeIsInput)
    found.push(
      `${m.attribute} is a model input: the model decides each group by its own threshold (threshold post-processing), so it treats groups differently by design`,
    );
  return found;
}

/** The card of a version, from its facts. Pure: the same facts, the same card. */
export function modelCardOf(facts: CardFacts): ModelCard {
  const { version, events, evaluation, pipeline } = facts;
  const meta = version.metadata;
  // The config's statements, as the version keeps them; a caller's override wins.
  const context: CardContext | undefined = facts.context ?? meta.card;
  const algorithm = meta.framework.endsWith('-lr')
    ? 'Logistic regression (L2, Newton), with its feature pipeline, in one ONNX graph'
    : meta.framework.endsWith('-gbdt')
      ? 'Gradient-boosted decision trees (Keel GBDT), with its feature pipeline, in one ONNX graph'
      : meta.framework;
  const reviewEvent = events.filter((e) => e.type === 'FeaturesReviewed').at(-1);
  const reviewRecord = reviewEvent?.details?.review as FeatureReviewRecord | undefined;
  const featureReview =
    reviewEvent && reviewRecord
      ? {
          at: reviewEvent.at,
          asOf: reviewRecord.asOf,
          rows: reviewRecord.rows,
          flagged: reviewRecord.flagged,
          summary: reviewRecord.summary,
          uri: reviewRecord.uri,
        }
      : null;
  const droppedFeatures = meta.tags.droppedFeatures ? meta.tags.droppedFeatures.split(', ') : null;
  const biases = [
    ...knownBiases(version, evaluation),
    ...Object.entries(featureReview?.flagged ?? {}).map(
      ([column, flags]) =>
        `${column}: the stale-feature review of ${featureReview?.asOf.slice(0, 10)} found it ${flags.join(', ')}`,
    ),
  ];
  const reviewSentence = featureReview
    ? `Stale-feature review (${featureReview.asOf.slice(0, 10)}, ${featureReview.rows} labelled decisions): ${featureReview.summary}.`
    : 'The stale-feature review has not looked at this version yet.';
  const approvals = events
    .filter((e) => e.type === 'VersionStatusChanged' || e.type === 'VersionRegistered')
    .map((e) => ({ at: e.at, actor: e.actor, reason: e.reason, status: String(e.to ?? '') }));
  const deployments = events
    .filter((e) => e.type === 'AliasMoved' || e.type === 'DeploymentRecorded')
    .map((e) => ({
      at: e.at,
      actor: e.actor,
      reason: e.reason,
      event:
        e.type === 'AliasMoved'
          ? `${e.alias}: ${e.from ?? '∅'} → ${e.to}${e.details?.rollback ? ' (rollback)' : ''}`
          : `deployment ${String(e.details?.status ?? '')}`,
    }));
  const driftHistory = version.evaluations
    .filter((e) => Object.keys(e.evaluation.metrics).some((k) => k.startsWith('production.')))
    .map((e) => ({ at: e.at, reason: e.reason, metrics: e.evaluation.metrics }));
  const topFeatures = evaluation?.diagnostics?.permutation.slice(0, 5) ?? null;
  const holdout = evaluation?.holdout;
  const protectedInputs = meta.inputSchema.filter((f) => f.protected).map((f) => f.name);
  const trainingRows = meta.trainingData.reduce((s, d) => s + (d.rows ?? 0), 0);
  const custom: Record<string, string> = {
    'keel.training_data_sha256': meta.trainingData.map((d) => d.sha256).join(', '),
    'keel.feature_pipeline_version': meta.featurePipeline.version,
    'keel.code_version': meta.codeVersion,
    'keel.seed': String(meta.seed),
    'keel.status': version.status,
    'keel.aliases': version.aliases.join(', ') || 'none',
    'keel.privacy': meta.privacy
      ? `DP-SGD: ε = ${meta.privacy.epsilon.toFixed(3)} at δ = ${meta.privacy.delta} (${meta.privacy.accountant} accountant; σ = ${meta.privacy.noiseMultiplier.toFixed(3)}, q = ${meta.privacy.sampleRate.toFixed(5)}, ${meta.privacy.steps} steps, clip ${meta.privacy.clip})${meta.privacy.ledger ? `; spent from ledger ${meta.privacy.ledger.name}, entry ${meta.privacy.ledger.seq}` : ''}`
      : 'no differential privacy applied',
    ...(meta.federated
      ? {
          'keel.federated': `${meta.federated.method === 'fedprox' ? `FedProx (μ = ${meta.federated.mu})` : 'FedAvg'} over ${meta.federated.rounds} rounds; ${meta.federated.clients} clients, ${meta.federated.rows} rows in the last round; ${meta.federated.secureAggregation ? 'secure aggregation: the server saw only the sum of the clients’ models' : 'no secure aggregation'} (session ${meta.federated.session})`,
        }
      : {}),
    'keel.feature_review': featureReview
      ? `${featureReview.asOf}: ${featureReview.summary} (${featureReview.uri})`
      : 'not yet reviewed',
    ...(droppedFeatures ? { 'keel.dropped_features': droppedFeatures.join(', ') } : {}),
    ...(topFeatures ? { 'keel.top_features': topFeatures.map((t) => t.column).join(', ') } : {}),
    ...(protectedInputs.length > 0 ? { 'keel.protected_inputs': protectedInputs.join(', ') } : {}),
    'keel.drift_checks_flagged': String(driftHistory.length),
    'keel.approvals': clip(
      approvals
        .filter((a) => a.status === 'approved' || a.status === 'rejected')
        .map((a) => `${a.status} by ${a.actor} at ${a.at}: ${a.reason}`)
        .join('; ') || 'none yet',
      1024,
    ),
    'keel.deployments': clip(deployments.map((d) => `${d.at} ${d.event}`).join('; ') || 'none yet', 1024),
  };
  const content: CardContent = {
    model_overview: {
      model_name: version.model,
      model_version: version.version,
      model_id: `${version.model}@${version.version}`,
      model_description: clip(`${meta.intendedUse} (${algorithm}).`, 1024),
      model_owner: clip(meta.owner, 1024),
      model_creator: clip(version.registeredBy, 1024),
      problem_type: 'Binary classification',
      algorithm_type: algorithm,
      model_artifact: [clip(meta.artifact.uri, 1024)],
    },
    intended_uses: {
      purpose_of_model: clip(meta.intendedUse, 2048),
      intended_uses: clip(meta.intendedUse, 2048),
      factors_affecting_model_efficiency: clip(
        [...meta.limitations, 'Drift from the training population (see the drift history).'].join(' '),
        2048,
      ),
      risk_rating: context?.riskRating ?? 'Unknown',
      ...(context?.riskRationale ? { explanations_for_risk_rating: clip(context.riskRationale, 2048) } : {}),
    },
    business_details: {
      ...(context?.businessProblem ? { business_problem: clip(context.businessProblem, 2048) } : {}),
      ...(context?.businessStakeholders
        ? { business_stakeholders: clip(context.businessStakeholders, 2048) }
        : {}),
      ...(context?.lineOfBusiness ? { line_of_business: clip(context.lineOfBusiness, 2048) } : {}),
    },
    training_details: {
      objective_function: {
        function: { function: 'Minimize', facet: 'Loss', condition: 'binary log loss' },
        notes: meta.mitigation
          ? clip(
              `Trained with ${meta.mitigation.method} for ${meta.mitigation.constraint} on ${meta.mitigation.attribute}.`,
              1024,
            )
          : 'Binary log loss.',
      },
      training_observations: clip(
        `${trainingRows > 0 ? `${trainingRows} rows` : 'Rows not recorded'}; ${meta.inputSchema.length} raw inputs${
          pipeline ? `, ${pipeline.features.length} model inputs after the feature pipeline` : ''
        }; seed ${meta.seed}.`,
        1024,
      ),
      training_job_details: {
        training_datasets: meta.trainingData.slice(0, 15).map((d) => clip(d.uri, 1024)),
        hyper_parameters: Object.entries(meta.hyperparameters)
          .filter(([, v]) => v !== null && String(v).length > 0)
          .slice(0, 100)
          .map(([name, value]) => ({ name: clip(name, 255), value: clip(String(value), 255) })),
        ...(holdout && finite(holdout.auc)
          ? { training_metrics: [{ name: 'holdout_auc', value: round(holdout.auc, 6) }] }
          : {}),
      },
    },
    evaluation_details: holdout
      ? [
          evaluationDetail(
            'holdout',
            holdout,
            `Held-out rows of the training data, never trained on (${holdout.rows} rows, prevalence ${holdout.prevalence.toFixed(3)}), at decision threshold ${round(holdout.threshold)}.`,
          ),
          ...(evaluation?.production
            ? [
                evaluationDetail(
                  'production',
                  evaluation.production,
                  `Labelled production predictions held out by the retraining pipeline (${evaluation.production.rows} rows).`,
                ),
              ]
            : []),
        ]
      : [
          {
            name: 'holdout',
            evaluation_observation: clip(
              `No evaluation is available for this version: ${facts.evaluationMissing ?? 'no report is stored'}.`,
              2096,
            ),
          },
        ],
    additional_information: {
      ethical_considerations: clip(
        [
          context?.ethicalConsiderations,
          biases.length > 0 ? `Known biases: ${biases.join('; ')}.` : 'No fairness finding on the holdout.',
        ]
          .filter(Boolean)
          .join(' '),
        2048,
      ),
      caveats_and_recommendations: clip(
        [
          ...meta.limitations,
          holdout ? '' : 'This version has no evaluation on record: judge it before relying on it.',
          reviewSentence,
          droppedFeatures
            ? `Trained without ${droppedFeatures.join(', ')}, which a stale-feature review flagged.`
            : '',
        ]
          .filter(Boolean)
          .join(' '),
        2048,
      ),
      custom_details: Object.fromEntries(Object.entries(custom).map(([k, v]) => [k, clip(v, 1024)])),
    },
  };
  return {
    format: CARD_FORMAT,
    model: version.model,
    version: version.version,
    generatedAt: facts.generatedAt,
    trigger: facts.trigger,
    content,
    keel: {
      status: version.status,
      aliases: version.aliases,
      inputs: meta.inputSchema.map((f) => ({
        name: f.name,
        type: f.type,
        protected: f.protected === true,
        pii: f.pii,
      })),
      features: pipeline?.features ?? null,
      evaluation: {
        holdout: holdout ?? null,
        production: evaluation?.production ?? null,
        missing: holdout ? null : (facts.evaluationMissing ?? 'no report is stored'),
      },
      mitigation: meta.mitigation ?? null,
      mitigations: evaluation?.mitigations ?? null,
      knownBiases: biases,
      topFeatures,
      driftHistory,
      approvals,
      deployments,
      privacy: meta.privacy ?? null,
      featureReview,
      droppedFeatures,
    },
  };
}

/** Reads what the registry and lineage know of a version; what cannot be read is noted. */
export async function gatherCardFacts(
  deps: { readonly registry: ModelRegistry; readonly lineage: Pick<LineageStore, 'getJson'> },
  model: string,
  ref: number | string,
  options: { readonly trigger: string; readonly context?: CardContext; readonly now?: () => Date } = {
    trigger: 'request',
  },
): Promise<CardFacts> {
  const version = await deps.registry.get(model, ref);
  const events = await deps.registry.auditTrail(model, version.version);
  const meta = version.metadata;
  let evaluation: CardEvaluation | undefined;
  let evaluationMissing: string | undefined;
  if (meta.evaluation.report) {
    try {
      evaluation = cardEvaluationOf(
        await deps.lineage.getJson({ kind: 'evaluations', sha256: meta.evaluation.report.sha256 }),
      );
      if (!evaluation) evaluationMissing = 'its stored report has no holdout evaluation';
    } catch (error) {
      evaluationMissing = `its report could not be read (${error instanceof Error ? error.message : String(error)})`;
    }
  } else evaluationMissing = 'no evaluation report was recorded with it';
  let pipeline: FittedPipeline | undefined;
  try {
    pipeline = await deps.lineage.getJson<FittedPipeline>({
      kind: 'pipelines',
      sha256: meta.featurePipeline.version,
    });
  } catch {
    // Registered elsewhere (an imported ONNX file): its feature provenance is unknown.
  }
  return {
    version,
    events,
    ...(evaluation ? { evaluation } : {}),
    ...(evaluationMissing ? { evaluationMissing } : {}),
    ...(pipeline ? { pipeline } : {}),
    ...(options.context ? { context: options.context } : {}),
    generatedAt: (options.now?.() ?? new Date()).toISOString(),
    trigger: options.trigger,
  };
}

/**
 * A version's card as stored (the one it points at), or, for a version that has none (it was
 * registered before cards), one generated now and not stored.
 */
export async function loadModelCard(
  deps: { readonly registry: ModelRegistry; readonly lineage: Pick<LineageStore, 'getJson'> },
  model: string,
  ref: number | string,
): Promise<{ card: ModelCard; stored: boolean }> {
  const version = await deps.registry.get(model, ref);
  const pointer = await deps.registry.cardOf(model, version.version);
  if (pointer)
    return {
      card: await deps.lineage.getJson<ModelCard>({ kind: 'records', sha256: pointer.sha256 }),
      stored: true,
    };
  return {
    card: modelCardOf(await gatherCardFacts(deps, model, version.version, { trigger: 'request' })),
    stored: false,
  };
}

export { CARD_FORMAT, type CardContent, type ModelCard };
