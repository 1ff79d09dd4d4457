/**
 * Federated training, the server's side: the steps `state-machines/federated.asl.json` runs.
 *
 * Design: the state machine owns the control flow (rounds, the four exchanges of a round as Map
 * states of `.waitForTaskToken` tasks with `HeartbeatSeconds`, stopping, the gates); these steps
 * are what happens between exchanges, each a pure function of the state plus reads and writes
 * through ports. A client that does not answer an exchange (silent past its heartbeat, past the
 * task's timeout, or refused) is simply absent from that exchange's results; `decideQuorum` then
 * says whether the round can go on. Raw rows never reach the server: clients download the
 * global model and the pipeline (presigned GETs), upload only their masked contribution
 * (presigned PUT), and answer with keys and shares. The server keeps the sums it unmasks, the
 * models it averages, and per-round statistics.
 *
 * The candidate is a logistic regression over the declared feature pipeline; the last step
 * hands it to the model's retraining pipeline (`request.federated`), so it faces the same gates
 * as any retrain, on the server's own rows.
 */
import { createHash } from 'node:crypto';
import {
  FEDERATED_EVENT_SOURCE,
  FEDERATED_FINISHED,
  type FederatedCandidate,
  type FederatedPhase,
  type FederatedSettings,
} from '../contracts/federated.ts';
import type { Table } from '../core/data/table.ts';
import { type FittedPipeline, fitPipeline, transform } from '../core/features/pipeline.ts';
import { dataFittedStatistics, type Transform, withoutColumns } from '../core/features/transforms.ts';
import { averageOfSum, binaryLabels } from '../core/federated/fedavg.ts';
import {
  type AdvertisedKeys,
  type AggregationParameters,
  decode,
  type EncryptedShare,
  SecureAggregationError,
  type SharedKeys,
  secureAggregationServer,
  type UnmaskingShares,
  wordsFromBase64,
  wordsToBase64,
} from '../core/federated/secure-aggregation.ts';
import { sigmoid } from '../core/linalg.ts';
import { auc, logLoss } from '../core/metrics/classification.ts';
import { ConflictError, KeelError, ValidationError } from '../kernel/errors.ts';
import type { ArtifactRef, LineageStore } from '../lineage/store.ts';
import type { BlobStore, EventBus, FederatedStore, UrlSigner } from '../ports/index.ts';
import { type BaseDataSources, loadBaseData } from '../retraining/base-data.ts';

/** A round could not gather enough clients, or its sum was not sound: nothing is registered from it. */
export class FederatedRoundError extends KeelError {}

