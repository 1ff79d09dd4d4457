/**
 * What the registry stores: version metadata (validated on write and on read), the audit
 * events that are its source of truth, and the per-model state each event carries.
 */
import * as z from './zod.ts';

const sha256Hex = z.string().check(z.regex(/^[0-9a-f]{64}$/, 'expected a lowercase hex SHA-256 digest'));

export const modelNameSchema = z
  .string()
  .check(
    z.regex(
      /^[a-z][a-z0-9-]{1,62}$/,
      'use 2-63 lowercase letters, digits or hyphens, starting with a letter',
    ),
  );

export const aliasNameSchema = z
  .string()
  .check(
    z.regex(
      /^[a-z][a-z0-9-]{0,31}$/,
      'use 1-32 lowercase letters, digits or hyphens, starting with a letter',
    ),
  );

/** Built-in aliases; any other valid alias name is user-defined. */
export const BUILTIN_ALIASES = ['production', 'candidate', 'shadow', 'fallback'] as const;

export const STATUSES = ['candidate', 'approved', 'rejected', 'archived'] as const;
export type VersionStatus = (typeof STATUSES)[number];

const nonEmpty = () => z.string().check(z.minLength(1));
const count = () => z.int().check(z.nonnegative());

const fieldSchema = z.object({
  name: nonEmpty(),
  type: z.enum(['number', 'string', 'boolean']),
  nullable: z._default(z.boolean(), false),
  /** Hashed or dropped in captured predictions. */
  pii: z._default(z.boolean(), false),
  min: z.optional(z.number()),
  max: z.optional(z.number()),
  categories: z.optional(z.array(z.string())),
  /**
   * A protected attribute the model reads to decide (threshold post-processing declares its
   * attribute): stated in the serving API's metadata and in the model card.
   */
  protected: z.optional(z.boolean()),
});

const artifactRefSchema = z.object({
  sha256: sha256Hex,
  /** Where the bytes are, e.g. `s3://bucket/models/sha256/ab/ab12…`. */
  uri: nonEmpty(),
  sizeBytes: z.optional(count()),
});

const evaluationSchema = z.object({
  /** Named metrics, e.g. `{ auc: 0.81, logLoss: 0.42 }`, per dataset when prefixed (`holdout.auc`). */
  metrics: z.record(z.string(), z.number()),
  /** Per protected attribute, e.g. `{ sex: { demographicParityRatio: 0.91 } }`. */
  fairness: z._default(z.record(z.string(), z.record(z.string(), z.number())), {}),
  /** Safety checks by name, each passed or not. */
  safety: z._default(z.record(z.string(), z.boolean()), {}),
  /** Content address of the full evaluation report in lineage. */
  report: z.optional(artifactRefSchema),
});

