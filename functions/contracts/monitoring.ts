/**
 * What one model's drift check needs to know, derived from `keel.config.json`: the schedule
 * passes it as the event (CDK rule input, the local scheduler, `keel monitor run`) and the
 * Distributed Map definition gets it substituted, so the handlers stay model-agnostic.
 */
import { z } from 'zod';
import { NotFoundError } from '../kernel/errors.ts';
import { type KeelConfig, ledgerOf } from './config/schema.ts';

export const monitoringSettingsSchema = z.object({
  project: z.string().min(1),
  model: z.string().min(1),
  windowHours: z.number().positive(),
  minLabelledRows: z.number().int().positive(),
  thresholds: z.object({
    psiWarning: z.number().positive(),
    psiDrift: z.number().positive(),
    pValue: z.number().min(0).max(1),
    datasetShare: z.number().min(0).max(1),
  }),
  costs: z.object({
    currency: z.string(),
    falsePositive: z.number(),
    falseNegative: z.number(),
    truePositiveBenefit: z.number(),
  }),
  decisionsPerDay: z.number().positive(),
  alerts: z.object({
    dailyBudget: z.number().nonnegative(),
    on: z.enum(['impact', 'drift', 'either']),
    confidence: z.number().gt(0).lt(1),
    retrain: z.boolean(),
    retrainCooldownHours: z.number().nonnegative(),
  }),
  /** Private checks: every released count gets discrete Gaussian noise of scale `sigma`, spent from the ledger. */
  privacy: z
    .object({
      ledger: z.string(),
      epsilon: z.number().positive(),
      delta: z.number().gt(0).lt(1),
      sigma: z.number().positive(),
    })
    .optional(),
});

export type MonitoringSettings = z.output<typeof monitoringSettingsSchema>;

export function monitoringSettings(config: KeelConfig, model: string): MonitoringSettings {
  const m = config.models[model];
  if (!m) throw new NotFoundError(`no model named ${model} in the config`);
  return {
    project: config.project,
    model,
    windowHours: m.monitoring.windowHours,
    minLabelledRows: m.monitoring.minLabelledRows,
    thresholds: {
      psiWarning: m.alerts.psiWarning,
      psiDrift: m.alerts.psiDrift,
      pValue: m.alerts.pValue,
      datasetShare: m.alerts.datasetShare,
    },
    costs: m.costs,
    decisionsPerDay: m.decisionsPerDay,
    alerts: {
      dailyBudget: m.alerts.dailyBudget,
      on: m.alerts.on,
      confidence: m.alerts.confidence,
      retrain: m.alerts.retrain,
      retrainCooldownHours: m.alerts.retrainCooldownHours,
    },
    ...(m.monitoring.privacy && ledgerOf(m)
      ? {
          privacy: {
            ...(ledgerOf(m) as NonNullable<ReturnType<typeof ledgerOf>>),
            sigma: m.monitoring.privacy.sigma,
          },
        }
      : {}),
  };
}

/** CloudWatch namespace of the drift check's metrics (dimension `model`, and `feature` for PSI). */
export const MONITORING_NAMESPACE = 'Keel/Monitoring';

/** Metric names of the drift check, shared by the handler, the alarms and the dashboard. */
export const MONITORING_METRICS = {
  moneyAtRisk: 'MoneyAtRisk',
  moneyAtRiskLower: 'MoneyAtRiskLowerBound',
  shareDrifted: 'ShareOfDriftedFeatures',
  predictionPsi: 'PredictionPsi',
  featurePsi: 'FeaturePsi',
  auc: 'OutcomeAuc',
  precision: 'OutcomePrecision',
  recall: 'OutcomeRecall',
  ece: 'OutcomeCalibrationError',
  coverage: 'LabelledShare',
  rows: 'CheckedPredictions',
  alert: 'DriftAlert',
} as const;

/** The drift-check function and state machine of a project (one function serves every model). */
export const driftCheckFunctionName = (project: string, step: DriftCheckStep = 'check') =>
  `${project}-drift-${step}`;

