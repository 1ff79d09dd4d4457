import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const HOOK = './test/support/forbid-runtime.mjs';
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/**
 * Runs a module under Node with the runtime's heavy modules made unloadable
 * (`test/support/forbid-runtime.mjs`); resolves to the Keel modules it loaded.
 */
async function withoutRuntime(entry: string, env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'keel-synth-'));
  dirs.push(dir);
  const loaded = join(dir, 'loaded.txt');
  const result = await run(process.execPath, ['--import', 'tsx', '--import', HOOK, entry], {
    env: { ...process.env, ...env, KEEL_LOADED_MODULES: loaded, CDK_OUTDIR: join(dir, 'cdk.out') },
    maxBuffer: 16 * 1024 * 1024,
  });
  const modules = [
    ...new Set(
      readFileSync(loaded, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((url) => relative(process.cwd(), fileURLToPath(url))),
    ),
  ].sort();
  return { ...result, modules, out: join(dir, 'cdk.out') };
}

describe('cdk synth without the runtime', () => {
  it('synthesizes every stack with onnxruntime-node, the SDK clients, Powertools and middy unloadable', async () => {
    // Act: the CDK app as `cdk synth` runs it (bundling skipped: esbuild runs in its own process).
    const { modules, out } = await withoutRuntime('infra/app.ts', {
      CDK_CONTEXT_JSON: JSON.stringify({ 'aws:cdk:bundling-stacks': [] }),
    });

    // Assess: templates were written, and only contracts and the kernel were loaded from functions/.
    const templates = readdirSync(out).filter((f) => f.endsWith('.template.json'));
    expect(templates).toEqual(
      expect.arrayContaining(['keel-data.template.json', 'keel-pipeline.template.json']),
    );
    expect(templates.length).toBeGreaterThanOrEqual(3);
    const runtime = modules.filter((m) => m.startsWith('functions/'));
    expect(runtime.length).toBeGreaterThan(0);
    expect(runtime.filter((m) => !/^functions\/(contracts|kernel)\//.test(m))).toEqual([]);
  });

  it('fails a module that does load the runtime: the check can fail', async () => {
    // Act and assess: the AWS composition root loads SDK clients, so the hook refuses it.
    await expect(withoutRuntime('functions/composition/aws.ts')).rejects.toThrow(
      /may not be loaded by cdk synth/,
    );
  });
});
