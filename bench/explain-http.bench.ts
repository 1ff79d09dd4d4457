/**
 * `:explain` one row over local HTTP (`keel up`'s server, the inference handler, TreeSHAP
 * interventional against the stored 100-row background) against `:predict` of the same row on
 * the same server, in the same run: a GBDT of the shipped shape (the shipped config's pipeline,
 * 100 trees) trained and published as the retraining pipeline does, explainer included. Requests
 * are sequential on one keep-alive connection, alternating, so both see the same machine. The
 * client runs in its own process (`http-client.mjs`), as a caller of `keel up` does: in this
 * one, its allocations and collections were the server's too.
 * Goal: `:explain` p99 ≤ 5 ms.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Comparison, compareSamples } from './harness.ts';

const REQUESTS = 2000;
const WARMUP = 200;

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
  const dir = mkdtempSync(join(tmpdir(), 'keel-bench-http-'));
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
    const pathBodies = bodies.map((b) =>
      JSON.stringify({ ...JSON.parse(b), parameters: { feature_perturbation: 'tree-path-dependent' } }),
    );
    const plan = join(dir, 'plan.json');
    writeFileSync(
      plan,
      JSON.stringify({
        warmup: WARMUP,
        requests: REQUESTS,
        routes: [
          { name: 'predict', url: `${runtime.url}/v1/models/credit:predict`, bodies },
          { name: 'explain', url: `${runtime.url}/v1/models/credit:explain`, bodies },
          { name: 'path', url: `${runtime.url}/v1/models/credit:explain`, bodies: pathBodies },
        ],
      }),
    );
    // The server answers on this process's event loop while the client's process runs.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(import.meta.dirname, 'http-client.mjs'), plan],
      { maxBuffer: 1 << 24 },
    );
    const {
      predict: predictMs,
      explain: explainMs,
      path: pathMs,
    } = JSON.parse(stdout) as Record<'predict' | 'explain' | 'path', number[]>;
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
    rmSync(dir, { recursive: true, force: true });
    await runtime.stop();
  }
}
