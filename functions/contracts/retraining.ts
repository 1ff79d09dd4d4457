/**
 * What one model's retraining pipeline needs to know, derived from `keel.config.json` and
 * substituted into the ASL definition (`${Settings}`) by CDK and by the local runtime alike, so
 * every state reads its thresholds from `$.settings` and the handlers stay model-agnostic.
 */
import { z } from 'zod';
import { NotFoundError } from '../kernel/errors.ts';
import { trafficShiftOf } from './config/load.ts';
import {
  FAIRNESS_CONSTRAINT_NAMES,
  type KeelConfig,
  ledgerOf,
  MITIGATION_METHOD_NAMES,
  type ModelConfig,
} from './config/schema.ts';

const hyperparameters = z.record(z.string(), z.union([z.number(), z.string(), z.boolean()]));

/** The actor the pipeline records in the registry's audit log. */
export const PIPELINE_ACTOR = 'keel-retraining';

/** Source of the pipeline's events on the bus (`Retraining Started`, `Retraining Finished`). */
export const RETRAINING_EVENT_SOURCE = 'keel.retraining';
export const RETRAINING_FINISHED = 'Retraining Finished';

/** The detail of a `Retraining Finished` event: how a run ended and why. */
export type RetrainingFinished = {
  readonly model: string;
  readonly execution: string;
  readonly outcome: 'promoted' | 'rolled-back' | 'rejected' | 'failed';
  /** One line: the gate and its reason, the failing step's cause, or the rollback's alarm. */
  readonly reason: string;
  readonly trigger: { readonly type?: string; readonly reason?: string };
  readonly version?: number;
  readonly gate?: string;
  readonly deploymentId?: string;
  readonly rollout?: string;
  readonly error?: string;
  readonly cause?: string;
  readonly report?: string;
};

/** Audit metric of a run that ended without promotion: the drift check reads it to allow a retry. */
export const RETRAINING_ENDED_METRIC = 'retraining.ended';

export const retrainingSettingsSchema = z.object({
  project: z.string(),
  model: z.string(),
  owner: z.string(),
  intendedUse: z.string(),
  limitations: z.array(z.string()),
  /** The config's risk and business statements for the model card. */
  card: z.record(z.string(), z.string()).optional(),
  /** Git commit of the code the pipeline runs, recorded with every version it registers. */
  codeVersion: z.string(),
  data: z.object({
    source: z.string(),
    label: z.string(),
    positiveLabel: z.union([z.string(), z.number()]),
    protectedAttributes: z.array(z.string()),
    piiFields: z.array(z.string()),
    /** The privacy ledger the data spends from, and its budget. */
    privacy: z.object({ ledger: z.string(), epsilon: z.number(), delta: z.number() }).optional(),
  }),
  features: z.array(z.record(z.string(), z.unknown())),
  training: z.object({
    seed: z.number().int(),
    holdout: z.number(),
    configurations: z.array(z.object({ algorithm: z.enum(['lr', 'gbdt']), hyperparameters })).min(1),
    /** Quantile buckets per numeric column of the drift baseline. */
    profileBins: z.number().int().min(2),
    /** Values sampled per numeric column of the drift baseline (0: counts only). */
    profileSampleSize: z.number().int().min(0),
    /** DP-SGD's target per configuration trained; each spends from `data.privacy`'s ledger. */
    privacy: z
      .object({
        epsilon: z.number(),
        delta: z.number(),
        clip: z.number(),
        epochs: z.number(),
        batchSize: z.number().int(),
        learningRate: z.number(),
      })
      .optional(),
  }),
  costs: z.object({
    currency: z.string(),
    falsePositive: z.number(),
    falseNegative: z.number(),
    truePositiveBenefit: z.number(),
  }),
  decisionsPerDay: z.number(),
  sampling: z.object({
    productionWindowDays: z.number(),
    maxProductionRows: z.number(),
    productionEvaluationShare: z.number(),
    minProductionRows: z.number(),
  }),
  gates: z.object({
    performanceTolerance: z.number(),
    driftMargin: z.number(),
    driftHoldoutTolerance: z.number(),
    minDemographicParityRatio: z.number(),
    maxEqualizedOddsDifference: z.number(),
    bootstrapSamples: z.number().int(),
    maxPerturbationDelta: z.number(),
    perturbation: z.number(),
    maxBatchLatencyMs: z.number(),
    latencyBatchRows: z.number().int(),
    goldenSetTolerance: z.number(),
    monotone: z.record(z.string(), z.union([z.literal(1), z.literal(-1)])),
    mitigations: z.array(
      z.object({
        method: z.enum(MITIGATION_METHOD_NAMES),
        constraint: z.optional(z.enum(FAIRNESS_CONSTRAINT_NAMES)),
        iterations: z.optional(z.number().int()),
      }),
    ),
  }),
  approval: z.object({ required: z.boolean(), timeoutSeconds: z.number().int().positive() }),
  deploy: z.object({ shift: z.unknown() }),
  sagemaker: z.object({
    /** Rows above which training goes to SageMaker; never when no image is configured. */
    rowThreshold: z.number(),
    image: z.string(),
    instanceType: z.string(),
    maxRuntimeSeconds: z.number().int(),
  }),
});

