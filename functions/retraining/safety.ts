/**
 * Safety checks of a candidate model, run through the scoring function it will serve with:
 * sane outputs (also on edge-case inputs), the golden set reproduced, declared monotone
 * relations respected, stability under small input nudges, and the latency of one batch.
 * No AWS here: the caller passes a scorer.
 */
import type { Column, Table } from '../core/data/table.ts';
import type { ModelInput, Scored } from '../core/onnx/runtime.ts';
import { Rng } from '../core/random.ts';
import type { GoldenSet } from '../core/training/train.ts';
import { takeRows } from '../core/training/train.ts';
import type { SafetyCheck } from './gates.ts';

export type TableScorer = (table: Table) => Promise<Scored>;

export interface SafetySettings {
  readonly maxPerturbationDelta: number;
  readonly perturbation: number;
  readonly maxBatchLatencyMs: number;
  readonly latencyBatchRows: number;
  readonly goldenSetTolerance: number;
  /** Input column → 1 (probability must not fall as it grows) or −1 (must not rise). */
  readonly monotone: Readonly<Record<string, 1 | -1>>;
  /** @default 42 */
  readonly seed?: number;
}

const MONOTONE_ROWS = 200;
const MONOTONE_POINTS = 11;
const STABILITY_ROWS = 500;
/** Float32 outputs: differences below this are rounding, not violations. */
const FLOAT_TOLERANCE = 1e-6;

function numericStats(column: Column) {
  if (column.kind !== 'numeric') return undefined;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  let sumSq = 0;
  let n = 0;
  for (const v of column.values) {
    if (Number.isNaN(v)) continue;
    min = Math.min(min, v);
    max = Math.max(max, v);
    sum += v;
    sumSq += v * v;
    n++;
  }
  if (n === 0) return undefined;
  const mean = sum / n;
  return {
    min,
    max,
    sd: Math.sqrt(Math.max(0, sumSq / n - mean * mean)),
    sorted: Float64Array.from(column.values.filter((v) => !Number.isNaN(v))).sort(),
  };
}

/** Copies of row 0 of `table` with one input set to each edge value: missing, extremes, unseen. */
export function edgeCases(table: Table, inputs: readonly ModelInput[]): Table {
  const variants: { column: string; value: number | string | null }[] = [];
  for (const { name, type } of inputs) {
    const column = table.columns.get(name);
    if (!column) continue;
    if (type === 'numeric') {
      const stats = numericStats(column);
      variants.push({ column: name, value: null }, { column: name, value: 0 });
      if (stats) {
        const range = Math.max(stats.max - stats.min, 1);
        variants.push(
          { column: name, value: stats.min },
          { column: name, value: stats.max },
          { column: name, value: stats.min - range },
          { column: name, value: stats.max + range },
          { column: name, value: -Math.abs(stats.max) - range },
        );
      }
    } else variants.push({ column: name, value: null }, { column: name, value: '__unseen_category__' });
  }
  const base = takeRows(
    table,
    Array.from({ length: variants.length }, () => 0),
  );
  const columns = new Map<string, Column>();
  for (const [name, column] of base.columns) {
    if (column.kind === 'numeric') {
      const values = Float64Array.from(column.values);
      variants.forEach((v, row) => {
        if (v.column === name) values[row] = v.value === null ? Number.NaN : (v.value as number);
      });
      columns.set(name, { kind: 'numeric', values });
    } else {
      const dictionary = [...column.dictionary, '__unseen_category__'];
      const codes = Int32Array.from(column.codes);
      variants.forEach((v, row) => {
        if (v.column === name) codes[row] = v.value === null ? -1 : dictionary.length - 1;
      });
      columns.set(name, { kind: 'categorical', codes, dictionary });
    }
  }
  return { rowCount: variants.length, columns };
}

function badOutputs(scored: Scored): number {
  let bad = 0;
  for (let i = 0; i < scored.probabilities.length; i++) {
    const p = scored.probabilities[i] as number;
    const label = scored.labels[i];
    if (!(p >= 0 && p <= 1) || (label !== 0 && label !== 1)) bad++;
  }
  return bad;
}

