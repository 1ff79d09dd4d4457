import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import AdmZip from 'adm-zip';
import { afterAll, describe, expect, it } from 'vitest';
import { buildHighsLayer } from '../../layers/highs.ts';
import { buildOnnxRuntimeLayer } from '../../layers/onnxruntime.ts';
import { referenceModels } from '../support/onnx-reference.ts';

const out = mkdtempSync(join(tmpdir(), 'keel-layer-'));
const MB = 1024 * 1024;

afterAll(() => {
  rmSync(out, { recursive: true, force: true });
});

describe('onnxruntime-node layer', () => {
  it('holds only the linux/arm64 binaries: about 25 MB unzipped, 10 MB zipped', () => {
    // Act
    const build = buildOnnxRuntimeLayer('arm64', out);

    // Assess: under Lambda's limits with room, and not suspiciously empty.
    expect(build.unzippedBytes).toBeGreaterThan(20 * MB);
    expect(build.unzippedBytes).toBeLessThan(30 * MB);
    expect(build.zippedBytes).toBeGreaterThan(7 * MB);
    expect(build.zippedBytes).toBeLessThan(12 * MB);
    const modules = join(build.dir, 'nodejs', 'node_modules');
    expect(readdirSync(modules).sort()).toEqual(['onnxruntime-common', 'onnxruntime-node']);
    expect(readdirSync(join(modules, 'onnxruntime-node', 'bin', 'napi-v6'))).toEqual(['linux']);
    expect(readdirSync(join(modules, 'onnxruntime-node', 'bin', 'napi-v6', 'linux'))).toEqual(['arm64']);
    const entries = new AdmZip(build.zip).getEntries().map((e) => e.entryName);
    expect(entries).toContain(
      'nodejs/node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/onnxruntime_binding.node',
    );
    expect(entries.some((e) => e.includes('/x64/') || e.includes('darwin') || e.includes('win32'))).toBe(
      false,
    );
  }, 60_000);

  it('loads and runs a Keel model from the layer layout (x64 build, this machine)', async () => {
    // Prepare
    if (process.arch !== 'x64') return;
    const build = buildOnnxRuntimeLayer('x64', out);
    const require = createRequire(join(build.dir, 'nodejs', 'node_modules', 'index.js'));
    const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
    const [lr] = referenceModels().models;

    // Act
    const session = await ort.InferenceSession.create(lr?.bytes as Uint8Array);

    // Assess
    expect(session.outputNames).toEqual(['label', 'probabilities']);
    await session.release();
  }, 60_000);
});

describe('HiGHS layer', () => {
  it('holds the package’s CommonJS build and wasm only, and solves a program from the layer layout', async () => {
    // Act
    const build = buildHighsLayer(out);
    const root = join(build.dir, 'nodejs', 'node_modules');
    const require = createRequire(join(root, 'index.js'));
    const load = require('highs') as typeof import('highs')['default'];
    const highs = await load();
    const solved = highs.solve('Minimize\n obj: + 1 x0 + 2 x1\nSubject To\n c0: + 1 x0 + 1 x1 = 1\nEnd\n');

    // Assess
    expect(readdirSync(root)).toEqual(['highs']);
    expect(readdirSync(join(root, 'highs', 'build')).sort()).toEqual(['highs.js', 'highs.wasm']);
    expect(build.unzippedBytes).toBeGreaterThan(3 * MB);
    expect(build.unzippedBytes).toBeLessThan(6 * MB);
    expect(solved.Status).toBe('Optimal');
    expect(solved.ObjectiveValue).toBeCloseTo(1, 12);
  }, 60_000);
});