export const versionMetadataSchema = z.object({
  framework: nonEmpty(),
  artifact: artifactRefSchema,
  inputSchema: z.array(fieldSchema).check(z.minLength(1, 'a model needs at least one input')),
  outputSchema: z.array(fieldSchema).check(z.minLength(1, 'a model needs at least one output')),
  featurePipeline: z.object({ version: sha256Hex, uri: z.optional(nonEmpty()) }),
  /**
   * What explains this version's predictions (`keel.explainer/v1`: the pipeline, a background
   * sample of training rows, tree covers or coefficients). Absent: no explanations served.
   */
  explainer: z.optional(artifactRefSchema),
  trainingData: z
    .array(z.extend(artifactRefSchema, { name: nonEmpty(), rows: z.optional(count()) }))
    .check(z.minLength(1)),
  hyperparameters: z.record(z.string(), z.union([z.number(), z.string(), z.boolean(), z.null()])),
  seed: z.int(),
  /**
   * The fairness mitigation it was trained with and the constraint it met on its holdout
   * (the manifest in lineage has the detail). Absent: trained without one.
   */
  mitigation: z.optional(
    z.object({
      method: nonEmpty(),
      attribute: nonEmpty(),
      constraint: nonEmpty(),
      bound: z.number(),
      value: z.number(),
      met: z.boolean(),
      /** Whether the attribute is a model input (threshold post-processing declares it). */
      attributeIsInput: z.boolean(),
    }),
  ),
  /**
   * Differentially private training: what it spent, by the RDP accountant from the recorded
   * parameters (`keel privacy epsilon` recomputes it from them). Absent when not private.
   */
  privacy: z.optional(
    z.object({
      epsilon: z.number().check(z.nonnegative()),
      delta: z.number().check(z.gt(0), z.lt(1)),
      noiseMultiplier: z.number().check(z.nonnegative()),
      sampleRate: z.number().check(z.gt(0), z.lte(1)),
      steps: z.number().check(z.int(), z.positive()),
      clip: z.number().check(z.positive()),
      accountant: nonEmpty(),
      /** `seeded` noise is reproducible, so not private to whoever has the seed. Absent: recorded before this was. */
      noise: z.optional(z.enum(['cryptographic', 'seeded'])),
      rows: z.number().check(z.int(), z.nonnegative()),
      /** The privacy ledger entry that granted the spend (`keel privacy ledger`). */
      ledger: z.optional(z.object({ name: nonEmpty(), seq: z.number().check(z.int(), z.positive()) })),
    }),
  ),
  /** Fitted by federated clients (FedAvg or FedProx), not here. Absent when trained here. */
  federated: z.optional(
    z.object({
      method: z.enum(['fedavg', 'fedprox']),
      mu: z.number().check(z.nonnegative()),
      rounds: z.number().check(z.int(), z.positive()),
      clients: z.number().check(z.int(), z.nonnegative()),
      rows: z.number().check(z.int(), z.nonnegative()),
      secureAggregation: z.boolean(),
      session: nonEmpty(),
    }),
  ),
  codeVersion: z.string().check(z.regex(/^[0-9a-f]{7,40}$/, 'expected a git commit sha')),
  evaluation: evaluationSchema,
  owner: nonEmpty(),
  intendedUse: nonEmpty(),
  limitations: z.array(z.string()),
  /** The config's risk and business statements, for the model card. Absent: none given. */
  card: z.optional(
    z.object({
      riskRating: z.optional(z.enum(['High', 'Medium', 'Low', 'Unknown'])),
      riskRationale: z.optional(z.string()),
      businessProblem: z.optional(z.string()),
      businessStakeholders: z.optional(z.string()),
      lineOfBusiness: z.optional(z.string()),
      ethicalConsiderations: z.optional(z.string()),
    }),
  ),
  /** The model version this one was retrained from. */
  parent: z.optional(z.object({ model: modelNameSchema, version: z.int().check(z.positive()) })),
  /** The pipeline execution that produced it (a Step Functions execution ARN in AWS). */
  pipelineExecution: z.optional(nonEmpty()),
  tags: z._default(z.record(z.string(), z.string()), {}),
});

export type VersionMetadata = z.output<typeof versionMetadataSchema>;
export type VersionMetadataInput = z.input<typeof versionMetadataSchema>;
export type Evaluation = z.output<typeof evaluationSchema>;

/** Who did something, and why: every mutation carries both into the audit log. */
export interface Attribution {
  readonly actor: string;
  readonly reason: string;
}

export type RegistryEventType =
  | 'VersionRegistered'
  | 'VersionStatusChanged'
  | 'EvaluationRecorded'
  | 'AliasMoved'
  | 'DeploymentRecorded'
  | 'CardRecorded'
  | 'FeaturesReviewed';

/**
 * The model's state after an event. Every event carries it, so the next writer validates against
 * exactly the state it appends after, with no transaction.
 */
export interface ModelState {
  readonly versionCount: number;
  /** Status of version `i + 1` at index `i`, one letter each (c, a, r, x) to stay small. */
  readonly statuses: string;
  readonly aliases: Readonly<Record<string, number>>;
  /** Recent distinct versions each alias pointed at, newest last (bounded), for rollback. */
  readonly aliasHistory: Readonly<Record<string, readonly number[]>>;
  /** Idempotency-key digest → version, for the most recent registrations (bounded). */
  readonly idempotency: Readonly<Record<string, number>>;
}

export interface RegistryEvent {
  readonly model: string;
  /** 1, 2, 3…: position in the model's log; no gaps, no duplicates. */
  readonly seq: number;
  readonly type: RegistryEventType;
  /** ISO-8601 time of the append. */
  readonly at: string;
  readonly actor: string;
  readonly reason: string;
  readonly version?: number;
  readonly alias?: string;
  /** Previous value: status or alias target (null when the alias did not exist). */
  readonly from?: string | number | null;
  /** New value: status or alias target. */
  readonly to?: string | number;
  /** Registration metadata, evaluation or deployment details, by event type. */
  readonly details?: Readonly<Record<string, unknown>>;
  readonly state: ModelState;
}