function sampleRows(rows: number, count: number, rng: Rng): number[] {
  if (rows <= count) return Array.from({ length: rows }, (_, i) => i);
  return Array.from(rng.permutation(rows).subarray(0, count));
}

function withNumeric(table: Table, name: string, values: Float64Array): Table {
  const columns = new Map(table.columns);
  columns.set(name, { kind: 'numeric', values });
  return { rowCount: table.rowCount, columns };
}

export async function safetyChecks(
  score: TableScorer,
  data: {
    readonly holdout: Table;
    readonly production?: Table;
    readonly inputs: readonly ModelInput[];
    readonly goldenSet?: GoldenSet;
  },
  settings: SafetySettings,
): Promise<SafetyCheck[]> {
  const rng = new Rng(settings.seed ?? 42);
  const checks: SafetyCheck[] = [];

  // 1. Outputs: one probability in [0, 1] and a 0/1 label per row, on real and edge-case inputs.
  const sets: [string, Table][] = [
    ['holdout', data.holdout],
    ...(data.production ? [['production', data.production] as [string, Table]] : []),
    ['edge cases', edgeCases(data.holdout, data.inputs)],
  ];
  for (const [name, table] of sets) {
    const scored = await score(table).catch(() => undefined);
    const bad = scored ? badOutputs(scored) : table.rowCount;
    checks.push({
      check: `valid outputs (${name})`,
      value: bad,
      threshold: '= 0',
      passed: bad === 0 && scored?.probabilities.length === table.rowCount,
      detail: scored
        ? `${bad} of ${table.rowCount} rows gave NaN or out-of-range outputs`
        : 'the model failed to score',
    });
  }

  // 2. Golden set: the artifact reproduces what the trained model predicted.
  if (data.goldenSet && data.goldenSet.instances.length > 0) {
    const golden = data.goldenSet;
    const columns = new Map<string, Column>();
    for (const { name, type } of data.inputs) {
      const values = golden.instances.map((row) => row[name] ?? null);
      if (type === 'numeric') {
        columns.set(name, {
          kind: 'numeric',
          values: Float64Array.from(values, (v) => (typeof v === 'number' ? v : Number.NaN)),
        });
      } else {
        const dictionary = [...new Set(values.filter((v): v is string => v !== null).map(String))];
        columns.set(name, {
          kind: 'categorical',
          codes: Int32Array.from(values, (v) => (v === null ? -1 : dictionary.indexOf(String(v)))),
          dictionary,
        });
      }
    }
    const scored = await score({ rowCount: golden.instances.length, columns }).catch(() => undefined);
    let worst = scored ? 0 : Number.POSITIVE_INFINITY;
    golden.probabilities.forEach((expected, i) => {
      const got = scored?.probabilities[i] ?? Number.NaN;
      worst = Math.max(worst, Number.isNaN(got) ? Number.POSITIVE_INFINITY : Math.abs(got - expected));
    });
    checks.push({
      check: 'golden set reproduced',
      value: worst,
      threshold: `≤ ${settings.goldenSetTolerance}`,
      passed: worst <= settings.goldenSetTolerance,
      detail: `largest difference from the recorded probabilities ${worst}`,
    });
  }

  // 3. Declared monotone relations, on a grid of each column's quantiles for sampled rows.
  const sample = takeRows(data.holdout, sampleRows(data.holdout.rowCount, MONOTONE_ROWS, rng));
  for (const [name, direction] of Object.entries(settings.monotone)) {
    const column = sample.columns.get(name);
    const isInput = data.inputs.some((i) => i.name === name && i.type === 'numeric');
    const stats = column && isInput ? numericStats(data.holdout.columns.get(name) as Column) : undefined;
    if (!column || !stats) {
      checks.push({
        check: `monotone in ${name}`,
        value: Number.NaN,
        threshold: direction > 0 ? 'non-decreasing' : 'non-increasing',
        passed: false,
        detail: `${name} is not a numeric input of the model`,
      });
      continue;
    }
    const grid = Array.from({ length: MONOTONE_POINTS }, (_, k) => {
      const pos = (k / (MONOTONE_POINTS - 1)) * (stats.sorted.length - 1);
      return stats.sorted[Math.round(pos)] as number;
    });
    let previous: Float64Array | undefined;
    const violating = new Set<number>();
    let worst = 0;
    for (const value of grid) {
      const scored = await score(withNumeric(sample, name, new Float64Array(sample.rowCount).fill(value)));
      if (previous) {
        for (let r = 0; r < sample.rowCount; r++) {
          const step = ((scored.probabilities[r] as number) - (previous[r] as number)) * direction;
          if (step < -FLOAT_TOLERANCE || Number.isNaN(step)) {
            violating.add(r);
            worst = Math.max(worst, Number.isNaN(step) ? 1 : -step);
          }
        }
      }
      previous = scored.probabilities;
    }
    checks.push({
      check: `monotone in ${name}`,
      value: violating.size / Math.max(1, sample.rowCount),
      threshold: '= 0 rows violating',
      passed: violating.size === 0,
      detail: `${violating.size} of ${sample.rowCount} rows move ${direction > 0 ? 'down' : 'up'} as ${name} grows (by up to ${worst.toFixed(4)})`,
    });
  }

  // 4. Stability: every numeric input nudged by ±perturbation standard deviations at random.
  const rows = takeRows(data.holdout, sampleRows(data.holdout.rowCount, STABILITY_ROWS, rng));
  const nudged = new Map(rows.columns);
  for (const { name, type } of data.inputs) {
    const column = rows.columns.get(name);
    const stats =
      column && type === 'numeric' ? numericStats(data.holdout.columns.get(name) as Column) : undefined;
    if (column?.kind !== 'numeric' || !stats) continue;
    const step = settings.perturbation * stats.sd;
    nudged.set(name, {
      kind: 'numeric',
      values: Float64Array.from(column.values, (v) => v + (rng.bernoulli(0.5) ? step : -step)),
    });
  }
  const [before, after] = await Promise.all([
    score(rows),
    score({ rowCount: rows.rowCount, columns: nudged }),
  ]);
  const deltas = Array.from(before.probabilities, (p, i) =>
    Math.abs((after.probabilities[i] as number) - p),
  ).sort((a, b) => a - b);
  // A tree ensemble is a step function: a nudge across a split moves a few rows a lot. The
  // 95th percentile says whether the model is stable, not whether some row sits on a split.
  const p95 = deltas[Math.min(deltas.length - 1, Math.floor(0.95 * deltas.length))] ?? Number.NaN;
  checks.push({
    check: `stability (p95 |Δp| at ±${settings.perturbation} sd)`,
    value: p95,
    threshold: `≤ ${settings.maxPerturbationDelta}`,
    passed: p95 <= settings.maxPerturbationDelta,
    detail: `95 % of rows move by at most ${p95.toFixed(4)}; the largest move is ${(deltas.at(-1) ?? Number.NaN).toFixed(4)}`,
  });

  // 5. Latency of one batch, best of three (the first warms the session up).
  const batch = takeRows(
    data.holdout,
    Array.from({ length: settings.latencyBatchRows }, () => rng.int(0, data.holdout.rowCount - 1)),
  );
  let best = Number.POSITIVE_INFINITY;
  for (let attempt = 0; attempt < 3; attempt++) {
    const started = performance.now();
    await score(batch);
    best = Math.min(best, performance.now() - started);
  }
  checks.push({
    check: `latency of ${settings.latencyBatchRows} rows (ms)`,
    value: best,
    threshold: `≤ ${settings.maxBatchLatencyMs}`,
    passed: best <= settings.maxBatchLatencyMs,
    detail: `one batch took ${best.toFixed(1)} ms`,
  });
  return checks;
}
