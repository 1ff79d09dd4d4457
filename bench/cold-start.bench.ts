/**
 * Cold start of the inference function as CDK ships it: the esbuild bundle of
 * `functions/inference/lambda.ts`, built with the construct's own settings
 * (`infra/constructs/bundling.ts`), run in fresh Node processes against the embedded emulators.
 * Init to first answer = module load + the first request (clients, registry lookup, artifact
 * fetch and hash check, session creation for the primary and the fallback model, the
 * prediction). Baseline, in the same run: a bare script that loads onnxruntime-node, creates
 * the same session and runs one row. Rounds alternate; medians count.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { cell } from '../functions/core/data/table.ts';
import { KEEL_BUNDLE } from '../infra/constructs/bundling.ts';
import { type Comparison, compareSamples } from './harness.ts';

const ROUNDS = 7;
const exec = promisify(execFile);
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** Runs a fresh Node process; asynchronously, since the emulators it calls run in this one. */
async function node(args: string[], env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  const { stdout } = await exec(process.execPath, args, { encoding: 'utf8', env, maxBuffer: 16 << 20 });
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
}

export async function run(): Promise<Comparison[]> {
  return coldStart();
}

async function coldStart(): Promise<Comparison[]> {
  const { EmbeddedAws } = await import('../local/embedded-aws.ts');
  const { provision } = await import('../local/provision.ts');
  const { localResourceNames, RESOURCE_ENV } = await import('../functions/contracts/resources.ts');
  const { INFERENCE_ENV } = await import('../functions/contracts/inference.ts');
  const { referenceModels } = await import('../test/support/onnx-reference.ts');
  const { registerReferenceGbdt } = await import('./reference-model.ts');

  const dir = await mkdtemp(join(tmpdir(), 'keel-cold-start-'));
  const aws = await EmbeddedAws.start({ stateDir: join(dir, 'aws') });
  const saved = { ...process.env };
  try {
    const names = localResourceNames('keel-bench');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...aws.env(),
      [RESOURCE_ENV.table]: names.table,
      [RESOURCE_ENV.lineageBucket]: names.lineageBucket,
      [RESOURCE_ENV.captureBucket]: names.captureBucket,
    };
    Object.assign(process.env, env);
    await provision(names);
    const { createLineageStore, createRegistry } = await import('../functions/composition/aws.ts');
    const reference = referenceModels();
    const { LocalEventBus } = await import('../local/adapters/event-bus.ts');
    const { version, bytes } = await registerReferenceGbdt(
      createRegistry(process.env, new LocalEventBus()),
      createLineageStore(),
      ['production', 'fallback'],
    );

    // The bundle, as the construct builds it (onnxruntime-node comes from its layer).
    const out = resolve('bench/results/cold-start');
    await mkdir(out, { recursive: true });
    const bundle = join(out, 'inference.cjs');
    await build({
      entryPoints: ['functions/inference/lambda.ts'],
      outfile: bundle,
      bundle: true,
      format: KEEL_BUNDLE.format,
      target: KEEL_BUNDLE.target,
      platform: KEEL_BUNDLE.platform,
      minify: process.env.KEEL_COLD_START_PROFILE ? false : KEEL_BUNDLE.minify,
      sourcemap: KEEL_BUNDLE.sourcemap,
      mainFields: [...KEEL_BUNDLE.mainFields],
      keepNames: KEEL_BUNDLE.keepNames,
      alias: KEEL_BUNDLE.alias,
      external: [...KEEL_BUNDLE.external, 'onnxruntime-node'],
      logLevel: 'silent',
    });
    const bundleBytes = (await stat(bundle)).size;
    const modelPath = join(dir, 'model.onnx');
    await writeFile(modelPath, bytes);
    const row = Object.fromEntries(
      reference.pipeline.inputs.map((i) => [i.name, cell(reference.scoring.columns.get(i.name) as never, 0)]),
    );
    const feedsPath = join(dir, 'feeds.json');
    await writeFile(
      feedsPath,
      JSON.stringify(reference.pipeline.inputs.map((i) => [i.name, i.type, row[i.name]])),
    );
    const body = JSON.stringify({ instances: [row] });
    const functionEnv: NodeJS.ProcessEnv = {
      ...env,
      [INFERENCE_ENV.modelName]: 'credit',
      [INFERENCE_ENV.modelVersion]: String(version),
      [INFERENCE_ENV.safeDefault]: JSON.stringify({ probability: 1, label: 1 }),
      // What the Lambda runtime and the construct set; metrics go to stdout as EMF, as in Lambda.
      POWERTOOLS_SERVICE_NAME: 'bench',
      POWERTOOLS_LOG_LEVEL: 'WARN',
      POWERTOOLS_TRACE_ENABLED: 'false',
    };
    delete functionEnv.POWERTOOLS_METRICS_DISABLED;

    const subject: Record<string, unknown>[] = [];
    const bare: Record<string, unknown>[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      subject.push(await node(['bench/cold-start-child.mjs', bundle, body], functionEnv));
      bare.push(await node(['bench/cold-start-bare.mjs', modelPath, feedsPath], env));
    }
    // KEEL_COLD_START_PROFILE=dir: one more cold start under the V8 profiler, for the phases' causes.
    const profileDir = process.env.KEEL_COLD_START_PROFILE;
    if (profileDir)
      await node(
        ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, 'bench/cold-start-child.mjs', bundle, body],
        functionEnv,
      );
    const init = subject.map((s) => (s.load as number) + (s.first as number));
    const bareInit = bare.map((b) => (b.load as number) + (b.first as number));
    const results: Comparison[] = [
      compareSamples({
        suite: 'cold start, shipped bundle, fresh node 22 (median of 7)',
        subject: `init to first answer (bundle ${(bundleBytes / 1024).toFixed(0)} KiB)`,
        baseline: 'bare: load onnxruntime-node, create the session, run one row',
        subjectMs: [median(init)],
        baselineMs: [median(bareInit)],
        goal: 'init to first answer ≤ 300 ms',
      }),
    ];
    // Each phase's median, as a share of the median init.
    const phases = new Map<string, number[]>();
    const add = (name: string, ms: number) => phases.set(name, [...(phases.get(name) ?? []), ms]);
    for (const s of subject) {
      add('module load', s.load as number);
      let last = 0;
      for (const [name, at] of s.marks as [string, number][]) {
        add(name, at - last);
        last = at;
      }
      add('routing, validation, prediction, capture', (s.first as number) - last);
      add('a warm request after it', s.warm as number);
    }
    for (const [name, samples] of phases)
      results.push(
        compareSamples({
          suite: 'cold start phases (median; share of init)',
          subject: name,
          baseline: `init ${median(init).toFixed(1)} ms`,
          subjectMs: [median(samples)],
          baselineMs: [median(init)],
        }),
      );
    return results;
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
    await aws.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
