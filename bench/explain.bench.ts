/**
 * TreeSHAP against shap's C++ `TreeExplainer` on the same trees and rows, in the same run: a
 * GBDT of the shipped shape (100 trees, depth 6, 31 leaves) trained by Keel on the training
 * benchmark's problem, 1,000 rows explained, path-dependent and interventional (100 background
 * rows). Goal ≤ 1.5× each. Python is a separate process, timed by its own clock around
 * `shap_values` alone; both sides' sums of |φ| must agree, or the comparison is void.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { interventionalShap, pathDependentShap } from '../functions/core/explain/treeshap.ts';
import { matrix } from '../functions/core/linalg.ts';
import { fitGbdt } from '../functions/core/models/gbdt.ts';
import { Rng } from '../functions/core/random.ts';
import { type Comparison, compareSamples } from './harness.ts';
import { referencePython } from './python.ts';

const TRAIN = 20_000;
const ROWS = 1_000;
const BACKGROUND = 100;
const COLS = 20;
const REPEATS = 3;

function data(n: number, rng: Rng) {
  const x = new Float64Array(n * COLS);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let z = -0.5;
    for (let j = 0; j < COLS; j++) {
      const v = rng.uniform() < 0.03 ? Number.NaN : rng.normal();
      x[i * COLS + j] = v;
      if (j < 6 && !Number.isNaN(v)) z += (j % 2 ? -0.6 : 0.8) * v;
    }
    y[i] = rng.uniform() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  }
  return { x: matrix(n, COLS, x), y };
}

function time(fn: () => unknown): number[] {
  fn();
  return Array.from({ length: REPEATS }, () => {
    const start = performance.now();
    fn();
    return performance.now() - start;
  });
}

const absSum = (values: Float64Array) => values.reduce((a, v) => a + Math.abs(v), 0);

export async function run(): Promise<Comparison[]> {
  const python = referencePython(['shap']);
  if (!python) {
    process.stderr.write('explain.bench: no Python with shap (set KEEL_PYTHON); skipped\n');
    return [];
  }
  const rng = new Rng(4);
  const train = data(TRAIN, rng);
  const model = fitGbdt(train.x, train.y, {
    trees: 100,
    maxDepth: 6,
    maxLeaves: 31,
    learningRate: 0.1,
    seed: 1,
  });
  const x = data(ROWS, rng).x;
  const background = data(BACKGROUND, rng).x;
  const dir = mkdtempSync(join(tmpdir(), 'keel-bench-shap-'));
  try {
    writeFileSync(
      join(dir, 'model.json'),
      JSON.stringify({
        baseScore: model.baseScore,
        trees: model.trees.map((t) => ({
          feature: Array.from(t.feature),
          threshold: Array.from(t.threshold, (v) => (Number.isFinite(v) ? v : 1e308)),
          missingLeft: Array.from(t.missingLeft),
          left: Array.from(t.left),
          right: Array.from(t.right),
          value: Array.from(t.value),
          cover: Array.from(t.cover),
        })),
      }),
    );
    writeFileSync(join(dir, 'x.f64'), x.data);
    writeFileSync(join(dir, 'background.f64'), background.data);
    writeFileSync(
      join(dir, 'shape.json'),
      JSON.stringify({ rows: ROWS, features: COLS, background: BACKGROUND }),
    );
    const script = join(import.meta.dirname, 'python', 'treeshap_baseline.py');
    const baseline = spawnSync(python, [script, dir, String(REPEATS)], {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    });
    if (baseline.status !== 0) throw new Error(`shap baseline failed: ${baseline.stderr}`);
    const reference = JSON.parse(baseline.stdout) as Record<
      'pathDependent' | 'interventional',
      { ms: number[]; checksum: number }
    > & { shap: string };
    let path = pathDependentShap(model, x);
    let interventional = interventionalShap(model, x, background);
    const pathMs = time(() => {
      path = pathDependentShap(model, x);
    });
    const interventionalMs = time(() => {
      interventional = interventionalShap(model, x, background);
    });
    // The same explanations, or the timings compare different work.
    for (const [name, ours, theirs] of [
      ['path-dependent', path, reference.pathDependent],
      ['interventional', interventional, reference.interventional],
    ] as const) {
      const sum = absSum(ours.values);
      if (Math.abs(sum - theirs.checksum) > 1e-6 * Math.max(1, sum))
        throw new Error(`${name} SHAP differs from shap's: Σ|φ| ${sum} vs ${theirs.checksum}`);
    }
    return [
      compareSamples({
        suite: `TreeSHAP, 100 trees depth 6, ${ROWS} rows × ${COLS} inputs`,
        subject: 'Keel path-dependent',
        baseline: `shap ${reference.shap} TreeExplainer (C++), tree_path_dependent`,
        subjectMs: pathMs,
        baselineMs: reference.pathDependent.ms,
        goal: '≤ 1.5×',
      }),
      compareSamples({
        suite: `TreeSHAP, 100 trees depth 6, ${ROWS} rows × ${COLS} inputs`,
        subject: `Keel interventional (${BACKGROUND} background rows)`,
        baseline: `shap ${reference.shap} TreeExplainer (C++), interventional`,
        subjectMs: interventionalMs,
        baselineMs: reference.interventional.ms,
        goal: '≤ 1.5×',
      }),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
