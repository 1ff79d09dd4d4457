/**
 * `keel federated simulate`: one population dealt out to simulated clients, each in its own
 * worker thread with only its own rows, talking to a local runtime over HTTP as a real client
 * would; the runtime runs the same state machine, client API and retraining gates as AWS.
 *
 * The population is split once: a stratified 20 % the server keeps (its validation rows, and the
 * rows both models are scored on), the rest dealt to the clients (IID or Dirichlet label skew).
 * The centralised baseline is the same logistic regression, same pipeline, trained on the union
 * of the clients' rows, which no federated party ever holds.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { createLineageStore } from '../functions/composition/aws.ts';
import type { KeelConfig } from '../functions/contracts/config/schema.ts';
import { readCsv } from '../functions/core/data/csv.ts';
import { type Table, toCsv } from '../functions/core/data/table.ts';
import { type FittedPipeline, transform } from '../functions/core/features/pipeline.ts';
import { binaryLabels } from '../functions/core/federated/fedavg.ts';
import { type ClientSplit, splitClients } from '../functions/core/federated/split.ts';
import { sigmoid } from '../functions/core/linalg.ts';
import { auc } from '../functions/core/metrics/classification.ts';
import { fitLogistic, predictLogistic } from '../functions/core/models/logistic.ts';
import { Rng } from '../functions/core/random.ts';
import { generateCredit } from '../functions/core/synthetic/credit.ts';
import { stratifiedSplit, takeRows } from '../functions/core/training/train.ts';
import type { FederatedSession } from '../functions/federated/session.ts';
import { KeelError, ValidationError } from '../functions/kernel/errors.ts';
import { LocalRuntime } from './runtime.ts';

export interface SimulationOptions {
  /** The project's config; `model` must declare its feature pipeline's statistics. */
  readonly config: KeelConfig;
  readonly model: string;
  readonly clients: number;
  readonly rounds: number;
  readonly split: ClientSplit;
  readonly algorithm: 'fedavg' | 'fedprox';
  /** FedProx's μ. @default the config's, or 0.01 */
  readonly mu?: number;
  readonly secureAggregation: boolean;
  /** A CSV of the population. @default the synthetic credit population (20,000 rows) */
  readonly data?: string;
  /** @default the model's label */
  readonly label?: string;
  readonly seed: number;
  /** Told of each client's step, and of each round. */
  readonly onProgress?: (event: {
    readonly client: string;
    readonly phase: string;
    readonly round: number;
    readonly error?: string;
  }) => void;
}

export interface SimulationReport {
  readonly model: string;
  readonly clients: number;
  readonly split: ClientSplit;
  readonly algorithm: 'fedavg' | 'fedprox';
  readonly secureAggregation: boolean;
  readonly rounds: number;
  readonly clientRows: readonly number[];
  readonly heldOutRows: number;
  /** AUC on the held-out rows: the federated model's, and the same model trained on every client's rows. */
  readonly auc: { readonly federated: number; readonly centralised: number; readonly difference: number };
  readonly history: FederatedSession['history'];
  /** Mean bytes one client sent and received per round. */
  readonly bytesPerClientPerRound: { readonly sent: number; readonly received: number };
  readonly seconds: number;
  /** How the retraining pipeline's gates judged the federated model. */
  readonly gates: { readonly status: string; readonly version?: number; readonly reason?: string };
  readonly execution: string;
}

function withoutPrivacy<T extends { privacy?: unknown }>(data: T): Omit<T, 'privacy'> {
  const { privacy: _privacy, ...rest } = data;
  return rest;
}

async function population(options: SimulationOptions): Promise<Table> {
  if (options.data) return readCsv(options.data);
  return generateCredit({ rows: 20_000, seed: options.seed });
}

