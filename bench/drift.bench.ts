/**
 * Drift-check cost, against numpy/scipy doing the same in the same run:
 * - PSI + Jensen–Shannon + chi-square over 1M rows × 100 features (50 numeric, 50 categorical)
 *   against a precomputed baseline profile: a counts-only profile (bucket and category counts,
 *   moments; sample size 0) plus the report, the scope of numpy's baseline (goal ≤ 1 s; Evidently
 *   reports ~26k values/s, so 1e8 values in a second is ≥ 1,000× that);
 * - the full check on the same data: the profile also keeps the bottom-k samples (k = 20,000)
 *   and the report adds KS and Wasserstein (reported; more work than the numpy baseline does);
 * - KS on 1M against 1M values against `scipy.stats.ks_2samp` (goal ≤ 1×);
 * - peak memory of profiling 10M captured rows in 1M-row chunks: bounded (the same as for 1M).
 */
import { spawnSync } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Table } from '../functions/core/data/table.ts';
import { addTable, emptyProfileLike, finish, profileTable } from '../functions/core/drift/profile.ts';
import { driftReport } from '../functions/core/drift/report.ts';
import { ks2 } from '../functions/core/drift/statistics.ts';
import { logisticSequence } from '../test/support/drift-reference.ts';
import { type Comparison, compareSamples } from './harness.ts';
import { referencePython } from './python.ts';

const ROWS = 1_000_000;
const NUMERIC = 50;
const CATEGORICAL = 50;
const KS_ROWS = 1_000_000;
const REPEATS = 3;
const CATEGORIES = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];

function table(
  rows: number,
  numericShift: (j: number) => number,
  phase: (j: number) => number,
  codeOf: (r: number, j: number) => number,
  width = { numeric: NUMERIC, categorical: CATEGORICAL },
): Table {
  const columns = new Map();
  for (let j = 0; j < width.numeric; j++) {
    columns.set(`n${j}`, {
      kind: 'numeric',
      values: Float64Array.from(logisticSequence(rows, numericShift(j), 1, phase(j))),
    });
  }
  for (let j = 0; j < width.categorical; j++) {
    columns.set(`c${j}`, {
      kind: 'categorical',
      codes: Int32Array.from({ length: rows }, (_, r) => codeOf(r, j)),
      dictionary: CATEGORIES,
    });
  }
  return { rowCount: rows, columns };
}

function timeMs(fn: () => void): number[] {
  const out: number[] = [];
  for (let k = 0; k < REPEATS; k++) {
    const started = performance.now();
    fn();
    out.push(performance.now() - started);
  }
  return out;
}

/**
 * Memory of a streaming check: 10 chunks of 1M rows × 10 features through one profile. Each
 * chunk is built and profiled inside a call, so once it returns only the profile remains; the
 * heap is measured after a collection, before any chunk, after the first and after the tenth.
 */
function memoryOfTenMillionRows(): { heapMb: number[]; profileMb: number } {
  const ten = { numeric: 5, categorical: 5 };
  const smallBaseline = profileTable(
    table(
      100_000,
      () => 0,
      (j) => 0.3 + j / 1000,
      (r, j) => (r * (j + 7)) % 8,
      ten,
    ),
  );
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const heapMb = () => {
    gc();
    return process.memoryUsage().heapUsed / 2 ** 20;
  };
  const profile = emptyProfileLike(smallBaseline);
  const profileChunk = (chunk: number) =>
    addTable(
      profile,
      table(
        ROWS,
        () => 0.01 * chunk,
        (j) => 0.1 + chunk / 100 + j / 1000,
        (r, j) => (r * (j + chunk + 1)) % 8,
        ten,
      ),
      `chunk${chunk}`,
    );
  const heap = [heapMb()];
  for (let chunk = 0; chunk < 10; chunk++) {
    profileChunk(chunk);
    if (chunk === 0 || chunk === 9) heap.push(heapMb());
  }
  return { heapMb: heap, profileMb: JSON.stringify(finish(profile)).length / 2 ** 20 };
}

