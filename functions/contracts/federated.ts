/**
 * What federated training shares between the state machine, its functions, the client API and
 * the clients: names, the settings substituted into `state-machines/federated.asl.json`, the
 * steps of a round and what a client is asked and answers at each.
 */
import { z } from 'zod';
import type { FederatedRecord } from '../core/training/train.ts';
import { NotFoundError } from '../kernel/errors.ts';
import type { KeelConfig } from './config/schema.ts';

/** The federated state machine of a model, in AWS and locally. */
export const federatedPipelineName = (project: string, model: string) => `${project}-${model}-federated`;

/** Function name of a federated step (shared by all models of a project). */
export const federatedFunctionName = (project: string, step: FederatedStep) => `${project}-federated-${step}`;

/** Lambda functions the definition names, by placeholder. */
export const FEDERATED_FUNCTIONS = {
  StartSessionFunction: 'start-session',
  ConfigureRoundFunction: 'configure-round',
  DispatchFunction: 'dispatch',
  RosterFunction: 'roster',
  RouteFunction: 'route',
  CollectFunction: 'collect',
  AggregateFunction: 'aggregate',
  FinishFunction: 'finish',
  RecordFailureFunction: 'record-failure',
} as const;

export type FederatedStep = (typeof FEDERATED_FUNCTIONS)[keyof typeof FEDERATED_FUNCTIONS];

/** The export of `functions/federated/lambda.ts` that runs each step. */
export const FEDERATED_HANDLERS: Readonly<Record<FederatedStep, string>> = {
  'start-session': 'startSessionHandler',
  'configure-round': 'configureRoundHandler',
  dispatch: 'dispatchHandler',
  roster: 'rosterHandler',
  route: 'routeHandler',
  collect: 'collectHandler',
  aggregate: 'aggregateHandler',
  finish: 'finishHandler',
  'record-failure': 'recordFailureHandler',
};

/** The client API: registration, tasks to poll and complete (`/v1/federated/...`). */
export const federatedApiFunctionName = (project: string) => `${project}-federated-api`;

/** The client API's environment: `{"project", "models"}` as JSON (the models that train federated). */
export const FEDERATED_ENV = { models: 'KEEL_FEDERATED_MODELS' } as const;

export const federatedModelsSchema = z.object({ project: z.string().min(1), models: z.array(z.string()) });

/** Source and detail type of the event a finished federated run publishes. */
export const FEDERATED_EVENT_SOURCE = 'keel.federated';
export const FEDERATED_FINISHED = 'Federated Training Finished';

/** What a client is asked, in order, each round (with secure aggregation; without it, `train` only). */
export const FEDERATED_PHASES = ['advertise', 'share', 'train', 'unmask'] as const;
export type FederatedPhase = (typeof FEDERATED_PHASES)[number];

export const federatedSettingsSchema = z.object({
  project: z.string(),
  model: z.string(),
  rounds: z.number().int().min(1),
  minClients: z.number().int().min(2),
  algorithm: z.enum(['fedavg', 'fedprox']),
  mu: z.number().nonnegative(),
  local: z.object({
    epochs: z.number().positive(),
    batchSize: z.number().int().positive(),
    learningRate: z.number().positive(),
  }),
  l2: z.number().nonnegative(),
  secureAggregation: z.boolean(),
  heartbeatSeconds: z.number().int().positive(),
  taskTimeoutSeconds: z.number().int().positive(),
  data: z.object({
    /** The server's own rows: the validation set each round is scored on, and the gates'. */
    source: z.string(),
    label: z.string(),
    positiveLabel: z.union([z.string(), z.number()]),
    /** Columns that are never inputs (PII, protected attributes). */
    exclude: z.array(z.string()),
  }),
  features: z.array(z.record(z.string(), z.unknown())),
});

export type FederatedSettings = z.output<typeof federatedSettingsSchema>;

/** The settings of a model's federated training, from the config. */
export function federatedSettings(config: KeelConfig, model: string): FederatedSettings {
  const m = config.models[model];
  if (!m) throw new NotFoundError(`no model named ${model} in the config`);
  if (!m.federated) throw new NotFoundError(`models.${model} declares no federated training`);
  const f = m.federated;
  return {
    project: config.project,
    model,
    rounds: f.rounds,
    minClients: f.minClients,
    algorithm: f.algorithm,
    mu: f.algorithm === 'fedprox' ? f.mu : 0,
    local: f.local,
    l2: f.l2,
    secureAggregation: f.secureAggregation,
    heartbeatSeconds: f.heartbeatSeconds,
    taskTimeoutSeconds: f.taskTimeoutSeconds,
    data: {
      source: m.data.source,
      label: m.data.label,
      positiveLabel: m.data.positiveLabel,
      exclude: [...m.data.piiFields, ...m.data.protectedAttributes],
    },
    features: m.features as unknown as Record<string, unknown>[],
  };
}

/** Substitutions of `federated.asl.json` other than the function ARNs. */
export function federatedSubstitutions(
  settings: FederatedSettings,
  options: { readonly retrainingStateMachineArn: string },
): Record<string, string> {
  return {
    Settings: JSON.stringify(settings),
    HeartbeatSeconds: String(settings.heartbeatSeconds),
    TaskTimeoutSeconds: String(settings.taskTimeoutSeconds),
    RetrainingStateMachineArn: options.retrainingStateMachineArn,
  };
}

/** A registered client: who may poll and answer the tasks addressed to `client`. */
export interface FederatedClient {
  readonly model: string;
  readonly client: string;
  /** The IAM principal (role ARN) that speaks for it in AWS; absent locally. */
  readonly principal?: string;
  readonly registeredAt: string;
  readonly registeredBy: string;
}

export const clientIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'use 1-63 lowercase letters, digits or hyphens');

/** What a client is asked to do now: one step of one round. */
export interface FederatedTask {
  readonly model: string;
  readonly client: string;
  readonly taskId: string;
  readonly phase: FederatedPhase;
  readonly round: number;
  readonly session: string;
  /** The step's input, as the client reads it (see `functions/federated/client.ts`). */
  readonly payload: Readonly<Record<string, unknown>>;
  readonly issuedAt: string;
  readonly expiresAt: string;
}

/** A lineage artifact, as state machines pass it. */
interface Artifact<K extends string> {
  readonly kind: K;
  readonly sha256: string;
  readonly uri: string;
  readonly sizeBytes: number;
}

/** A federated model as the retraining pipeline takes it (`request.federated`). */
export interface FederatedCandidate {
  /** `{format: "keel.federated-model/v1", weights}`: coefficients, then the intercept. */
  readonly model: Artifact<'records'>;
  /** The declared pipeline the clients transformed their rows with. */
  readonly pipeline: Artifact<'pipelines'>;
  readonly record: FederatedRecord;
}
