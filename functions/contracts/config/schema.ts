/**
 * The schema of `keel.config.json`: one file that the CDK app, the local runtime and the CLI
 * all read. Every threshold has a default so a minimal config is short; every value is
 * validated with a message naming the field. Objects are strict: a misspelt optional key
 * (`requireAproval`) would otherwise be dropped and its default silently used.
 */
import { z } from 'zod';
import type { FairnessConstraint } from '../../core/fairness/constraints.ts';
import type { MitigationMethod } from '../../core/fairness/mitigation.ts';
import type { Transform } from '../../core/features/transforms.ts';

/** Core's method and constraint names (contracts take core's types only; a test checks the lists agree). */
export const MITIGATION_METHOD_NAMES = [
  'reweighing',
  'exponentiated-gradient',
  'threshold',
  'adversarial',
] as const satisfies readonly MitigationMethod[];
export const FAIRNESS_CONSTRAINT_NAMES = [
  'demographic-parity',
  'equalized-odds',
  'equal-opportunity',
] as const satisfies readonly FairnessConstraint[];

const identifier = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{1,30}[a-z0-9]$/,
    'use 3-32 lowercase letters, digits or hyphens, starting with a letter',
  );

const columnName = z.string().min(1, 'column name must not be empty');

/** Who owns a feature and the assumption it rests on: its provenance beyond the source columns. */
const provenance = {
  owner: z.string().min(1).optional(),
  assumption: z.string().min(1).optional(),
};

/** Feature-pipeline transforms; fitted on training data and compiled into the ONNX graph. */
export const transformSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('impute'),
    column: columnName,
    strategy: z.enum(['mean', 'median', 'constant']).default('median'),
    value: z.union([z.number(), z.string()]).optional(),
    ...provenance,
  }),
  z.strictObject({
    type: z.literal('clip'),
    column: columnName,
    min: z.number().optional(),
    max: z.number().optional(),
    ...provenance,
  }),
  z
    .strictObject({
      type: z.literal('standardise'),
      column: columnName,
      /** Declared centre and scale (public), both or neither; private training needs them. */
      mean: z.number().optional(),
      scale: z.number().positive().optional(),
      ...provenance,
    })
    .refine((t) => (t.mean === undefined) === (t.scale === undefined), {
      message: 'declare both mean and scale, or neither',
      path: ['scale'],
    }),
  z.strictObject({
    type: z.literal('log'),
    column: columnName,
    offset: z.number().nonnegative().default(1),
    ...provenance,
  }),
  z.strictObject({
    type: z.literal('bucketise'),
    column: columnName,
    bins: z.number().int().min(2).max(256).default(10),
    ...provenance,
  }),
  z.strictObject({
    type: z.literal('one-hot'),
    column: columnName,
    maxCategories: z.number().int().min(1).max(1000).default(50),
    /** The categories, declared (public) rather than learnt from the data; private training needs them. */
    categories: z.array(z.string().min(1)).min(1).max(1000).optional(),
    ...provenance,
  }),
  z.strictObject({
    type: z.literal('ratio'),
    name: columnName,
    numerator: columnName,
    denominator: columnName,
    ...provenance,
  }),
]);

/** CodeDeploy-style traffic shifting: a predefined name or an explicit shape. */
export const PREDEFINED_SHIFTS = {
  'all-at-once': { type: 'all-at-once' },
  'canary10-5m': { type: 'canary', percentage: 10, intervalMinutes: 5 },
  'canary10-10m': { type: 'canary', percentage: 10, intervalMinutes: 10 },
  'canary10-15m': { type: 'canary', percentage: 10, intervalMinutes: 15 },
  'canary10-30m': { type: 'canary', percentage: 10, intervalMinutes: 30 },
  'linear10-1m': { type: 'linear', percentage: 10, intervalMinutes: 1 },
  'linear10-2m': { type: 'linear', percentage: 10, intervalMinutes: 2 },
  'linear10-3m': { type: 'linear', percentage: 10, intervalMinutes: 3 },
  'linear10-10m': { type: 'linear', percentage: 10, intervalMinutes: 10 },
} as const;