export async function run(): Promise<Comparison[]> {
  const python = referencePython(['numpy', 'scipy']);
  if (!python) {
    process.stderr.write('drift.bench: no Python with numpy and scipy (set KEEL_PYTHON); skipped\n');
    return [];
  }
  const memory = memoryOfTenMillionRows();
  const base = table(
    ROWS / 10,
    () => 0,
    (j) => 0.25 + j / 1000,
    (r, j) => ((r * (j + 5)) % 89) % 8,
  );
  const baseline = profileTable(base);
  const countsBaseline = profileTable(base, { sampleSize: 0 });
  const current = table(
    ROWS,
    (j) => 0.02 * j,
    (j) => 0.5 + j / 1000,
    (r, j) => ((r * (j + 3)) % 97) % 8,
  );
  let shareDrifted = 0;
  let countsShare = 0;
  const countsMs = timeMs(() => {
    const profile = emptyProfileLike(countsBaseline);
    addTable(profile, current, 'now');
    countsShare = driftReport(countsBaseline, finish(profile)).shareDrifted;
  });
  const checkMs = timeMs(() => {
    const profile = emptyProfileLike(baseline);
    addTable(profile, current, 'now');
    shareDrifted = driftReport(baseline, finish(profile)).shareDrifted;
  });
  const a = Float64Array.from(logisticSequence(KS_ROWS, 0, 1, 0.5));
  const b = Float64Array.from(logisticSequence(KS_ROWS, 0.01, 1, 0.25));
  let ours = { statistic: 0, pValue: 0 };
  const ksMs = timeMs(() => {
    ours = ks2(a, b);
  });

  const reference = spawnSync(
    python,
    [
      `${import.meta.dirname}/python/drift_baselines.py`,
      String(ROWS),
      String(NUMERIC),
      String(CATEGORICAL),
      String(KS_ROWS),
      String(REPEATS),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  if (reference.status !== 0) throw new Error(`drift baselines failed: ${reference.stderr}`);
  const py = JSON.parse(reference.stdout) as {
    check: number[];
    ks: number[];
    ksResult: [number, number];
    numpy: string;
    scipy: string;
  };
  if (
    Math.abs(py.ksResult[0] - ours.statistic) > 1e-12 ||
    Math.abs(py.ksResult[1] - ours.pValue) > 1e-6 * Math.max(py.ksResult[1], 1e-300)
  )
    throw new Error(`KS disagrees with scipy: ${JSON.stringify(ours)} vs ${JSON.stringify(py.ksResult)}`);

  process.stderr.write(
    `drift.bench: ${(shareDrifted * 100).toFixed(0)} % drifted (counts only: ${(countsShare * 100).toFixed(0)} %); streaming 10M rows: heap ${memory.heapMb.map((m) => m.toFixed(0)).join(' → ')} MB (before, after 1M, after 10M rows); profile JSON ${memory.profileMb.toFixed(1)} MB\n`,
  );
  return [
    compareSamples({
      suite: 'PSI + JS + chi-square, 1M rows × 100 features vs a baseline profile',
      subject: 'keel: counts-only column profile (sample size 0) + PSI, JS, chi-square',
      baseline: `numpy ${py.numpy} / scipy ${py.scipy}: bucket and category counts + PSI, JS, chi-square`,
      subjectMs: countsMs,
      baselineMs: py.check,
      goal: '≤ 1 s (≥ 1,000× Evidently’s ~26k values/s)',
    }),
    compareSamples({
      suite: 'full drift check, 1M rows × 100 features vs a baseline profile',
      subject: 'keel: column profile with KS samples (k = 20,000) + PSI, JS, chi-square, KS, Wasserstein',
      baseline: `numpy ${py.numpy} / scipy ${py.scipy}: bucket and category counts + PSI, JS, chi-square`,
      subjectMs: checkMs,
      baselineMs: py.check,
      goal: 'reported (does more than the baseline)',
    }),
    compareSamples({
      suite: 'KS, 1M vs 1M values',
      subject: 'keel ks2 (sort, sweep, kstwo p-value)',
      baseline: `scipy ${py.scipy} ks_2samp`,
      subjectMs: ksMs,
      baselineMs: py.ks,
      goal: 'ratio ≤ 1',
    }),
    compareSamples({
      suite: 'drift check memory, 10M rows in 1M-row chunks (10 features)',
      subject: `heap after 10M rows (${(memory.heapMb[2] ?? 0).toFixed(0)} MB)`,
      baseline: `heap after 1M rows (${(memory.heapMb[1] ?? 0).toFixed(0)} MB)`,
      subjectMs: [memory.heapMb[2] ?? Number.NaN],
      baselineMs: [memory.heapMb[1] ?? Number.NaN],
      goal: 'bounded: ratio ≈ 1 (memory does not grow with rows)',
    }),
  ];
}