export type RetrainingSettings = z.output<typeof retrainingSettingsSchema>;

/** Rows no dataset reaches: keeps the SageMaker branch closed when no image is configured. */
export const NEVER_ROWS = Number.MAX_SAFE_INTEGER;

export function retrainingSettings(
  config: KeelConfig,
  model: string,
  options: { readonly codeVersion: string },
): RetrainingSettings {
  const m: ModelConfig | undefined = config.models[model];
  if (!m) throw new NotFoundError(`no model named ${model} in the config`);
  const { training, gates, retraining } = m;
  return {
    project: config.project,
    model,
    owner: m.owner,
    intendedUse: m.intendedUse || m.description || `${model} model`,
    limitations: m.limitations,
    card: Object.fromEntries(Object.entries(m.card).filter(([, v]) => v !== undefined)) as Record<
      string,
      string
    >,
    codeVersion: options.codeVersion,
    data: {
      source: m.data.source,
      label: m.data.label,
      positiveLabel: m.data.positiveLabel,
      protectedAttributes: m.data.protectedAttributes,
      piiFields: m.data.piiFields,
      ...(ledgerOf(m) ? { privacy: ledgerOf(m) } : {}),
    },
    features: m.features as unknown as Record<string, unknown>[],
    training: {
      seed: training.seed,
      holdout: training.holdout,
      configurations: [
        { algorithm: training.algorithm, hyperparameters: training.hyperparameters },
        ...training.candidates,
      ],
      profileBins: m.monitoring.bins,
      profileSampleSize: m.monitoring.sampleSize,
      ...(training.privacy ? { privacy: training.privacy } : {}),
    },
    costs: m.costs,
    decisionsPerDay: m.decisionsPerDay,
    sampling: {
      productionWindowDays: retraining.productionWindowDays,
      maxProductionRows: retraining.maxProductionRows,
      productionEvaluationShare: retraining.productionEvaluationShare,
      minProductionRows: retraining.minProductionRows,
    },
    gates: {
      performanceTolerance: gates.performanceTolerance,
      driftMargin: gates.driftMargin,
      driftHoldoutTolerance: gates.driftHoldoutTolerance,
      minDemographicParityRatio: gates.minDemographicParityRatio,
      maxEqualizedOddsDifference: gates.maxEqualizedOddsDifference,
      bootstrapSamples: gates.bootstrapSamples,
      maxPerturbationDelta: gates.maxPerturbationDelta,
      perturbation: gates.perturbation,
      maxBatchLatencyMs: gates.maxBatchLatencyMs,
      latencyBatchRows: gates.latencyBatchRows,
      goldenSetTolerance: gates.goldenSetTolerance,
      monotone: gates.monotone,
      mitigations: gates.mitigations,
    },
    approval: {
      required: gates.requireApproval,
      timeoutSeconds: Math.max(1, Math.round(gates.approvalTimeoutHours * 3600)),
    },
    deploy: { shift: trafficShiftOf(m.serving.shift) },
    sagemaker: {
      // Private training spends from the ledger before it starts, in the Train step: never on SageMaker.
      rowThreshold:
        retraining.sagemaker.image && !training.privacy ? retraining.sagemaker.rowThreshold : NEVER_ROWS,
      image: retraining.sagemaker.image ?? '',
      instanceType: retraining.sagemaker.instanceType,
      maxRuntimeSeconds: Math.round(retraining.sagemaker.maxRuntimeHours * 3600),
    },
  };
}