const shiftSchema = z.union(
  [
    z.enum(
      Object.keys(PREDEFINED_SHIFTS) as [
        keyof typeof PREDEFINED_SHIFTS,
        ...(keyof typeof PREDEFINED_SHIFTS)[],
      ],
    ),
    z.strictObject({
      type: z.enum(['canary', 'linear']),
      percentage: z.number().int().min(1).max(99),
      intervalMinutes: z.number().int().min(1).max(2880),
    }),
  ],
  {
    // zod's own message for a failed union is "Invalid input": name what is accepted.
    error: (issue) =>
      typeof issue.input === 'string' || typeof issue.input !== 'object'
        ? `expected one of ${Object.keys(PREDEFINED_SHIFTS).join(', ')}, or {"type": "canary" | "linear", "percentage", "intervalMinutes"}`
        : undefined,
  },
);

/** EventBridge Scheduler expressions: `cron(…)` with six fields or `rate(N unit)`. */
const scheduleExpression = z
  .string()
  .regex(
    /^(cron\((\S+ ){5}\S+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))$/,
    'expected cron(m h dom mon dow y) or rate(N minutes|hours|days)',
  );

const probability = z.number().min(0).max(1);

export const modelConfigSchema = z
  .strictObject({
    description: z.string().default(''),
    owner: z.string().min(1),
    intendedUse: z.string().default(''),
    limitations: z.array(z.string()).default([]),
    /**
     * What the model card says of risk and the business (the SageMaker card's intended_uses
     * and business_details); the rest of the card is generated. @default risk Unknown, none
     */
    card: z
      .strictObject({
        riskRating: z.enum(['High', 'Medium', 'Low', 'Unknown']).default('Unknown'),
        riskRationale: z.string().max(2048).optional(),
        businessProblem: z.string().max(2048).optional(),
        businessStakeholders: z.string().max(2048).optional(),
        lineOfBusiness: z.string().max(2048).optional(),
        ethicalConsiderations: z.string().max(2048).optional(),
      })
      .prefault({}),
    data: z.strictObject({
      /** A CSV path relative to the config file, an `s3://` URI, or `synthetic:<scenario>`. */
      source: z.string().min(1),
      label: columnName,
      positiveLabel: z.union([z.string(), z.number()]).default(1),
      protectedAttributes: z.array(columnName).default([]),
      /** Fields hashed in captured predictions. */
      piiFields: z.array(columnName).default([]),
      /**
       * The data source's differential-privacy budget: ε at δ over every private release ever
       * made from it (training runs, statistics), composed by the privacy ledger named `ledger`,
       * which refuses a release that would pass it. Models on one source share its ledger.
       * @default no budget: private releases are refused
       */
      privacy: z
        .strictObject({
          /** @default the data source's URI */
          ledger: z
            .string()
            .min(1)
            .max(512)
            .regex(/^[^\s#]+$/, 'no spaces or "#"')
            .optional(),
          epsilon: z.number().positive(),
          delta: z.number().gt(0).lt(1).default(1e-5),
        })
        .optional(),
    }),
    features: z.array(transformSchema).default([]),
    /**
     * What a counterfactual ("what would change the decision") may change: protected attributes
     * never; `immutable` columns never; `directions` only one way (past late payments do not
     * decrease); `ranges` within bounds.
     */
    counterfactuals: z
      .strictObject({
        immutable: z.array(columnName).default([]),
        directions: z.record(columnName, z.enum(['increase', 'decrease'])).default({}),
        ranges: z
          .record(columnName, z.strictObject({ min: z.number().optional(), max: z.number().optional() }))
          .default({}),
      })
      .prefault({}),
    training: z
      .strictObject({
        algorithm: z.enum(['lr', 'gbdt']).default('gbdt'),
        seed: z.number().int().default(42),
        holdout: z.number().gt(0).lt(1).default(0.2),
        hyperparameters: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])).default({}),
        /**
         * Further configurations the retraining pipeline trains beside the main one; the one with
         * the best validation AUC becomes the candidate. @default none
         */
        candidates: z
          .array(
            z.strictObject({
              algorithm: z.enum(['lr', 'gbdt']),
              hyperparameters: z
                .record(z.string(), z.union([z.number(), z.string(), z.boolean()]))
                .default({}),
            }),
          )
          .max(8)
          .default([]),
        /**
         * Train with differential privacy (DP-SGD, logistic regression only), each configuration
         * spending `epsilon` at `delta` from the data source's ledger (`data.privacy`), granted
         * before any row is touched. Never on SageMaker. @default not private
         */
        privacy: z
          .strictObject({
            epsilon: z.number().positive(),
            delta: z.number().gt(0).lt(1).default(1e-5),
            /** The largest norm a row's gradient keeps. */
            clip: z.number().positive().default(1),
            epochs: z.number().positive().max(1000).default(5),
            batchSize: z.number().int().positive().default(256),
            learningRate: z.number().positive().default(1),
          })
          .optional(),
      })
      .prefault({}),
    /**
     * Federated training (`keel federated start`): registered clients train a logistic regression
     * on the rows they keep (FedAvg or FedProx), and the server sees only the sum of their
     * models, by secure aggregation; the result is judged by this model's retraining gates on
     * the server's own rows (`data.source`). The feature pipeline must declare its statistics.
     * @default not federated
     */
    federated: z
      .strictObject({
        rounds: z.number().int().min(1).max(1000).default(20),
        /** Fewest clients that must answer every step of a round, or the run fails. */
        minClients: z.number().int().min(2).max(1000).default(3),
        algorithm: z.enum(['fedavg', 'fedprox']).default('fedavg'),
        /** FedProx's proximal weight μ (ignored by FedAvg). */
        mu: z.number().nonnegative().default(0.01),
        /** Each client's work per round: passes over its rows, rows per SGD step, step size. */
        local: z
          .strictObject({
            epochs: z.number().positive().max(100).default(1),
            batchSize: z.number().int().positive().default(64),
            learningRate: z.number().positive().default(0.1),
          })
          .prefault({}),
        /** λ of the L2 penalty on the coefficients. */
        l2: z.number().nonnegative().default(1e-4),
        /** Hide each client's model from the server (Bonawitz et al. 2017); off only to measure its cost. */
        secureAggregation: z.boolean().default(true),
        /** A client silent this long during a step is cut off for the round. */
        heartbeatSeconds: z.number().int().min(1).max(3600).default(60),
        /** The longest a client may take over one step, heartbeats or not. */
        taskTimeoutSeconds: z.number().int().min(1).max(86_400).default(900),
        /**
         * The clients `cdk deploy` makes an IAM role for (`keel-<model>-client-<id>`, allowed only
         * to poll and answer this model's tasks), each assumable by `trust`: the data owner's
         * AWS account id or role ARN. Register each with its role (a stack output). @default none
         */
        clients: z
          .array(
            z.strictObject({
              id: z
                .string()
                .regex(/^[a-z0-9][a-z0-9-]{0,30}$/, 'use 1-31 lowercase letters, digits or hyphens'),
              trust: z
                .string()
                .regex(
                  /^(\d{12}|arn:aws[a-z-]*:iam::\d{12}:(root|role\/.+|user\/.+))$/,
                  'an AWS account id or an IAM ARN',
                ),
            }),
          )
          .default([]),
      })
      .optional(),
    costs: z.strictObject({
      currency: z.string().length(3).default('USD'),
      falsePositive: z.number().nonnegative(),
      falseNegative: z.number().nonnegative(),
      truePositiveBenefit: z.number().nonnegative().default(0),
    }),
    /** Decisions per day, to turn per-decision costs into money at risk. */
    decisionsPerDay: z.number().int().positive(),
    gates: z
      .strictObject({
        /** Largest tolerated AUC drop of the candidate against production. */
        performanceTolerance: probability.default(0.01),
        /** AUC gain required when retraining was triggered by drift. */
        driftMargin: probability.default(0.005),
        /**
         * After drift, when labelled production rows judge the candidate, the largest AUC drop
         * tolerated on the base holdout: a guard against collapse, since the holdout's labels
         * predate the drift.
         */
        driftHoldoutTolerance: probability.default(0.05),
        minDemographicParityRatio: probability.default(0.8),
        maxEqualizedOddsDifference: probability.default(0.1),
        bootstrapSamples: z.number().int().min(100).max(10_000).default(1000),
        requireApproval: z.boolean().default(false),
        approvalTimeoutHours: z.number().positive().default(72),
        /** Largest change of a probability (95th percentile over rows) when numeric inputs move by `perturbation` of their spread. */
        maxPerturbationDelta: probability.default(0.1),
        /** Size of the stability check's nudges, as a share of each numeric input's standard deviation. */
        perturbation: z.number().positive().max(1).default(0.01),
        /** Time limit for scoring one batch of `latencyBatchRows` rows. */
        maxBatchLatencyMs: z.number().positive().default(500),
        latencyBatchRows: z.number().int().min(1).max(100_000).default(1000),
        /** Largest difference from the golden set's recorded probabilities. */
        goldenSetTolerance: z.number().positive().default(1e-4),
        /**
         * Declared monotone relations (input column → 1 increasing, -1 decreasing) the candidate's
         * probabilities must respect, on top of the GBDT `monotone.*` constraints it trained with.
         */
        monotone: z.record(columnName, z.union([z.literal(1), z.literal(-1)])).default({}),
        /**
         * Fairness mitigations the pipeline tries, in order, when a candidate fails the fairness
         * gate: each trains the candidate's configuration again with the method, on the attribute
         * that failed, for `constraint` (default: the one that failed). The candidates go through
         * every gate; the best that passes is promoted, else the run is rejected with the table.
         */
        mitigations: z
          .array(
            z.strictObject({
              method: z.enum(MITIGATION_METHOD_NAMES),
              constraint: z.enum(FAIRNESS_CONSTRAINT_NAMES).optional(),
              /** Exponentiated gradient: rounds at most; adversarial debiasing: steps. */
              iterations: z.number().int().min(1).max(10000).optional(),
            }),
          )
          .default([]),
      })
      .prefault({}),
    retraining: z
      .strictObject({
        /** Labelled production predictions (captures joined with feedback) from this many days back. */
        productionWindowDays: z.number().int().min(1).max(366).default(30),
        /** At most this many labelled production rows, the most recent first. */
        maxProductionRows: z.number().int().min(0).default(50_000),
        /** Share of the labelled production rows held out to evaluate on (never trained on). */
        productionEvaluationShare: z.number().gt(0).lt(1).default(0.5),
        /** Fewer labelled production rows than this are not evaluated on separately. */
        minProductionRows: z.number().int().min(10).default(100),
        /** How often the rollout is polled, in seconds. */
        rolloutPollSeconds: z.number().int().min(1).max(3600).default(30),
        /** Training jobs on more rows than this go to SageMaker (needs `sagemaker.image`). */
        sagemaker: z
          .strictObject({
            image: z.string().min(1).optional(),
            instanceType: z
              .string()
              .regex(/^ml\.[a-z0-9]+\.[a-z0-9]+$/, 'expected ml.<family>.<size>')
              .default('ml.m5.xlarge'),
            rowThreshold: z.number().int().positive().default(1_000_000),
            maxRuntimeHours: z.number().positive().max(120).default(4),
          })
          .prefault({}),
      })
      .prefault({}),
    alerts: z
      .strictObject({
        /**
         * Money at risk per day above which an alert fires and retraining starts: the increase of
         * the decisions' cost over the training holdout's, times `decisionsPerDay`, judged on the
         * lower end of its confidence interval so that noise alone never alerts.
         */
        dailyBudget: z.number().nonnegative(),
        /**
         * What alerts: `impact` (money at risk over budget; statistical drift alone is a warning),
         * `drift` (dataset drift or prediction drift, as classic monitors do) or `either`.
         */
        on: z.enum(['impact', 'drift', 'either']).default('impact'),
        /** Two-sided confidence level of money at risk's interval. */
        confidence: z.number().gt(0.5).lt(1).default(0.95),
        /** Whether an alert starts the retraining pipeline (a `keel.drift.detected` event). */
        retrain: z.boolean().default(true),
        /**
         * After an alert has started retraining, later alerts on the same production version do not
         * start it again for this long (the drift persists while the pipeline runs and bakes).
         */
        retrainCooldownHours: z.number().nonnegative().default(24),
        psiWarning: z.number().positive().default(0.1),
        psiDrift: z.number().positive().default(0.2),
        pValue: probability.default(0.01),
        /** Share of drifted input features from which the dataset has drifted. */
        datasetShare: probability.default(0.5),
      })
      .refine((a) => a.psiDrift >= a.psiWarning, {
        message: 'psiDrift must be at least psiWarning',
        path: ['psiDrift'],
      }),
    monitoring: z
      .strictObject({
        /** Captured traffic of this many hours before each check is compared with the baseline. */
        windowHours: z.number().int().min(1).max(8784).default(24),
        /** Labelled decisions needed before money at risk comes from outcomes rather than from drift. */
        minLabelledRows: z.number().int().min(1).default(200),
        /** Quantile buckets per numeric column of the baseline profile (PSI, Jensen–Shannon), fixed at training. */
        bins: z.number().int().min(2).max(100).default(10),
        /**
         * Values kept per numeric column (bottom-k by row hash) for KS and Wasserstein, exact up to
         * this many and within the DKW bound beyond; 0 keeps counts only (PSI, Jensen–Shannon,
         * chi-square), the cheapest check. Fixed at training for the baseline.
         */
        sampleSize: z.number().int().min(0).max(1_000_000).default(20_000),
        /**
         * Fan each check out over the capture's hour partitions with a Step Functions Distributed
         * Map (`state-machines/drift-check.asl.json`), past tens of millions of rows per window.
         */
        distributed: z.boolean().default(false),
        /** Partitions profiled at once by the Distributed Map. */
        maxConcurrency: z.number().int().min(1).max(10_000).default(40),
        /**
         * Private checks: every count a check releases (histograms, totals, score buckets, the
         * outcomes' confusion matrix) gets discrete Gaussian noise of scale `sigma`, each check
         * spending from the data source's ledger (`data.privacy`); value samples, AUC,
         * calibration and attributions are not released. @default not private
         */
        privacy: z.strictObject({ sigma: z.number().positive().max(1e6) }).optional(),
      })
      .prefault({}),
    schedules: z
      .strictObject({
        driftCheck: scheduleExpression.default('rate(1 hour)'),
        retrain: scheduleExpression.optional(),
        /** The stale-feature review (see `featureReview`). @default not scheduled; `keel features review` runs it */
        featureReview: scheduleExpression.optional(),
      })
      .prefault({}),
    /**
     * The stale-feature review: each raw input's permutation importance on recent labelled
     * production decisions against its value at training (see `functions/core/explain/feature-review.ts`).
     */
    featureReview: z
      .strictObject({
        /** Labelled decisions of this many days back are reviewed. */
        windowDays: z.number().int().min(1).max(366).default(30),
        /** At most this many labelled decisions, the most recent. */
        maxRows: z.number().int().min(100).max(1_000_000).default(50_000),
        /** Fewer labelled decisions than this: no review, and the report says so. */
        minLabelledRows: z.number().int().min(100).default(1000),
        /** Shuffles per column. */
        repeats: z.number().int().min(2).max(50).default(5),
        /** The AUC drop a column must be worth; one that was and is now below it is stale. */
        floor: z.number().min(0).max(0.5).default(0.005),
        /** A column whose importance fell by more than this share of its training value is stale. */
        share: z.number().gt(0).max(1).default(0.5),
        /** One-sided confidence for all columns together (Bonferroni). */
        confidence: z.number().gt(0.5).lt(1).default(0.95),
        /** The AUC drop a column carrying personal data must be worth. */
        personalDataFloor: z.number().min(0).max(0.5).default(0.01),
        /** The mean |SHAP| (log-odds) a column's contribution needs for its outcome weight to be judged. */
        weightFloor: z.number().min(0).default(0.06),
        /** Per raw column: what it costs per decision (the costs' currency), and whether it carries personal data. */
        features: z
          .record(
            columnName,
            z.strictObject({
              costPerDecision: z.number().nonnegative().optional(),
              personalData: z.boolean().optional(),
            }),
          )
          .default({}),
        /**
         * When the review flags columns as stale, costly or personal data for little importance,
         * start the retraining pipeline with a candidate that drops them (judged by the same gates).
         */
        retrainWithout: z.boolean().default(false),
      })
      .prefault({}),
    serving: z.strictObject({
      shift: shiftSchema.default('canary10-5m'),
      maxBatchRows: z.number().int().min(1).max(10_000).default(1000),
      timeoutMs: z.number().int().min(1).max(10_000).default(200),
      shadowSampleRate: probability.default(0),
      /**
       * Share of ordinary predictions whose capture also holds their explanation (SHAP values of
       * the log-odds per raw column), as Clarify's online explainability samples; `:explain` and
       * `parameters.explain` always explain. Each costs about a millisecond on the request path.
       */
      explanationSampleRate: probability.default(0),
      /**
       * Fields callers may send beside the model's inputs (ids, segments), captured with each
       * prediction and never scored; protected attributes and PII fields are always accepted.
       */
      requestFields: z.array(columnName).default([]),
      /**
       * What a numeric input outside its training range gets: `reject` (a 400 naming the field),
       * `clip` (scored at the nearest bound) or `flag` (scored as sent); both of the latter are
       * flagged in the capture. The range is widened by `tolerance` times its width on each side;
       * a column never negative in training may not be negative. The default flags: a heavy tail
       * (loan sizes) goes past its training maximum in ordinary traffic, and refusing those
       * customers is worse than scoring them and saying so; values that are not float32 are
       * always refused.
       */
      inputRange: z
        .strictObject({
          action: z.enum(['reject', 'clip', 'flag']).default('flag'),
          tolerance: z.number().nonnegative().max(100).default(1),
        })
        .prefault({}),
      /** Served when the primary and fallback models both fail. */
      safeDefault: z.strictObject({ probability, label: z.union([z.literal(0), z.literal(1)]) }),
    }),
  })
  .superRefine((model, context) => {
    const privacy = model.training.privacy;
    if (model.data.privacy && !privacy)
      context.addIssue({
        code: 'custom',
        path: ['data', 'privacy'],
        message:
          'this model trains on the data without privacy, so its releases are unbounded whatever the ledger says: add training.privacy, or remove the budget',
      });
    if (model.monitoring.privacy && !model.data.privacy)
      context.addIssue({
        code: 'custom',
        path: ['monitoring', 'privacy'],
        message: 'private checks spend from the data source’s budget: declare data.privacy',
      });
    if (privacy) {
      const issue = (path: (string | number)[], message: string) =>
        context.addIssue({ code: 'custom', path, message });
      if (!model.data.privacy)
        issue(
          ['training', 'privacy'],
          'private training spends from the data source’s budget: declare data.privacy',
        );
      else if (privacy.epsilon > model.data.privacy.epsilon)
        issue(
          ['training', 'privacy', 'epsilon'],
          `one run would spend ε = ${privacy.epsilon}, more than the data source’s whole budget of ε = ${model.data.privacy.epsilon}`,
        );
      if (model.training.algorithm !== 'lr')
        issue(
          ['training', 'algorithm'],
          `private training is DP-SGD for lr only, got ${model.training.algorithm}`,
        );
      model.training.candidates.forEach((c, i) => {
        if (c.algorithm !== 'lr')
          issue(
            ['training', 'candidates', i, 'algorithm'],
            `private training is DP-SGD for lr only, got ${c.algorithm}`,
          );
      });
      if (model.gates.mitigations.length > 0)
        issue(
          ['gates', 'mitigations'],
          'a mitigation trains again on the private rows without noise: remove the mitigations, or the privacy',
        );
    }
    // Adversarial debiasing trains logistic regression only: with no LR configuration it could
    // never run. With one among others, the pipeline skips it for a GBDT candidate and says so.
    const algorithms = [model.training.algorithm, ...model.training.candidates.map((c) => c.algorithm)];
    if (algorithms.includes('lr')) return;
    model.gates.mitigations.forEach((m, i) => {
      if (m.method === 'adversarial')
        context.addIssue({
          code: 'custom',
          path: ['gates', 'mitigations', i, 'method'],
          message: `adversarial debiasing trains logistic regression only, and no configuration here is lr (${algorithms.join(', ')})`,
        });
    });
  });