export async function simulateFederated(options: SimulationOptions): Promise<SimulationReport> {
  const base = options.config.models[options.model];
  if (!base)
    throw new ValidationError('Unknown model', [
      { path: 'model', message: `${options.model} is not in the config` },
    ]);
  const label = options.label ?? base.data.label;
  const table = await population(options);
  const labels = binaryLabels(table, label);
  const split = stratifiedSplit(labels, 0.2, new Rng(options.seed));
  const held = takeRows(table, split.holdout);
  const pool = takeRows(table, split.train);
  const parts = splitClients(binaryLabels(pool, label), {
    clients: options.clients,
    split: options.split,
    seed: options.seed,
  });
  const dir = await mkdtemp(join(tmpdir(), 'keel-federated-'));
  const workers: Worker[] = [];
  let runtime: LocalRuntime | undefined;
  const started = performance.now();
  try {
    const serverData = join(dir, 'server.csv');
    await writeFile(serverData, toCsv(held));
    const ids = parts.map((_, i) => `client-${String(i + 1).padStart(2, '0')}`);
    const files = await Promise.all(
      parts.map(async (rows, i) => {
        const file = join(dir, `${ids[i]}.csv`);
        await writeFile(file, toCsv(takeRows(pool, Array.from(rows))));
        return file;
      }),
    );
    const config: KeelConfig = {
      ...options.config,
      models: {
        [options.model]: {
          ...base,
          // Federated training is not differentially private: no budget is spent or declared.
          data: { ...withoutPrivacy(base.data), source: serverData, label },
          training: { ...withoutPrivacy(base.training), algorithm: 'lr', candidates: [] },
          gates: { ...base.gates, mitigations: [] },
          federated: {
            rounds: options.rounds,
            minClients: Math.max(2, Math.ceil(options.clients / 2)),
            algorithm: options.algorithm,
            mu: options.mu ?? base.federated?.mu ?? 0.01,
            local: base.federated?.local ?? { epochs: 1, batchSize: 64, learningRate: 0.1 },
            l2: base.federated?.l2 ?? 1e-4,
            secureAggregation: options.secureAggregation,
            heartbeatSeconds: base.federated?.heartbeatSeconds ?? 60,
            taskTimeoutSeconds: base.federated?.taskTimeoutSeconds ?? 900,
            clients: [],
          },
          schedules: base.schedules,
        },
      },
      stages: {},
    };
    runtime = await LocalRuntime.start({ config, ephemeral: true, timeScale: 0.002, port: 0 });
    const server = runtime.url as string;
    const api = `${server}/v1/federated/${options.model}`;
    for (const client of ids) {
      const response = await fetch(`${api}/clients`, {
        method: 'POST',
        body: JSON.stringify({ client }),
        headers: { 'content-type': 'application/json' },
      });
      if (!response.ok)
        throw new ValidationError(
          `Registering ${client} failed: ${response.status} ${await response.text()}`,
        );
    }
    await Promise.all(
      ids.map(
        (client, i) =>
          new Promise<void>((resolve, reject) => {
            const worker = new Worker(new URL('./federated-client-worker.mjs', import.meta.url), {
              workerData: { server, model: options.model, client, data: files[i] },
            });
            workers.push(worker);
            worker.on(
              'message',
              (message: { type: string; phase?: string; round?: number; error?: string }) => {
                if (message.type === 'ready') resolve();
                if (message.type === 'task')
                  options.onProgress?.({
                    client,
                    phase: message.phase ?? '',
                    round: message.round ?? 0,
                    ...(message.error ? { error: message.error } : {}),
                  });
              },
            );
            worker.once('error', reject);
          }),
      ),
    );
    const begun = await fetch(`${api}/sessions`, {
      method: 'POST',
      body: JSON.stringify({
        reason: `keel federated simulate: ${options.clients} clients, ${options.split}`,
      }),
      headers: { 'content-type': 'application/json' },
    });
    if (!begun.ok)
      throw new ValidationError(`Starting the federated run failed: ${begun.status} ${await begun.text()}`);
    const { executionId } = (await begun.json()) as { executionId: string };
    const done = await runtime.pipelines.wait(executionId);
    if (done.status !== 'SUCCEEDED') {
      // The step that failed, and why: the Fail state's cause only points at the record.
      const failed = (await runtime.pipelines.history(executionId)).filter(
        (s) => s.event === 'caught' || s.event === 'failed',
      );
      const first = failed[0];
      throw new KeelError(
        `The federated run ended ${done.status}${first ? `: ${first.state} failed with ${first.error}: ${first.cause}` : `: ${done.error ?? ''} ${done.cause ?? ''}`}`,
      );
    }
    const output = done.output as {
      session: FederatedSession;
      evaluation?: { Output?: { registered?: { version: number } } };
      gates?: { Cause?: string };
    };
    const session = output.session;
    const lineage = createLineageStore();
    const { weights } = await lineage.getJson<{ weights: number[] }>(session.global);
    const pipeline = await lineage.getJson<FittedPipeline>(session.pipeline);
    const heldX = transform(pipeline, held).matrix;
    const heldY = binaryLabels(held, label);
    const d = heldX.cols;
    const federatedScores = Float64Array.from({ length: heldX.rows }, (_, i) => {
      let z = weights[d] as number;
      for (let j = 0; j < d; j++) z += (weights[j] as number) * (heldX.data[i * d + j] as number);
      return sigmoid(z);
    });
    // The centralised baseline: every client's rows in one place, the same model and pipeline.
    const union = takeRows(
      pool,
      parts.flatMap((p) => Array.from(p)),
    );
    const central = fitLogistic(transform(pipeline, union).matrix, binaryLabels(union, label), { C: 1 });
    const centralScores = predictLogistic(central, heldX);
    const federatedAuc = auc(heldY, federatedScores);
    const centralisedAuc = auc(heldY, centralScores);
    const rounds = session.history.length;
    const totals = session.history.reduce(
      (acc, r) => ({
        sent: acc.sent + r.bytes.sent,
        received: acc.received + r.bytes.received,
        clients: acc.clients + r.asked,
      }),
      { sent: 0, received: 0, clients: 0 },
    );
    return {
      model: options.model,
      clients: options.clients,
      split: options.split,
      algorithm: options.algorithm,
      secureAggregation: options.secureAggregation,
      rounds,
      clientRows: parts.map((p) => p.length),
      heldOutRows: held.rowCount,
      auc: {
        federated: federatedAuc,
        centralised: centralisedAuc,
        difference: centralisedAuc - federatedAuc,
      },
      history: session.history,
      bytesPerClientPerRound: {
        sent: totals.clients > 0 ? totals.sent / totals.clients : 0,
        received: totals.clients > 0 ? totals.received / totals.clients : 0,
      },
      seconds: (performance.now() - started) / 1000,
      gates: output.gates
        ? { status: 'rejected', reason: output.gates.Cause ?? '' }
        : {
            status: 'registered',
            ...(output.evaluation?.Output?.registered
              ? { version: output.evaluation.Output.registered.version }
              : {}),
          },
      execution: executionId,
    };
  } finally {
    for (const worker of workers) worker.postMessage({ type: 'stop' });
    await Promise.all(workers.map((w) => w.terminate()));
    await runtime?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
