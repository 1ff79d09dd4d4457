/**
 * A federated client: runs where the data lives (`keel federated client`, or a simulated client
 * in a worker), polls the server for its tasks, does each round's steps on its own rows, and
 * answers. What leaves it: X25519 public keys, encrypted Shamir shares, its masked contribution
 * (uploaded by a presigned PUT), and share reveals; never a row, nor its unmasked model when
 * secure aggregation is on.
 */
import type { FederatedPhase, FederatedTask } from '../contracts/federated.ts';
import type { Table } from '../core/data/table.ts';
import { type FittedPipeline, transform } from '../core/features/pipeline.ts';
import { binaryLabels, localUpdate, weightedContribution } from '../core/federated/fedavg.ts';
import {
  type AdvertisedKeys,
  type AggregationParameters,
  type EncryptedShare,
  plainInput,
  SecureAggregationClient,
} from '../core/federated/secure-aggregation.ts';
import { ConflictError, ValidationError } from '../kernel/errors.ts';

/** How a client reaches the server: its tasks, and the answers to them. */
export interface FederatedApi {
  tasks(): Promise<readonly FederatedTask[]>;
  complete(taskId: string, output: Readonly<Record<string, unknown>>): Promise<void>;
  heartbeat(taskId: string): Promise<void>;
}

interface TrainPayload {
  readonly params: AggregationParameters;
  readonly secureAggregation: boolean;
  readonly sharedBy?: readonly string[];
  readonly inboxUrl?: string;
  readonly modelUrl: string;
  readonly pipelineUrl: string;
  readonly uploadUrl: string;
  readonly features: readonly string[];
  readonly data: { readonly label: string };
  readonly training: {
    readonly epochs: number;
    readonly batchSize: number;
    readonly learningRate: number;
    readonly mu: number;
    readonly l2: number;
    readonly seed: number;
  };
}

export interface ClientOptions {
  /** @default the global `fetch` */
  readonly fetch?: typeof fetch;
  /** Randomness for the protocol's keys and seeds. @default a cryptographic generator */
  readonly random?: (n: number) => Uint8Array;
}

/** One client's work on its own rows, step by step; it keeps its protocol secrets per round. */
export class FederatedClientWorker {
  readonly id: string;
  readonly #table: Table;
  readonly #fetch: typeof fetch;
  readonly #random: ((n: number) => Uint8Array) | undefined;
  readonly #rounds = new Map<string, SecureAggregationClient>();

  constructor(id: string, table: Table, options: ClientOptions = {}) {
    this.id = id;
    this.#table = table;
    this.#fetch = options.fetch ?? fetch;
    this.#random = options.random;
  }

  /** Does one task; returns the answer with what it cost (`bytes`, `ms`). */
  async handle(task: FederatedTask): Promise<Record<string, unknown>> {
    const started = performance.now();
    const traffic = { sent: 0, received: JSON.stringify(task.payload).length };
    const params = task.payload.params as AggregationParameters;
    const round = (): SecureAggregationClient => {
      const known = this.#rounds.get(params.session);
      if (!known)
        throw new ConflictError(`${this.id} has no keys for ${params.session}: it did not advertise them`);
      return known;
    };
    let output: Record<string, unknown>;
    switch (task.phase) {
      case 'advertise': {
        const client = new SecureAggregationClient(this.id, params, ...(this.#random ? [this.#random] : []));
        this.#rounds.set(params.session, client);
        output = { keys: client.advertise() };
        break;
      }
      case 'share':
        output = { shared: await round().shareKeys(task.payload.roster as AdvertisedKeys[]) };
        break;
      case 'train':
        output = await this.#train(task.payload as unknown as TrainPayload, traffic);
        break;
      case 'unmask':
        output = { shares: round().unmask(task.payload.sentInputs as string[]) };
        this.#rounds.delete(params.session);
        break;
    }
    traffic.sent += JSON.stringify(output).length;
    return { ...output, client: this.id, phase: task.phase, bytes: traffic, ms: performance.now() - started };
  }

  async #download<T>(url: string, traffic: { received: number }): Promise<T> {
    const response = await this.#fetch(url);
    const text = await response.text();
    if (!response.ok)
      throw new ConflictError(`download failed with ${response.status}: ${text.slice(0, 200)}`);
    traffic.received += text.length;
    return JSON.parse(text) as T;
  }

  async #train(payload: TrainPayload, traffic: { sent: number; received: number }) {
    const [global, pipeline, inbox] = await Promise.all([
      this.#download<{ weights: number[] }>(payload.modelUrl, traffic),
      this.#download<FittedPipeline>(payload.pipelineUrl, traffic),
      payload.secureAggregation && payload.inboxUrl
        ? this.#download<EncryptedShare[]>(payload.inboxUrl, traffic)
        : Promise.resolve([]),
    ]);
    const { matrix, names } = transform(pipeline, this.#table);
    if (names.join('\n') !== payload.features.join('\n'))
      throw new ValidationError('This client’s rows do not give the model’s inputs', [
        { path: 'features', message: `expected ${payload.features.join(', ')}; got ${names.join(', ')}` },
      ]);
    const y = binaryLabels(this.#table, payload.data.label);
    const model = localUpdate(global.weights, matrix, y, payload.training);
    const contribution = weightedContribution(model, matrix.rows);
    const upload = payload.secureAggregation
      ? this.#rounds.get(payload.params.session)?.maskedInput(contribution, inbox, payload.sharedBy ?? [])
      : plainInput(this.id, contribution);
    if (!upload) throw new ConflictError(`${this.id} has no keys for ${payload.params.session}`);
    const body = JSON.stringify(upload);
    const response = await this.#fetch(payload.uploadUrl, {
      method: 'PUT',
      body,
      headers: { 'content-type': 'application/json' },
    });
    if (!response.ok)
      throw new ConflictError(
        `upload failed with ${response.status}: ${(await response.text()).slice(0, 200)}`,
      );
    traffic.sent += body.length;
    return { uploaded: true };
  }
}