export const keelConfigSchema = z
  .strictObject({
    $schema: z.string().optional(),
    /** Prefix of every deployed resource name. */
    project: identifier,
    models: z
      .record(identifier, modelConfigSchema)
      .refine((models) => Object.keys(models).length > 0, { message: 'declare at least one model' }),
    local: z
      .strictObject({
        port: z.number().int().min(1).max(65_535).default(3000),
        stateDir: z.string().default('.keel'),
        /** Multiplies canary bake times, schedules and waits locally: 0.01 makes 5 minutes 3 seconds. */
        timeScale: z.number().positive().max(1).default(1),
        /**
         * How an answered prediction's capture is made durable before its answer leaves (the
         * journal in the state directory): `fsync` survives a power loss, `write` a killed process.
         */
        captureDurability: z.enum(['fsync', 'write']).default('fsync'),
      })
      .prefault({}),
    /** Per-stage overrides, merged over the rest when a stage is selected (CDK context `keel:stage`). */
    stages: z.record(identifier, z.record(z.string(), z.unknown())).default({}),
  })
  .superRefine((config, context) => {
    // A ledger has one budget: two models on it must not declare two.
    const seen = new Map<string, { model: string; epsilon: number; delta: number }>();
    for (const [model, m] of Object.entries(config.models)) {
      const p = m.data.privacy;
      if (!p) continue;
      const ledger = p.ledger ?? m.data.source;
      const other = seen.get(ledger);
      if (other && (other.epsilon !== p.epsilon || other.delta !== p.delta))
        context.addIssue({
          code: 'custom',
          path: ['models', model, 'data', 'privacy'],
          message: `ledger ${ledger} already has the budget ε = ${other.epsilon} at δ = ${other.delta} (models.${other.model}); one data source has one budget`,
        });
      else if (!other) seen.set(ledger, { model, epsilon: p.epsilon, delta: p.delta });
    }
  });

/** The privacy ledger a model's data spends from, and its budget; undefined without one. */
export function ledgerOf(model: ModelConfig): { ledger: string; epsilon: number; delta: number } | undefined {
  const p = model.data.privacy;
  return p ? { ledger: p.ledger ?? model.data.source, epsilon: p.epsilon, delta: p.delta } : undefined;
}

export type KeelConfig = z.output<typeof keelConfigSchema>;
export type KeelConfigInput = z.input<typeof keelConfigSchema>;
export type ModelConfig = z.output<typeof modelConfigSchema>;
export type { Transform };

// The schema must produce core's type exactly: a field added to one and not the other fails here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const transformSchemaMatchesCore: Same<z.output<typeof transformSchema>, Transform> = true;
void transformSchemaMatchesCore;
