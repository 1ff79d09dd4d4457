/**
 * Training time against the reference libraries on the same 100k×20 matrix, in the same run:
 * Keel's histogram GBDT against LightGBM (100 trees, depth 6, 31 leaves, one thread each;
 * goal ≤ 1.5×) and Keel's Newton logistic regression against scikit-learn's lbfgs (goal ≤ 1.2×),
 * with BLAS on its default threads and on one, as Keel and LightGBM run.
 * Python is a separate process: each side is timed by its own clock around fit() alone.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Matrix } from '../functions/core/linalg.ts';
import { fitGbdt } from '../functions/core/models/gbdt.ts';
import { fitLogistic } from '../functions/core/models/logistic.ts';
import { Rng } from '../functions/core/random.ts';
import { type Comparison, compareSamples } from './harness.ts';
import { referencePython } from './python.ts';

const ROWS = 100_000;
const COLS = 20;
const REPEATS = 5;
const GBDT = { trees: 100, maxDepth: 6, maxLeaves: 31, learningRate: 0.1, threads: 1 };

/** A nonlinear problem with interactions, so trees have real splits to find. */
function problem(): { x: Matrix; y: Float64Array } {
  const rng = new Rng(1);
  const data = new Float64Array(ROWS * COLS);
  const y = new Float64Array(ROWS);
  for (let i = 0; i < ROWS; i++) {
    let z = -0.5;
    for (let j = 0; j < COLS; j++) {
      const v = rng.normal();
      data[i * COLS + j] = v;
      if (j < 6) z += (j % 2 ? -0.6 : 0.8) * v;
    }
    const row = i * COLS;
    z +=
      0.5 * Math.sin(3 * (data[row] as number)) + 0.4 * (data[row + 1] as number) * (data[row + 2] as number);
    y[i] = rng.uniform() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  }
  return { x: { rows: ROWS, cols: COLS, data }, y };
}

function time(fn: () => unknown): number[] {
  fn(); // warm-up: JIT compilation is not training time
  return Array.from({ length: REPEATS }, () => {
    const start = performance.now();
    fn();
    return performance.now() - start;
  });
}

export async function run(): Promise<Comparison[]> {
  const python = referencePython(['lightgbm', 'sklearn']);
  if (!python) {
    process.stderr.write(
      'training.bench: no Python with lightgbm and scikit-learn (set KEEL_PYTHON); skipped\n',
    );
    return [];
  }
  const { x, y } = problem();
  const dir = mkdtempSync(join(tmpdir(), 'keel-bench-'));
  try {
    writeFileSync(join(dir, 'x.f64'), x.data);
    writeFileSync(join(dir, 'y.f64'), y);
    writeFileSync(join(dir, 'shape.json'), JSON.stringify({ rows: ROWS, cols: COLS, gbdt: GBDT }));
    const script = join(import.meta.dirname, 'python', 'train_baselines.py');
    const baseline = spawnSync(python, [script, dir, String(REPEATS)], { encoding: 'utf8' });
    if (baseline.status !== 0) throw new Error(`baseline failed: ${baseline.stderr}`);
    const reference = JSON.parse(baseline.stdout) as {
      lightgbm: { ms: number[]; version: string };
      sklearnLogistic: { ms: number[] };
      sklearnLogistic1: { ms: number[] };
    };
    const gbdtMs = time(() => fitGbdt(x, y, GBDT));
    const lrMs = time(() => fitLogistic(x, y, { C: 1 }));
    return [
      compareSamples({
        suite: 'training 100k×20',
        subject: 'Keel GBDT (100 trees, depth 6)',
        baseline: `LightGBM ${reference.lightgbm.version}, 1 thread`,
        subjectMs: gbdtMs,
        baselineMs: reference.lightgbm.ms,
        goal: '≤ 1.5×',
      }),
      compareSamples({
        suite: 'training 100k×20',
        subject: 'Keel logistic regression (Newton)',
        baseline: 'scikit-learn LogisticRegression (lbfgs)',
        subjectMs: lrMs,
        baselineMs: reference.sklearnLogistic.ms,
        goal: '≤ 1.2×',
      }),
      compareSamples({
        suite: 'training 100k×20',
        subject: 'Keel logistic regression (Newton)',
        baseline: 'scikit-learn LogisticRegression (lbfgs), BLAS on 1 thread',
        subjectMs: lrMs,
        baselineMs: reference.sklearnLogistic1.ms,
      }),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
