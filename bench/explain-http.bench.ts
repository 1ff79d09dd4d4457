/**
 * `:explain` one row over local HTTP (`keel up`'s server, the inference handler, TreeSHAP
 * interventional against the stored 100-row background) against `:predict` of the same row on
 * the same server, in the same run: a GBDT of the shipped shape (the shipped config's pipeline,
 * 100 trees) trained and published as the retraining pipeline does, explainer included. Requests
 * are sequential on one keep-alive connection, alternating, so both see the same machine.
 * Goal: `:explain` p99 ≤ 5 ms.
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { type Comparison, compareSamples } from './harness.ts';

const REQUESTS = 2000;
const WARMUP = 200;

function post(agent: Agent, url: URL, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(performance.now() - started)
            : reject(new Error(`HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export async function run(): Promise<Comparison[]> {
  const { parseConfig } = await import('../functions/contracts/config/load.ts');
  const { LocalRuntime } = await import('../local/runtime.ts');
  const { createLineageStore, createRegistry } = await import('../functions/composition/aws.ts');
  const { generateCredit } = await import('../functions/core/synthetic/credit.ts');
  const { train } = await import('../functions/core/training/train.ts');
  const { publishTrainingResult } = await import('../functions/registry/publish.ts');
  const { cell } = await import('../functions/core/data/table.ts');

  const config = parseConfig(JSON.parse(readFileSync('keel.config.json', 'utf8')));
  const runtime = await LocalRuntime.start({ config, ephemeral: true, port: 0 });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const result = train(generateCredit({ rows: 20_000, seed: 42 }), {
      label: 'default',
      protected: ['sex', 'age_band'],
      exclude: ['applicant_id'],
      features: config.models.credit?.features as never,
      hyperparameters: { trees: 100, validation: 0 },
      bootstrapSamples: 50,
      dataHash: 'e'.repeat(64),
      codeVersion: 'abc1234',
    });
    const registry = createRegistry();
    const who = { actor: 'bench', reason: 'bench' };
    const { version } = await publishTrainingResult(registry, createLineageStore(), result, {
      model: 'credit',
      owner: 'bench',
      intendedUse: 'bench',
      codeVersion: 'abc1234',
      actor: 'bench',
    });
    await registry.approve('credit', version, who);
    await registry.moveAlias('credit', 'production', { to: version, expected: null }, who);
    await runtime.syncServing();

    const rows = generateCredit({ rows: 50, seed: 7 });
    const bodies = Array.from({ length: rows.rowCount }, (_, r) =>
      JSON.stringify({
        instances: [
          Object.fromEntries(
            result.pipeline.inputs.map((i) => [i.name, cell(rows.columns.get(i.name) as never, r)]),
          ),
        ],
      }),
    );
    const predict = new URL(`${runtime.url}/v1/models/credit:predict`);
    const explain = new URL(`${runtime.url}/v1/models/credit:explain`);
    for (let i = 0; i < WARMUP; i++) {
      await post(agent, predict, bodies[i % bodies.length] as string);
      await post(agent, explain, bodies[i % bodies.length] as string);
    }
    const pathBodies = bodies.map((b) =>
      JSON.stringify({ ...JSON.parse(b), parameters: { feature_perturbation: 'tree-path-dependent' } }),
    );
    const predictMs: number[] = [];
    const explainMs: number[] = [];
    const pathMs: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      predictMs.push(await post(agent, predict, bodies[i % bodies.length] as string));
      explainMs.push(await post(agent, explain, bodies[i % bodies.length] as string));
      pathMs.push(await post(agent, explain, pathBodies[i % bodies.length] as string));
    }
    const suite = `local HTTP, one row, ${REQUESTS} sequential requests each (GBDT, ${result.explainer.covers?.length} trees)`;
    const baseline = 'POST :predict, same rows, same server';
    return [
      compareSamples({
        suite,
        subject: 'POST :explain (TreeSHAP interventional, 100 background rows)',
        baseline,
        subjectMs: explainMs,
        baselineMs: predictMs,
        goal: ':explain p99 ≤ 5 ms',
      }),
      compareSamples({
        suite,
        subject: 'POST :explain (TreeSHAP tree-path-dependent)',
        baseline,
        subjectMs: pathMs,
        baselineMs: predictMs,
        goal: ':explain p99 ≤ 5 ms',
      }),
    ];
  } finally {
    agent.destroy();
    await runtime.stop();
  }
}