export interface RunOptions {
  readonly signal?: AbortSignal;
  /** Between polls when there is nothing to do. @default 200 ms */
  readonly pollMs?: number;
  /** Between heartbeats while a task runs. @default 5 s */
  readonly heartbeatMs?: number;
  /** Told of each task done (or failed). */
  readonly onTask?: (event: {
    readonly phase: FederatedPhase;
    readonly round: number;
    readonly error?: string;
  }) => void;
}

/**
 * Polls and answers until `signal` aborts. A failed task is reported once and left to time out
 * (a task of a run this client has no keys for, after a restart, would fail on every poll).
 */
export async function runClient(
  worker: FederatedClientWorker,
  api: FederatedApi,
  options: RunOptions = {},
): Promise<void> {
  const pollMs = options.pollMs ?? 200;
  const failed = new Set<string>();
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      options.signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  while (!options.signal?.aborted) {
    let tasks: readonly FederatedTask[] = [];
    try {
      tasks = await api.tasks();
    } catch {
      // The server is away (restarting, unreachable): try again later.
    }
    const open = tasks.filter((t) => !failed.has(t.taskId));
    for (const task of open) {
      if (options.signal?.aborted) return;
      const beat = setInterval(
        () => void api.heartbeat(task.taskId).catch(() => undefined),
        options.heartbeatMs ?? 5000,
      );
      try {
        const output = await worker.handle(task);
        await api.complete(task.taskId, output);
        options.onTask?.({ phase: task.phase, round: task.round });
      } catch (error) {
        failed.add(task.taskId);
        options.onTask?.({ phase: task.phase, round: task.round, error: (error as Error).message });
      } finally {
        clearInterval(beat);
      }
    }
    if (open.length === 0) await sleep(pollMs);
  }
}

/** The client API over HTTP; `request` adds authentication (SigV4 in AWS). */
export function httpFederatedApi(
  base: string,
  model: string,
  client: string,
  request: (url: string, init: RequestInit) => Promise<Response> = (url, init) => fetch(url, init),
): FederatedApi {
  const root = `${base.replace(/\/+$/, '')}/v1/federated/${encodeURIComponent(model)}`;
  const call = async (path: string, init: RequestInit = {}) => {
    const response = await request(`${root}${path}`, {
      ...init,
      headers: { 'content-type': 'application/json', ...(init.headers ?? {}) },
    });
    const text = await response.text();
    if (!response.ok)
      throw new ConflictError(`${init.method ?? 'GET'} ${path}: ${response.status} ${text.slice(0, 300)}`);
    return text ? (JSON.parse(text) as unknown) : undefined;
  };
  return {
    tasks: async () =>
      ((await call(`/tasks?client=${encodeURIComponent(client)}`)) as { tasks: FederatedTask[] }).tasks,
    complete: async (taskId, output) => {
      await call(`/tasks/${encodeURIComponent(taskId)}`, {
        method: 'POST',
        body: JSON.stringify({ client, output }),
      });
    },
    heartbeat: async (taskId) => {
      await call(`/tasks/${encodeURIComponent(taskId)}/heartbeat`, {
        method: 'POST',
        body: JSON.stringify({ client }),
      });
    },
  };
}