export interface FederatedDependencies extends BaseDataSources {
  readonly lineage: LineageStore;
  readonly store: FederatedStore;
  /** The federated bucket: inboxes the server writes, uploads the clients write. */
  readonly exchange: BlobStore;
  readonly urls: UrlSigner;
  readonly eventBus: EventBus;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** What starts a run (`keel federated start`, `POST /v1/federated/{model}/sessions`). */
export interface FederatedRequest {
  readonly reason?: string;
  readonly requestedBy?: string;
  /** Rounds instead of the configured number. */
  readonly rounds?: number;
}

/** One round's statistics, kept in the session. */
export interface RoundSummary {
  readonly round: number;
  readonly asked: number;
  /** Clients whose contribution is in the average. */
  readonly aggregated: number;
  /** Clients that did not answer a step, by step. */
  readonly dropped: Readonly<Partial<Record<FederatedPhase, readonly string[]>>>;
  /** Uploads the server could not use, with why. */
  readonly refused: readonly { readonly client: string; readonly reason: string }[];
  readonly rows: number;
  /** On the server's own rows. */
  readonly auc: number;
  readonly logLoss: number;
  /** What the clients said they sent and received this round, summed. */
  readonly bytes: { readonly sent: number; readonly received: number };
  /** Wall time of the round's client work, summed over clients (ms), as they reported it. */
  readonly clientMs: number;
  /** The round's wall time, from its configuration to its aggregate (ms). */
  readonly ms: number;
}

export interface FederatedSession {
  readonly id: string;
  readonly startedAt: string;
  readonly rounds: number;
  readonly clients: readonly string[];
  readonly pipeline: ArtifactRef;
  readonly features: readonly string[];
  /** The current global model: `{ weights }`, coefficients then intercept. */
  readonly global: ArtifactRef;
  readonly completed: number;
  readonly done: boolean;
  readonly history: readonly RoundSummary[];
  /** Once done: what the retraining pipeline judges (`request.federated`). */
  readonly candidate?: FederatedCandidate;
}

export interface RoundState {
  readonly number: number;
  readonly params: AggregationParameters;
  readonly clients: readonly string[];
  /** Who the next exchange asks: those still in the round. */
  readonly next: readonly string[];
  readonly startedAt: string;
  readonly roster?: readonly AdvertisedKeys[];
  readonly shared?: readonly Pick<SharedKeys, 'client' | 'commitment'>[];
  readonly sharedBy?: readonly string[];
  readonly sentInputs?: readonly string[];
  /** The masked (or, without secure aggregation, plain) sum, as base64url 64-bit words. */
  readonly sum?: string;
  readonly refused?: readonly { readonly client: string; readonly reason: string }[];
  readonly dropped?: Readonly<Partial<Record<FederatedPhase, readonly string[]>>>;
  readonly bytes?: { readonly sent: number; readonly received: number };
  readonly clientMs?: number;
}

/** One client's answer to a step, as the Map state collects them; `dropped` when it gave none. */
export type ClientResponse =
  | ({ readonly client: string; readonly phase: FederatedPhase; readonly dropped?: undefined } & Readonly<
      Record<string, unknown>
    >)
  | { readonly client: string; readonly dropped: true; readonly error?: string };

export interface FederatedState {
  readonly settings: FederatedSettings;
  readonly request: FederatedRequest;
  readonly execution: string;
  readonly session: FederatedSession;
  readonly round?: RoundState;
  readonly responses?: readonly ClientResponse[];
}

const now = (deps: Pick<FederatedDependencies, 'now'>) => (deps.now ?? (() => new Date()))();

/**
 * Survivors a round needs at every step: the configured minimum, and with secure aggregation the
 * secret-sharing threshold (below it, the dropped clients' masks could not be removed).
 */
export function decideQuorum(
  settings: Pick<FederatedSettings, 'minClients' | 'secureAggregation'>,
  params: Pick<AggregationParameters, 'threshold'>,
  answered: number,
  step: string,
): void {
  const threshold = settings.secureAggregation ? params.threshold : 0;
  const needed = Math.max(settings.minClients, threshold);
  if (answered < needed)
    throw new FederatedRoundError(
      `${step}: ${answered} clients answered, fewer than the ${needed} a round needs (minClients ${settings.minClients}${settings.secureAggregation ? `, secret-sharing threshold ${threshold}` : ''})`,
    );
}

/** Shares needed to reconstruct a client's secrets: a majority of those asked, at least 2. */
export const thresholdFor = (clients: number): number => Math.max(2, Math.floor(clients / 2) + 1);

function answers(state: FederatedState, phase: FederatedPhase) {
  const responses = state.responses ?? [];
  const answered = responses.filter(
    (r): r is Extract<ClientResponse, { phase: FederatedPhase }> => r.dropped !== true && r.phase === phase,
  );
  const dropped = responses.filter((r) => r.dropped === true || r.phase !== phase).map((r) => r.client);
  return { answered, dropped };
}

function need<K extends keyof RoundState>(round: RoundState | undefined, key: K): NonNullable<RoundState[K]> {
  const value = round?.[key];
  if (value === undefined || value === null)
    throw new ConflictError(`the round has no ${String(key)}: a step ran out of order`);
  return value as NonNullable<RoundState[K]>;
}

const roundPrefix = (session: string, round: number) =>
  `sessions/${createHash('sha256').update(session).digest('hex').slice(0, 24)}/r${round}`;

/** The server's own rows, transformed by the session's pipeline: each round's scoreboard. */
async function serverRows(state: FederatedState, deps: FederatedDependencies, pipeline: FittedPipeline) {
  const table: Table = await loadBaseData(state.settings.data.source, deps);
  return { x: transform(pipeline, table).matrix, y: binaryLabels(table, state.settings.data.label) };
}

// ── StartSession ────────────────────────────────────────────────────────────────

export async function startSession(
  input: {
    readonly settings: FederatedSettings;
    readonly request?: FederatedRequest;
    readonly execution: string;
  },
  deps: FederatedDependencies,
): Promise<FederatedState> {
  const { settings } = input;
  const request = input.request ?? {};
  const spec = settings.features as unknown as Transform[];
  const leaks = dataFittedStatistics(spec);
  if (spec.length === 0 || leaks.length > 0)
    throw new ValidationError(
      'Federated training needs a declared feature pipeline',
      spec.length === 0
        ? [
            {
              path: `models.${settings.model}.features`,
              message: 'declare the transforms, with their statistics',
            },
          ]
        : leaks.map((l) => ({ path: `models.${settings.model}.features.${l.index}`, message: l.message })),
    );
  const rounds = request.rounds ?? settings.rounds;
  if (!(Number.isInteger(rounds) && rounds >= 1 && rounds <= 1000))
    throw new ValidationError('Invalid request', [
      { path: 'rounds', message: `a whole number in [1, 1000], got ${rounds}` },
    ]);
  const clients = (await deps.store.clients(settings.model)).map((c) => c.client).sort();
  if (clients.length < settings.minClients)
    throw new FederatedRoundError(
      `${clients.length} clients are registered for ${settings.model}, fewer than minClients ${settings.minClients}: keel federated register`,
    );
  // The declared pipeline needs no rows to fit; the server's supply the column types.
  const table = await loadBaseData(settings.data.source, deps);
  const pipeline = fitPipeline(withoutColumns(spec, settings.data.exclude), table);
  const features = pipeline.features.map((f) => f.name);
  const [pipelineRef, global] = await Promise.all([
    deps.lineage.putJson('pipelines', pipeline),
    deps.lineage.putJson('records', {
      format: 'keel.federated-model/v1',
      weights: new Array(features.length + 1).fill(0),
    }),
  ]);
  return {
    settings,
    request,
    execution: input.execution,
    session: {
      id: input.execution,
      startedAt: now(deps).toISOString(),
      rounds,
      clients,
      pipeline: pipelineRef,
      features,
      global,
      completed: 0,
      done: false,
      history: [],
    },
  };
}

// ── ConfigureRound ──────────────────────────────────────────────────────────────

export async function configureRound(
  state: FederatedState,
  deps: Pick<FederatedDependencies, 'now'> = {},
): Promise<RoundState> {
  const number = state.session.completed + 1;
  const clients = state.session.clients;
  return {
    number,
    clients,
    next: clients,
    startedAt: now(deps).toISOString(),
    // The length: the model's weights and the row count, summed (see weightedContribution).
    params: {
      session: `${state.session.id}#${number}`,
      threshold: thresholdFor(clients.length),
      length: state.session.features.length + 2,
    },
  };
}

// ── Dispatch: one task to one client ───────────────────────────────────────────

/** What the Map state's `.waitForTaskToken` task passes to the dispatch function. */
export interface DispatchInput {
  readonly token: string;
  readonly client: string;
  readonly phase: FederatedPhase;
  readonly state: FederatedState;
}

/** Files a task for the client to poll, with everything its step needs (presigned where big). */
export async function dispatch(
  input: DispatchInput,
  deps: FederatedDependencies,
): Promise<{ taskId: string }> {
  const { state, client, phase } = input;
  const round = state.round;
  if (!round) throw new ConflictError('no round to dispatch a task of: a step ran out of order');
  const { settings, session } = state;
  const expires = settings.taskTimeoutSeconds;
  const prefix = roundPrefix(session.id, round.number);
  const common = { params: round.params, round: round.number, secureAggregation: settings.secureAggregation };
  let payload: Record<string, unknown>;
  switch (phase) {
    case 'advertise':
      payload = common;
      break;
    case 'share':
      payload = { ...common, roster: need(round, 'roster') };
      break;
    case 'train':
      payload = {
        ...common,
        ...(settings.secureAggregation
          ? {
              sharedBy: need(round, 'sharedBy'),
              inboxUrl: await deps.urls.downloadUrl(
                deps.exchange.uri(`${prefix}/inbox/${client}.json`),
                expires,
              ),
            }
          : {}),
        modelUrl: await deps.urls.downloadUrl(session.global.uri, expires),
        pipelineUrl: await deps.urls.downloadUrl(session.pipeline.uri, expires),
        features: session.features,
        uploadUrl: await deps.urls.uploadUrl(
          deps.exchange.uri(`${prefix}/inputs/${client}.json`),
          expires,
          'application/json',
        ),
        data: { label: settings.data.label, positiveLabel: settings.data.positiveLabel },
        training: {
          ...settings.local,
          mu: settings.algorithm === 'fedprox' ? settings.mu : 0,
          l2: settings.l2,
          seed: round.number,
        },
      };
      break;
    case 'unmask':
      payload = { ...common, sentInputs: need(round, 'sentInputs') };
      break;
  }
  const issued = now(deps);
  const taskId = createHash('sha256').update(input.token).digest('hex').slice(0, 32);
  await deps.store.putTask({
    model: settings.model,
    client,
    taskId,
    taskToken: input.token,
    phase,
    round: round.number,
    session: session.id,
    payload,
    issuedAt: issued.toISOString(),
    expiresAt: new Date(issued.getTime() + expires * 1000).toISOString(),
  });
  return { taskId };
}

// ── Roster: after the clients advertised their keys ────────────────────────────

const bytesOf = (responses: readonly Readonly<Record<string, unknown>>[]) =>
  responses.reduce<{ sent: number; received: number }>(
    (acc, r) => {
      const b = r.bytes as { sent?: unknown; received?: unknown } | undefined;
      return {
        sent: acc.sent + (typeof b?.sent === 'number' ? b.sent : 0),
        received: acc.received + (typeof b?.received === 'number' ? b.received : 0),
      };
    },
    { sent: 0, received: 0 },
  );

const msOf = (responses: readonly Readonly<Record<string, unknown>>[]) =>
  responses.reduce<number>((acc, r) => acc + (typeof r.ms === 'number' ? r.ms : 0), 0);

function accumulate(
  round: RoundState,
  phase: FederatedPhase,
  answered: readonly Readonly<Record<string, unknown>>[],
  dropped: readonly string[],
): Partial<RoundState> {
  const bytes = bytesOf(answered);
  return {
    dropped: { ...round.dropped, ...(dropped.length > 0 ? { [phase]: dropped } : {}) },
    bytes: {
      sent: (round.bytes?.sent ?? 0) + bytes.sent,
      received: (round.bytes?.received ?? 0) + bytes.received,
    },
    clientMs: (round.clientMs ?? 0) + msOf(answered),
  };
}

export async function roster(state: FederatedState): Promise<RoundState> {
  const round = state.round as RoundState;
  const { answered, dropped } = answers(state, 'advertise');
  decideQuorum(state.settings, round.params, answered.length, 'advertise keys');
  let keys: AdvertisedKeys[];
  try {
    keys = secureAggregationServer.roster(
      round.params,
      answered.map((r) => r.keys as AdvertisedKeys),
    );
  } catch (error) {
    throw new FederatedRoundError((error as Error).message, { cause: error });
  }
  return {
    ...round,
    roster: keys,
    next: keys.map((k) => k.client),
    ...accumulate(round, 'advertise', answered, dropped),
  };
}

// ── Route: after the clients shared their keys ─────────────────────────────────

export async function route(state: FederatedState, deps: FederatedDependencies): Promise<RoundState> {
  const round = state.round as RoundState;
  const { answered, dropped } = answers(state, 'share');
  decideQuorum(state.settings, round.params, answered.length, 'share keys');
  const shared = answered.map((r) => r.shared as SharedKeys);
  let routed: { sharedBy: string[]; inbox: Map<string, EncryptedShare[]> };
  try {
    routed = secureAggregationServer.route(shared);
  } catch (error) {
    throw new FederatedRoundError((error as Error).message, { cause: error });
  }
  const prefix = roundPrefix(state.session.id, round.number);
  await Promise.all(
    [...routed.inbox].map(([client, shares]) =>
      deps.exchange.putIfAbsent(
        `${prefix}/inbox/${client}.json`,
        new TextEncoder().encode(JSON.stringify(shares)),
        {
          contentType: 'application/json',
          metadata: {},
        },
      ),
    ),
  );
  return {
    ...round,
    sharedBy: routed.sharedBy,
    next: routed.sharedBy,
    shared: shared.map(({ client, commitment }) => ({ client, commitment })),
    ...accumulate(round, 'share', answered, dropped),
  };
}

// ── Collect: after the clients trained and uploaded ─────────────────────────────

/** Reads each answering client's upload and sums what is well formed. */
export async function collect(state: FederatedState, deps: FederatedDependencies): Promise<RoundState> {
  const round = state.round as RoundState;
  const { answered, dropped } = answers(state, 'train');
  const prefix = roundPrefix(state.session.id, round.number);
  const uploads = await Promise.all(
    answered.map(async (r) => {
      const bytes = await deps.exchange.get(`${prefix}/inputs/${r.client}.json`);
      let parsed: unknown;
      try {
        parsed = bytes ? JSON.parse(new TextDecoder().decode(bytes)) : undefined;
      } catch {
        parsed = undefined;
      }
      return { client: r.client, upload: parsed as { masked?: unknown; client?: unknown } | undefined };
    }),
  );
  const missing = uploads
    .filter((u) => u.upload === undefined)
    .map((u) => ({ client: u.client, reason: 'no readable upload' }));
  const inputs = uploads
    .filter((u) => u.upload !== undefined)
    // The upload's own client field must be its uploader's: a client cannot send as another.
    .map((u) => ({
      client: u.client,
      masked: u.upload?.client === u.client ? String(u.upload?.masked) : '',
    }));
  const sharedBy = state.settings.secureAggregation ? need(round, 'sharedBy') : round.clients;
  const { sum, sentInputs, refused } = secureAggregationServer.sum(round.params, sharedBy, inputs);
  decideQuorum(state.settings, round.params, sentInputs.length, 'train and upload');
  return {
    ...round,
    sentInputs,
    next: sentInputs,
    sum: wordsToBase64(sum),
    refused: [...missing, ...refused],
    ...accumulate(round, 'train', answered, dropped),
  };
}

// ── Aggregate: after the survivors returned their shares ──────────────────────

/** Unmasks the sum, averages the models, scores the result on the server's rows, stores it. */
export async function aggregate(
  state: FederatedState,
  deps: FederatedDependencies,
): Promise<FederatedSession> {
  const round = state.round as RoundState;
  const { settings, session } = state;
  const masked = wordsFromBase64(need(round, 'sum'), round.params.length);
  if (!masked)
    throw new ConflictError(`round ${round.number}: the stored sum is not ${round.params.length} words`);
  let total: Float64Array;
  let extra: Partial<RoundState> = {};
  if (settings.secureAggregation) {
    const { answered, dropped } = answers(state, 'unmask');
    decideQuorum(settings, round.params, answered.length, 'unmask');
    try {
      total = await secureAggregationServer.unmask(round.params, {
        roster: need(round, 'roster'),
        shared: need(round, 'shared'),
        sentInputs: need(round, 'sentInputs'),
        sum: masked,
        responses: answered.map((r) => r.shares as UnmaskingShares),
      });
    } catch (error) {
      if (error instanceof SecureAggregationError)
        throw new FederatedRoundError(error.message, { cause: error });
      throw error;
    }
    extra = accumulate(round, 'unmask', answered, dropped);
  } else total = decode(masked);
  const rows = total[total.length - 1] as number;
  const weights = averageOfSum(total);
  // A sum no honest set of clients gives (rows not a whole positive number, a weight that is not
  // finite or absurd) is a corrupt round: nothing of it is kept.
  if (
    !(rows >= 1 && Math.abs(rows - Math.round(rows)) < 1e-3) ||
    !weights.every((w) => Number.isFinite(w) && Math.abs(w) < 1e4)
  )
    throw new FederatedRoundError(
      `round ${round.number}: the unmasked sum is not a sound average (${rows} rows); a client sent a corrupt contribution`,
    );
  const pipeline = await deps.lineage.getJson<FittedPipeline>(session.pipeline);
  const { x, y } = await serverRows(state, deps, pipeline);
  const d = session.features.length;
  const p = new Float64Array(x.rows);
  for (let i = 0; i < x.rows; i++) {
    let z = weights[d] as number;
    for (let j = 0; j < d; j++) z += (weights[j] as number) * (x.data[i * d + j] as number);
    p[i] = sigmoid(z);
  }
  const global = await deps.lineage.putJson('records', {
    format: 'keel.federated-model/v1',
    weights: Array.from(weights),
  });
  const merged = { ...round, ...extra };
  const summary: RoundSummary = {
    round: round.number,
    asked: round.clients.length,
    aggregated: need(round, 'sentInputs').length,
    dropped: merged.dropped ?? {},
    refused: round.refused ?? [],
    rows: Math.round(rows),
    auc: auc(y, p),
    logLoss: logLoss(y, p),
    bytes: merged.bytes ?? { sent: 0, received: 0 },
    clientMs: merged.clientMs ?? 0,
    ms: now(deps).getTime() - new Date(round.startedAt).getTime(),
  };
  const completed = round.number;
  const next: FederatedSession = {
    ...session,
    global,
    completed,
    done: completed >= session.rounds,
    history: [...session.history, summary],
  };
  return next.done ? { ...next, candidate: candidateOf(state.settings, next) } : next;
}

// ── Finish ──────────────────────────────────────────────────────────────────────

/** What the retraining pipeline is handed: the federated model, its pipeline and how it was made. */
export function candidateOf(settings: FederatedSettings, session: FederatedSession): FederatedCandidate {
  const last = session.history.at(-1);
  return {
    model: session.global as FederatedCandidate['model'],
    pipeline: session.pipeline as FederatedCandidate['pipeline'],
    record: {
      method: settings.algorithm,
      mu: settings.algorithm === 'fedprox' ? settings.mu : 0,
      rounds: session.completed,
      clients: last?.aggregated ?? 0,
      rows: last?.rows ?? 0,
      secureAggregation: settings.secureAggregation,
      session: session.id,
    },
  };
}

/** How a run ended, on the bus (the outcomes topic's message in AWS). */
async function announceEnd(
  state: Pick<FederatedState, 'settings' | 'execution'>,
  deps: Pick<FederatedDependencies, 'eventBus'>,
  record: ArtifactRef,
  detail: Readonly<Record<string, unknown>>,
): Promise<void> {
  await deps.eventBus.publish([
    {
      source: FEDERATED_EVENT_SOURCE,
      detailType: FEDERATED_FINISHED,
      detail: { model: state.settings.model, execution: state.execution, record: record.uri, ...detail },
    },
  ]);
}

export async function finish(
  state: FederatedState & {
    readonly evaluation?: unknown;
    readonly gates?: { readonly Error?: string; readonly Cause?: string };
  },
  deps: FederatedDependencies,
): Promise<{ record: ArtifactRef; outcome: string }> {
  const outcome = state.gates ? 'rejected' : 'evaluated';
  const record = await deps.lineage.putJson('records', {
    type: 'federated-session',
    model: state.settings.model,
    execution: state.execution,
    at: now(deps).toISOString(),
    settings: state.settings,
    session: state.session,
    outcome,
    ...(state.gates ? { gates: state.gates } : {}),
  });
  await announceEnd(state, deps, record, {
    outcome,
    rounds: state.session.completed,
    auc: state.session.history.at(-1)?.auc ?? null,
  });
  return { record, outcome };
}

export async function recordFailure(
  state: FederatedState & { readonly failure?: { readonly Error?: string; readonly Cause?: string } },
  deps: FederatedDependencies,
): Promise<{ record: ArtifactRef }> {
  const record = await deps.lineage.putJson('records', {
    type: 'federated-failure',
    model: state.settings.model,
    execution: state.execution,
    at: now(deps).toISOString(),
    error: state.failure?.Error ?? 'Error',
    cause: state.failure?.Cause ?? '',
    round: state.round?.number ?? null,
    history: state.session?.history ?? [],
  });
  await announceEnd(state, deps, record, {
    outcome: 'failed',
    error: state.failure?.Error ?? 'Error',
    cause: state.failure?.Cause ?? '',
  });
  return { record };
}
