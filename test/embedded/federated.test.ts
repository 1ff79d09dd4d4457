/**
 * Federated training on the local runtime, through the same state machine, client API, secure
 * aggregation and retraining gates as AWS: clients that never answer, answer after their step
 * closed, or upload garbage drop out of the round; the masks of the dropped are removed exactly
 * (the average equals plain FedAvg over the survivors); a round without a quorum fails and
 * registers nothing; and no client row reaches the server's storage.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentClient, s3Client } from '../../functions/commons/clients.ts';
import { createLineageStore, createRegistry } from '../../functions/composition/aws.ts';
import { type FederatedTask, federatedPipelineName } from '../../functions/contracts/federated.ts';
import { columnStrings, type Table, toCsv } from '../../functions/core/data/table.ts';
import { type FittedPipeline, transform } from '../../functions/core/features/pipeline.ts';
import { binaryLabels, federatedAverage, localUpdate } from '../../functions/core/federated/fedavg.ts';
import { Rng } from '../../functions/core/random.ts';
import { generateCredit } from '../../functions/core/synthetic/credit.ts';
import { stratifiedSplit, takeRows } from '../../functions/core/training/train.ts';
import {
  type FederatedApi,
  FederatedClientWorker,
  httpFederatedApi,
  runClient,
} from '../../functions/federated/client.ts';
import type { FederatedSession } from '../../functions/federated/session.ts';
import type { LocalRuntime } from '../../local/runtime.ts';
import { startScenarioRuntime } from '../support/runtime.ts';

const MODEL = 'credit';
let runtime: LocalRuntime;
let dir: string;
const running: AbortController[] = [];

const population = generateCredit({ rows: 6000, seed: 3 });
const split = stratifiedSplit(binaryLabels(population, 'default'), 0.2, new Rng(3));
const server = takeRows(population, split.holdout);
const pool = takeRows(population, split.train);
/** Eight clients' rows: IID slices of the pool. */
const slice = Math.floor(pool.rowCount / 8);
const clientRows = (i: number): Table =>
  takeRows(
    pool,
    Array.from({ length: slice }, (_, k) => i * slice + k),
  );

const api = (client: string): FederatedApi => httpFederatedApi(runtime.url as string, MODEL, client);

async function register(client: string): Promise<void> {
  const response = await fetch(`${runtime.url}/v1/federated/${MODEL}/clients`, {
    method: 'POST',
    body: JSON.stringify({ client }),
    headers: { 'content-type': 'application/json' },
  });
  expect(response.status).toBe(201);
}

/** Runs a client until the test ends; `errors` collects what its tasks failed with. */
function serve(worker: FederatedClientWorker, errors: string[] = [], heartbeatMs = 200): void {
  const stop = new AbortController();
  running.push(stop);
  void runClient(worker, api(worker.id), {
    signal: stop.signal,
    pollMs: 20,
    heartbeatMs,
    onTask: (e) => {
      if (e.error) errors.push(`${e.phase}: ${e.error}`);
    },
  });
}

/** Words of a contribution: the model's weights (one per feature, and the intercept), then the rows. */
const pipelineWidth = (session: FederatedSession) => session.features.length + 2;

async function federate(rounds: number) {
  const response = await fetch(`${runtime.url}/v1/federated/${MODEL}/sessions`, {
    method: 'POST',
    body: JSON.stringify({ rounds }),
    headers: { 'content-type': 'application/json' },
  });
  expect(response.status).toBe(202);
  const { executionId } = (await response.json()) as { executionId: string };
  return runtime.pipelines.wait(executionId);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-federated-test-'));
  const serverData = join(dir, 'server.csv');
  await writeFile(serverData, toCsv(server));
  const raw = JSON.parse(await readFile('examples/federated-credit/keel.config.json', 'utf8'));
  const model = raw.models.credit;
  model.data.source = serverData;
  // A silent client is cut off after 2 s without a heartbeat.
  model.federated = {
    ...model.federated,
    rounds: 1,
    minClients: 3,
    heartbeatSeconds: 2,
    taskTimeoutSeconds: 60,
  };
  model.gates = { ...model.gates, bootstrapSamples: 200 };
  model.retraining = { rolloutPollSeconds: 1 };
  runtime = await startScenarioRuntime(raw);
}, 60_000);

afterAll(async () => {
  for (const stop of running) stop.abort();
  await runtime?.stop();
});