export const driftCheckPipelineName = (project: string, model: string) => `${project}-${model}-drift-check`;

/** Lambda functions of the drift check, by the ASL placeholder naming them. */
export const DRIFT_CHECK_FUNCTIONS = {
  ListPartitionsFunction: 'list-partitions',
  ProfilePartitionFunction: 'profile-partition',
  ReduceFunction: 'reduce',
} as const;

export type DriftCheckStep = 'check' | (typeof DRIFT_CHECK_FUNCTIONS)[keyof typeof DRIFT_CHECK_FUNCTIONS];

/** The export of `functions/monitoring/lambda.ts` each function runs. */
export const DRIFT_CHECK_HANDLERS: Readonly<Record<DriftCheckStep, string>> = {
  check: 'driftCheckHandler',
  'list-partitions': 'listPartitionsHandler',
  'profile-partition': 'profilePartitionHandler',
  reduce: 'reduceHandler',
};

/** Events the drift check publishes besides the drift event that starts retraining. */
export const CHECK_COMPLETED_EVENT = { source: 'keel.monitoring', detailType: 'keel.drift.checked' } as const;

/** Substitutions of `drift-check.asl.json` other than the function ARNs. */
export function driftCheckSubstitutions(
  settings: MonitoringSettings,
  options: { readonly maxConcurrency: number },
): Record<string, string> {
  return { Settings: JSON.stringify(settings), MaxConcurrency: String(options.maxConcurrency) };
}

/** What one model's stale-feature review needs, derived from the config (the schedule's input). */
export const featureReviewSettingsSchema = z.object({
  project: z.string().min(1),
  model: z.string().min(1),
  label: z.string().min(1),
  costs: monitoringSettingsSchema.shape.costs,
  // Not a whole number locally, where it shrinks with the time scale.
  windowDays: z.number().positive(),
  maxRows: z.number().int().positive(),
  minLabelledRows: z.number().int().positive(),
  repeats: z.number().int().min(2),
  policy: z.object({
    floor: z.number().min(0),
    share: z.number().gt(0).max(1),
    confidence: z.number().gt(0.5).lt(1),
    personalDataFloor: z.number().min(0),
    weightFloor: z.number().min(0),
    features: z.record(
      z.string(),
      z.object({ costPerDecision: z.number().optional(), personalData: z.boolean().optional() }),
    ),
  }),
  retrainWithout: z.boolean(),
});

export type FeatureReviewSettings = z.output<typeof featureReviewSettingsSchema>;

export function featureReviewSettings(config: KeelConfig, model: string): FeatureReviewSettings {
  const m = config.models[model];
  if (!m) throw new NotFoundError(`no model named ${model} in the config`);
  const r = m.featureReview;
  return {
    project: config.project,
    model,
    label: m.data.label,
    costs: m.costs,
    windowDays: r.windowDays,
    maxRows: r.maxRows,
    minLabelledRows: r.minLabelledRows,
    repeats: r.repeats,
    policy: {
      floor: r.floor,
      share: r.share,
      confidence: r.confidence,
      personalDataFloor: r.personalDataFloor,
      weightFloor: r.weightFloor,
      features: r.features,
    },
    retrainWithout: r.retrainWithout,
  };
}

/** The feature-review function of a project (one for every model: the schedule passes the settings). */
export const featureReviewFunctionName = (project: string) => `${project}-feature-review`;

/** The export of `functions/monitoring/lambda.ts` the feature-review function runs. */
export const FEATURE_REVIEW_HANDLER = 'featureReviewHandler';

/** Every finished review (detail: model, version, flagged, stale, report). */
export const FEATURES_REVIEWED_EVENT = {
  source: 'keel.monitoring',
  detailType: 'keel.features.reviewed',
} as const;

/**
 * A review that flagged columns of a model whose `featureReview.retrainWithout` is set: the rule
 * that starts retraining with a candidate without them (detail: model, without, reason).
 */
export const RETRAIN_WITHOUT_EVENT = {
  source: 'keel.monitoring',
  detailType: 'keel.features.retrain-without',
} as const;
