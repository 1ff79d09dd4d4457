/**
 * The drift check's real path over captured traffic: 1M prediction records (5 inputs, a score)
 * as JSON lines in 20 capture files, streamed one file at a time by `profilePartitions` into
 * column profiles, against parsing the same files with `JSON.parse` alone (the part no check can
 * skip). Reports the time and the heap after each file (bounded: one file's rows at a time).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseCaptureLines } from '../functions/contracts/capture.ts';
import { loadConfig } from '../functions/contracts/config/load.ts';
import { monitoringSettings } from '../functions/contracts/monitoring.ts';
import { cell } from '../functions/core/data/table.ts';
import { profileTable } from '../functions/core/drift/profile.ts';
import { generateCredit } from '../functions/core/synthetic/credit.ts';
import { SCORE_COLUMN } from '../functions/core/training/train.ts';
import { LineageStore } from '../functions/lineage/store.ts';
import { type CheckPlan, profilePartitions } from '../functions/monitoring/check.ts';
import type { CapturePartitions } from '../functions/ports/capture.ts';
import { MemoryBlobStore } from '../test/support/memory-blob-store.ts';
import { type Comparison, compareSamples } from './harness.ts';

const FILES = 20;
const ROWS_PER_FILE = 50_000;
const INPUTS = ['income', 'debt', 'age', 'employment', 'region'];

export async function run(): Promise<Comparison[]> {
  const lineage = new LineageStore(new MemoryBlobStore());
  const population = generateCredit({ rows: FILES * ROWS_PER_FILE, seed: 5, covariateDrift: 0.1 });
  const files = new Map<string, string>();
  const hour = '2026-11-26T10:00:00.000Z';
  for (let f = 0; f < FILES; f++) {
    const lines: string[] = [];
    for (let i = 0; i < ROWS_PER_FILE; i++) {
      const r = f * ROWS_PER_FILE + i;
      const inputs = Object.fromEntries(INPUTS.map((n) => [n, cell(population.columns.get(n) as never, r)]));
      const probability = 1 / (1 + Math.exp(-(((r * 7919) % 1000) / 250 - 2)));
      lines.push(
        JSON.stringify({
          keel_capture: 1,
          type: 'prediction',
          prediction_id: `p-${r}`,
          timestamp: '2026-11-26T10:30:00.000Z',
          model: 'credit',
          model_version: '1',
          served_by: 'primary',
          inputs,
          outputs: { probability, label: probability > 0.5 ? 1 : 0 },
          latency_ms: 0.3,
        }),
      );
    }
    files.set(`capture/prediction/model=credit/date=2026-11-26/hour=10/part-${f}.jsonl`, lines.join('\n'));
  }
  const captures: CapturePartitions = {
    files: async () => [...files.keys()],
    readFile: async (key) => parseCaptureLines(files.get(key) ?? ''),
  };
  const baselineTable = generateCredit({ rows: 20_000, seed: 1 });
  const scores = Float64Array.from({ length: 20_000 }, (_, i) => 1 / (1 + Math.exp(-((i % 1000) / 250 - 2))));
  const baseline = profileTable({
    rowCount: 20_000,
    columns: new Map([
      ...INPUTS.map((n) => [n, baselineTable.columns.get(n)] as [string, never]),
      [SCORE_COLUMN, { kind: 'numeric', values: scores }],
    ]),
  });
  const baselineRef = await lineage.putJson('profiles', baseline);
  const outcomes = await lineage.putJson('drift', { format: 'keel.outcomes/v1', ids: [], outcomes: [] });
  const plan: CheckPlan = {
    settings: monitoringSettings(await loadConfig('keel.config.json'), 'credit'),
    window: { from: '2026-11-25T11:00:00.000Z', to: '2026-11-26T11:00:00.000Z' },
    production: { version: 1, baseline: { kind: 'profiles', sha256: baselineRef.sha256 } },
    hours: [hour],
    outcomes: { kind: 'drift', sha256: outcomes.sha256 },
    feedbackRecords: 0,
  };
  const deps = { lineage, captures } as unknown as Parameters<typeof profilePartitions>[1];

  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const heap: number[] = [];
  const tracked: CapturePartitions = {
    files: captures.files,
    readFile: async (key) => {
      gc();
      heap.push(process.memoryUsage().heapUsed / 2 ** 20);
      return captures.readFile(key);
    },
  };
  await profilePartitions({ plan, hours: [hour] }, { ...deps, captures: tracked } as never);
  const checkMs: number[] = [];
  const parseMs: number[] = [];
  let predictions = 0;
  for (let k = 0; k < 3; k++) {
    let t = performance.now();
    predictions = (await profilePartitions({ plan, hours: [hour] }, deps)).predictions;
    checkMs.push(performance.now() - t);
    t = performance.now();
    let parsed = 0;
    for (const text of files.values()) parsed += parseCaptureLines(text).length;
    parseMs.push(performance.now() - t);
    if (parsed !== predictions) throw new Error(`parsed ${parsed}, profiled ${predictions}`);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  process.stderr.write(
    `drift-capture.bench: ${predictions.toLocaleString('en-US')} records, ${Math.round(predictions / (median(checkMs) / 1000)).toLocaleString('en-US')} records/s; heap at files 1, 10, 20: ${[heap[0], heap[9], heap[19]].map((h) => (h ?? 0).toFixed(0)).join(', ')} MB\n`,
  );
  return [
    compareSamples({
      suite: 'drift check over captured JSON, 1M records × 5 inputs in 20 files',
      subject: 'keel profilePartitions (parse, columns, profile, join outcomes)',
      baseline: 'JSON.parse of the same lines alone',
      subjectMs: checkMs,
      baselineMs: parseMs,
      goal: 'reported: the overhead over parsing; heap bounded by one file',
    }),
  ];
}