describe('federated training with secure aggregation', () => {
  const errors: Record<string, string[]> = { late: [], malformed: [] };

  it('drops the silent, the late and the malformed, and averages exactly the survivors', async () => {
    // Prepare: five honest clients, one registered but silent, one too slow, one sending garbage.
    const honest = ['bank-a', 'bank-b', 'bank-c', 'bank-d', 'bank-e'];
    for (const id of [...honest, 'silent', 'late', 'malformed']) await register(id);
    for (const [i, id] of honest.entries()) serve(new FederatedClientWorker(id, clientRows(i)));
    const late = new FederatedClientWorker('late', clientRows(5));
    const slow = Object.assign(Object.create(late), {
      handle: async (task: FederatedTask) => {
        // Past its heartbeat: the step closes without it; its answer comes after.
        if (task.phase === 'train') await new Promise((resolve) => setTimeout(resolve, 3000));
        return late.handle(task);
      },
    }) as FederatedClientWorker;
    // Hung, not working: no heartbeats either.
    serve(Object.assign(slow, { id: 'late' }), errors.late, 60_000);
    const malformed = new FederatedClientWorker('malformed', clientRows(6));
    const garbage = Object.assign(Object.create(malformed), {
      handle: async (task: FederatedTask) => {
        if (task.phase !== 'train') return malformed.handle(task);
        await fetch(task.payload.uploadUrl as string, {
          method: 'PUT',
          body: '{"client":"malformed","masked":"!!"}',
        });
        return { uploaded: true, client: 'malformed', phase: 'train' };
      },
    }) as FederatedClientWorker;
    serve(Object.assign(garbage, { id: 'malformed' }), errors.malformed);

    // Act
    const done = await federate(1);

    // Assess
    expect(done.status, `${done.error}: ${done.cause}`).toBe('SUCCEEDED');
    const session = (done.output as { session: FederatedSession }).session;
    const [round] = session.history;
    expect(round).toMatchObject({ asked: 8, aggregated: 5 });
    expect(round?.dropped.advertise).toEqual(['silent']);
    expect(round?.dropped.train).toEqual(['late']);
    expect(round?.refused).toEqual([
      { client: 'malformed', reason: `not ${pipelineWidth(session)} 64-bit words` },
    ]);
    expect(round?.rows).toBe(honest.length * clientRows(0).rowCount);
    // The late answer came after its step closed, and was refused.
    expect((errors.late ?? []).join('\n')).toMatch(/train: .*409/);

    // The unmasked average is plain FedAvg over the five survivors, from the zero model.
    const lineage = createLineageStore();
    const pipeline = await lineage.getJson<FittedPipeline>(session.pipeline);
    const { weights } = await lineage.getJson<{ weights: number[] }>(session.global);
    const expected = federatedAverage(
      honest.map((_, i) => {
        const rows = clientRows(i);
        const { matrix } = transform(pipeline, rows);
        return {
          model: localUpdate(new Float64Array(matrix.cols + 1), matrix, binaryLabels(rows, 'default'), {
            epochs: 1,
            batchSize: 64,
            learningRate: 0.1,
            mu: 0,
            l2: 1e-4,
            seed: 1,
          }),
          rows: rows.rowCount,
        };
      }),
    );
    weights.forEach((w, j) => {
      expect(Math.abs(w - (expected[j] as number))).toBeLessThan(1e-6);
    });
  }, 120_000);

  it('keeps every client row off the server: no client applicant id is in any bucket or item', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 7; i++)
      for (const id of columnStrings(clientRows(i), 'applicant_id')) if (id) ids.add(id);
    const stored: string[] = [];
    for (const bucket of ['keel-lineage', 'keel-federated', 'keel-capture']) {
      const listed = await s3Client().send(new ListObjectsV2Command({ Bucket: bucket }));
      for (const object of listed.Contents ?? []) {
        const body = await s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: object.Key }));
        stored.push((await body.Body?.transformToString()) ?? '');
      }
    }
    const items = await documentClient().send(new ScanCommand({ TableName: 'keel-registry' }));
    stored.push(JSON.stringify(items.Items ?? []));
    expect(stored.length).toBeGreaterThan(10);
    const text = stored.join('\n');
    const leaked = [...ids].filter((id) => text.includes(id));
    expect(leaked).toEqual([]);
    // The check can fail: the server's own rows (its validation data) are there.
    const serverId = columnStrings(server, 'applicant_id').find((v) => v !== null) as string;
    expect(text.includes(serverId)).toBe(true);
  });

  it('fails a round without a quorum cleanly, and registers nothing from it', async () => {
    // Prepare: the honest clients stop; only two remain of the eight registered.
    const before = await createRegistry()
      .listVersions(MODEL)
      .catch(() => ({ items: [] }));
    for (const stop of running) stop.abort();
    serve(new FederatedClientWorker('bank-a', clientRows(0)));
    serve(new FederatedClientWorker('bank-b', clientRows(1)));
    // Act
    const done = await federate(1);
    // Assess
    expect(done.status).toBe('FAILED');
    const steps = await runtime.pipelines.history(done.executionId);
    const failed = steps.find((s) => s.state === 'Roster' && s.cause !== undefined);
    expect(failed?.state).toBe('Roster');
    expect(failed?.cause).toMatch(/advertise keys: 2 clients answered, fewer than the 5 a round needs/);
    const after = await createRegistry()
      .listVersions(MODEL)
      .catch(() => ({ items: [] }));
    expect(after.items.length).toBe(before.items.length);
    expect(federatedPipelineName('keel', MODEL)).toBe('keel-credit-federated');
  }, 120_000);
});
