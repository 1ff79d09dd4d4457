import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { KEEL_BUNDLE } from '../../infra/constructs/bundling.ts';

const run = promisify(execFile);
// Inside the repository, so that the layer's onnxruntime-node resolves as it does in Lambda.
mkdirSync(resolve('bench/results'), { recursive: true }); // gitignored: absent in a fresh clone
const dir = mkdtempSync(resolve('bench/results/bundles-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every entry the stacks deploy, with the exports they name as handlers. */
const ENTRIES = [
  ['functions/inference/lambda.ts', ['handler']],
  ['functions/inference/shadow-lambda.ts', ['handler']],
  ['functions/inference/pre-traffic.ts', ['handler']],
  ['functions/inference/post-traffic.ts', ['handler']],
  ['functions/retraining/lambda.ts', ['trainHandler', 'evaluateHandler', 'approvalApiHandler']],
  ['functions/monitoring/lambda.ts', ['driftCheckHandler']],
] as const;

const ENV = {
  KEEL_MODEL_NAME: 'credit',
  KEEL_MODEL_VERSION: '1',
  KEEL_SAFE_DEFAULT: '{"probability":1,"label":1}',
  KEEL_SHADOW_SAMPLE_RATE: '0',
  KEEL_TABLE_NAME: 'keel-registry',
  KEEL_LINEAGE_BUCKET: 'keel-lineage',
  KEEL_CAPTURE_BUCKET: 'keel-capture',
  AWS_REGION: 'eu-west-1',
};

describe('function bundles, built as KeelFunction builds them', () => {
  it('names each entry the stacks deploy', () => {
    const infra = [
      'infra/stacks/pipeline-stack.ts',
      'infra/constructs/monitoring.ts',
      'infra/constructs/inference-service.ts',
    ]
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    const deployed = new Set([...infra.matchAll(/entry: '([^']+)'/g)].map((m) => m[1]));
    expect([...deployed].sort()).toEqual(ENTRIES.map(([e]) => e).sort());
  });

  it.each(ENTRIES)('%s loads in a fresh Node and exports its handlers', async (entry, handlers) => {
    // Prepare: the bundle, with the construct's settings (ESM builds first, SDK bundled).
    const outfile = join(dir, `${entry.replaceAll('/', '-')}.cjs`);
    await build({
      entryPoints: [entry],
      outfile,
      bundle: true,
      format: KEEL_BUNDLE.format,
      target: KEEL_BUNDLE.target,
      platform: KEEL_BUNDLE.platform,
      minify: KEEL_BUNDLE.minify,
      mainFields: [...KEEL_BUNDLE.mainFields],
      keepNames: KEEL_BUNDLE.keepNames,
      alias: KEEL_BUNDLE.alias,
      external: [...KEEL_BUNDLE.external, 'onnxruntime-node'],
      logLevel: 'silent',
    });

    // Act: a module load, as the Lambda runtime does it (a CommonJS handler is required).
    const { stdout } = await run(
      process.execPath,
      ['-e', `const m = require(${JSON.stringify(outfile)}); console.log(JSON.stringify(Object.keys(m)));`],
      { env: { ...process.env, ...ENV } },
    );

    // Assess
    expect(JSON.parse(stdout.trim().split('\n').at(-1) as string)).toEqual(
      expect.arrayContaining([...handlers]),
    );
  });

  /** An entry bundled as KeelFunction bundles it, in memory, with its metafile. */
  const bundleInMemory = (entry: string, external: readonly string[]) =>
    build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      metafile: true,
      format: KEEL_BUNDLE.format,
      platform: KEEL_BUNDLE.platform,
      mainFields: [...KEEL_BUNDLE.mainFields],
      alias: KEEL_BUNDLE.alias,
      external: [...KEEL_BUNDLE.external, ...external],
      outfile: join(dir, `${entry.replaceAll('/', '-')}.cjs`),
      logLevel: 'silent',
    });

  it('keeps protobufjs and the ONNX schema out of the inference bundle, explanations included', async () => {
    // Act
    const result = await bundleInMemory('functions/inference/lambda.ts', ['onnxruntime-node']);

    // Assess: they cost a cold start their parse and a failing-require probe (about 30 ms).
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((i) => /node_modules\/(protobufjs|onnx-proto)\//.test(i))).toEqual([]);
    // It serves model cards as JSON and Markdown: no schema validator, no charting.
    expect(inputs.filter((i) => /node_modules\/(ajv|vega|vega-lite|highs)\//.test(i))).toEqual([]);
    expect(inputs).toContain('functions/registry/card.ts');
    expect(inputs).toContain('functions/core/onnx/trees.ts');
  });

  it('carries the model-card schema inside the retraining bundle, which validates cards at registration', async () => {
    // Act
    const result = await bundleInMemory('functions/retraining/lambda.ts', ['onnxruntime-node', 'highs']);

    // Assess: no contracts/ directory sits beside a Lambda's code, so the schema must be inlined.
    expect(Object.keys(result.metafile.inputs)).toContain(
      'functions/contracts/schemas/sagemaker-model-card-content.schema.json',
    );
    const code = result.outputFiles?.map((f) => f.text).join('') ?? '';
    expect(code).not.toMatch(/sagemaker-model-card-content\.schema\.json['"]\s*,\s*import\.meta/);
  });

  it('loads HiGHS from a CommonJS bundle, as the Mitigate step does (no import.meta there)', async () => {
    // Prepare: the solver's module bundled as CDK bundles a function, beside node_modules.
    const out = join(process.cwd(), 'node_modules', '.keel-test-lp.cjs');
    await build({
      entryPoints: ['functions/core/lp.ts'],
      bundle: true,
      format: KEEL_BUNDLE.format,
      platform: KEEL_BUNDLE.platform,
      mainFields: [...KEEL_BUNDLE.mainFields],
      external: ['highs'],
      outfile: out,
      logLevel: 'silent',
    });
    try {
      // Act
      const { loadLinearProgramSolver } = createRequire(import.meta.url)(
        out,
      ) as typeof import('../../functions/core/lp.ts');
      const solve = await loadLinearProgramSolver();
      const solution = solve({
        objective: [1, 2],
        constraints: [
          {
            terms: [
              [0, 1],
              [1, 1],
            ],
            sense: '=',
            rhs: 1,
          },
        ],
      });

      // Assess
      expect(solution.status).toBe('Optimal');
      expect(solution.objective).toBeCloseTo(1, 12);
    } finally {
      rmSync(out, { force: true });
    }
  });

  it('gives zod/mini, alone in a bundle, English messages (it loads no locale by itself)', async () => {
    // Prepare: a bundle with no classic zod in it, which would have set the locale.
    const outfile = join(dir, 'zod-locale.cjs');
    await build({
      stdin: {
        contents: `import * as z from './functions/contracts/zod.ts';
          console.log(JSON.stringify(z.object({ a: z.number() }).safeParse({ a: 'x' }).error.issues[0].message));`,
        resolveDir: resolve('.'),
        loader: 'ts',
      },
      outfile,
      bundle: true,
      format: KEEL_BUNDLE.format,
      platform: KEEL_BUNDLE.platform,
      logLevel: 'silent',
    });

    // Act
    const { stdout } = await run(process.execPath, [outfile]);

    // Assess
    expect(JSON.parse(stdout.trim())).toBe('Invalid input: expected number, received string');
    expect(readFileSync(outfile, 'utf8')).not.toContain('ZodString');
  });
});