/** The retraining state machine of a model, in AWS and locally. */
export const retrainingPipelineName = (project: string, model: string) => `${project}-${model}-retraining`;

/** Lambda functions the definition names, by placeholder. */
export const RETRAINING_FUNCTIONS = {
  PrepareDataFunction: 'prepare-data',
  AuditDataFunction: 'audit-data',
  TrainFunction: 'train',
  CollectSageMakerModelFunction: 'collect-sagemaker-model',
  EvaluateFunction: 'evaluate',
  MitigateFunction: 'mitigate',
  RecordRejectionFunction: 'record-rejection',
  RequestApprovalFunction: 'request-approval',
  RegisterFunction: 'register',
  StartRolloutFunction: 'start-rollout',
  CheckRolloutFunction: 'check-rollout',
  NotifyFunction: 'notify',
  RecordFailureFunction: 'record-failure',
} as const;

export type RetrainingStep = (typeof RETRAINING_FUNCTIONS)[keyof typeof RETRAINING_FUNCTIONS];

/** The export of `functions/retraining/lambda.ts` that runs each step. */
export const RETRAINING_HANDLERS: Readonly<Record<RetrainingStep, string>> = {
  'prepare-data': 'prepareDataHandler',
  'audit-data': 'auditDataHandler',
  train: 'trainHandler',
  'collect-sagemaker-model': 'collectSageMakerModelHandler',
  evaluate: 'evaluateHandler',
  mitigate: 'mitigateHandler',
  'record-rejection': 'recordRejectionHandler',
  'request-approval': 'requestApprovalHandler',
  register: 'registerHandler',
  'start-rollout': 'startRolloutHandler',
  'check-rollout': 'checkRolloutHandler',
  notify: 'notifyHandler',
  'record-failure': 'recordFailureHandler',
};

/** Function name of a pipeline step (shared by all models of a project). */
export const retrainingFunctionName = (project: string, step: RetrainingStep) =>
  `${project}-retraining-${step}`;

/** The event monitoring publishes when a model drifts; an EventBridge rule starts retraining on it. */
export const DRIFT_EVENT = { source: 'keel.monitoring', detailType: 'keel.drift.detected' } as const;

/** Function name of the approvals API (`GET /v1/approvals`, `POST /v1/approvals/{execution}`). */
export const approvalApiFunctionName = (project: string) => `${project}-approvals-api`;

/** Substitutions of `retraining.asl.json` other than the function ARNs. */
export function retrainingSubstitutions(
  settings: RetrainingSettings,
  options: {
    readonly rolloutPollSeconds: number;
    readonly sageMakerRoleArn: string;
    readonly sageMakerOutputUri: string;
  },
): Record<string, string> {
  return {
    Settings: JSON.stringify(settings),
    ApprovalTimeoutSeconds: String(settings.approval.timeoutSeconds),
    RolloutPollSeconds: String(options.rolloutPollSeconds),
    SageMakerRoleArn: options.sageMakerRoleArn,
    SageMakerOutputUri: options.sageMakerOutputUri,
  };
}

/** One row of a candidate's gate table, as stored with an approval request and printed by the CLI. */
export interface GateRow {
  readonly gate: 'performance' | 'fairness' | 'safety';
  readonly check: string;
  readonly candidate: number | null;
  readonly production: number | null;
  /** The threshold as printed, e.g. `≥ -0.01`. */
  readonly threshold: string;
  readonly passed: boolean;
}

/**
 * One row of the mitigations' table: the unmitigated candidate (`method` none) or one
 * mitigation, on the holdout, at the decision threshold the gates used, with its verdicts.
 */
export interface ParetoRow {
  readonly method: string;
  readonly constraint: string | null;
  readonly attribute: string | null;
  readonly manifestId: string;
  readonly auc: number;
  readonly costPer1000: number | null;
  /** Per protected attribute: the demographic-parity ratio and the odds and opportunity differences. */
  readonly fairness: Readonly<Record<string, Readonly<Record<string, number>>>>;
  readonly gates: { readonly performance: boolean; readonly fairness: boolean; readonly safety: boolean };
  /** No other row is at least as good on AUC, cost and every fairness metric, and better on one. */
  readonly paretoOptimal: boolean;
}
