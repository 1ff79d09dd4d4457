/**
 * `npm run bench`: runs every `bench/*.bench.ts` (or those named on the command line), prints
 * a table of ratios against each suite's baseline, and writes `bench/results/latest.json`.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Comparison } from './harness.ts';

// Powertools writes an EMF blob and log lines per invocation; in a benchmark that is noise, and
// the first suite to load Powertools fixes its settings for all (child processes set their own).
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.POWERTOOLS_TRACE_ENABLED ??= 'false';

const dir = import.meta.dirname;
const wanted = process.argv.slice(2);
const files = (await readdir(dir))
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.includes(w)))
  .sort();

const all: Comparison[] = [];
for (const file of files) {
  process.stderr.write(`running ${basename(file)}…\n`);
  const suite = (await import(pathToFileURL(join(dir, file)).href)) as { run(): Promise<Comparison[]> };
  all.push(...(await suite.run()));
}

const fmt = (ms: number) =>
  Number.isNaN(ms) ? '—' : ms < 1 ? `${(ms * 1000).toFixed(2)} µs` : `${ms.toFixed(3)} ms`;
const rate = (ms: number) => `${Math.round(1000 / ms).toLocaleString('en-US')}/s`;
console.table(
  all.map((c) => ({
    suite: c.suite,
    subject: c.subject,
    baseline: c.baseline,
    'subject ops': rate(c.subjectMs.mean),
    'baseline ops': rate(c.baselineMs.mean),
    'subject p50': fmt(c.subjectMs.p50),
    'subject p99': fmt(c.subjectMs.p99),
    'baseline p50': fmt(c.baselineMs.p50),
    'baseline p99': fmt(c.baselineMs.p99),
    'ratio (mean)': `${c.ratio.toFixed(2)}×`,
    '±rme': Number.isNaN(c.rme.subject) ? '—' : `${Math.max(c.rme.subject, c.rme.baseline).toFixed(1)}%`,
  })),
);
await mkdir(join(dir, 'results'), { recursive: true });
await writeFile(
  join(dir, 'results', 'latest.json'),
  `${JSON.stringify({ at: new Date().toISOString(), node: process.version, comparisons: all }, null, 2)}\n`,
);
