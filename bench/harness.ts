/**
 * Benchmark harness: each suite measures a subject against a baseline in the same run and
 * reports ratios, never absolute pass/fail timings. Built on tinybench, the engine behind
 * `vitest bench`, so the statistics (percentiles, margin of error) are the library's.
 */
import { Bench } from 'tinybench';

export interface Comparison {
  readonly suite: string;
  readonly subject: string;
  readonly baseline: string;
  /** Per-operation latency in milliseconds. */
  readonly subjectMs: { readonly mean: number; readonly p50: number; readonly p99: number };
  readonly baselineMs: { readonly mean: number; readonly p50: number; readonly p99: number };
  /** subject mean / baseline mean: 1 is parity, 2 is twice as slow. */
  readonly ratio: number;
  /** Relative margins of error (%) of the two means. */
  readonly rme: { readonly subject: number; readonly baseline: number };
  readonly goal?: string;
}

export interface CompareOptions {
  readonly suite: string;
  readonly baseline: { readonly name: string; readonly fn: () => unknown | Promise<unknown> };
  readonly subject: { readonly name: string; readonly fn: () => unknown | Promise<unknown> };
  /** @default 1000 ms per task */
  readonly timeMs?: number;
  readonly goal?: string;
}

export async function compare(options: CompareOptions): Promise<Comparison> {
  const bench = new Bench({ time: options.timeMs ?? 1000, warmupTime: 200 });
  bench.add(options.baseline.name, options.baseline.fn).add(options.subject.name, options.subject.fn);
  await bench.run();
  const stats = (name: string) => {
    const task = bench.getTask(name);
    const result = task?.result;
    if (!result || !('latency' in result)) throw new Error(`benchmark task ${name} produced no result`);
    return result;
  };
  const base = stats(options.baseline.name);
  const subj = stats(options.subject.name);
  return {
    suite: options.suite,
    subject: options.subject.name,
    baseline: options.baseline.name,
    subjectMs: { mean: subj.latency.mean, p50: subj.latency.p50, p99: subj.latency.p99 },
    baselineMs: { mean: base.latency.mean, p50: base.latency.p50, p99: base.latency.p99 },
    ratio: subj.latency.mean / base.latency.mean,
    rme: { subject: subj.latency.rme, baseline: base.latency.rme },
    ...(options.goal ? { goal: options.goal } : {}),
  };
}

/** Mean, p50 and p99 of millisecond samples. */
export function summarise(samples: readonly number[]): { mean: number; p50: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { mean: sorted.reduce((a, b) => a + b, 0) / sorted.length, p50: at(0.5), p99: at(0.99) };
}

/**
 * A comparison from samples timed elsewhere: for baselines outside this process (LightGBM,
 * scikit-learn), timed by the baseline's own clock around the same work, in the same run.
 * The margin of error is not estimated (NaN) from so few long samples.
 */
export function compareSamples(options: {
  readonly suite: string;
  readonly subject: string;
  readonly baseline: string;
  readonly subjectMs: readonly number[];
  readonly baselineMs: readonly number[];
  readonly goal?: string;
}): Comparison {
  const subjectMs = summarise(options.subjectMs);
  const baselineMs = summarise(options.baselineMs);
  return {
    suite: options.suite,
    subject: options.subject,
    baseline: options.baseline,
    subjectMs,
    baselineMs,
    ratio: subjectMs.mean / baselineMs.mean,
    rme: { subject: Number.NaN, baseline: Number.NaN },
    ...(options.goal ? { goal: options.goal } : {}),
  };
}
