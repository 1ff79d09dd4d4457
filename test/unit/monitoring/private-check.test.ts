/**
 * A private drift check: the ledger grants the check's discrete Gaussian releases first (once
 * per window), every count it releases is noisy, nothing but counts is released, and the report
 * says what noise alone reads as PSI.
 */
import { describe, expect, it } from 'vitest';
import type { Column, Table } from '../../../functions/core/data/table.ts';
import { addTable, emptyProfileLike, finish, profileTable } from '../../../functions/core/drift/profile.ts';
import { seededSource } from '../../../functions/core/privacy/discrete.ts';
import { mechanismCurve } from '../../../functions/core/privacy/mechanisms.ts';
import {
  checkMechanism,
  privatizeProfile,
  psiFromNoise,
} from '../../../functions/core/privacy/monitoring.ts';
import { Rng } from '../../../functions/core/random.ts';
import { SCORE_COLUMN } from '../../../functions/core/training/train.ts';
import { LineageStore } from '../../../functions/lineage/store.ts';
import { reduceCheck } from '../../../functions/monitoring/check.ts';
import type {
  CheckReport,
  MonitoringDependencies,
  PartialCheck,
} from '../../../functions/monitoring/types.ts';
import { PrivacyLedger } from '../../../functions/registry/ledger.ts';
import { ModelRegistry } from '../../../functions/registry/registry.ts';
import { MemoryBlobStore } from '../../support/memory-blob-store.ts';
import { MemoryLedgerStore } from '../../support/memory-ledger-store.ts';
import { MemoryRegistryStore } from '../../support/memory-registry-store.ts';
import { creditMonitoringSettings } from '../../support/monitoring-settings.ts';
import { sampleMetadata } from '../../support/registry-fixtures.ts';

function table(rows: number, seed: number, shift = 0): Table {
  const rng = new Rng(seed);
  const income = Float64Array.from({ length: rows }, () => rng.normal(8 + shift, 0.5));
  const score = Float64Array.from({ length: rows }, () => rng.uniform());
  const region: Column = {
    kind: 'categorical',
    codes: Int32Array.from({ length: rows }, () => rng.int(0, 2)),
    dictionary: ['n', 's', 'e'],
  };
  return {
    rowCount: rows,
    columns: new Map<string, Column>([
      ['income', { kind: 'numeric', values: income }],
      ['region', region],
      [SCORE_COLUMN, { kind: 'numeric', values: score }],
    ]),
  };
}

const settings = creditMonitoringSettings({
  alerts: { retrain: false },
  privacy: { ledger: 'credit-applicants', epsilon: 10, delta: 1e-5, sigma: 5 },
});

async function check(shift: number) {
  const lineage = new LineageStore(new MemoryBlobStore());
  const ledger = new PrivacyLedger({ store: new MemoryLedgerStore() });
  const baseline = profileTable(table(5000, 1), { bins: 10, sampleSize: 1000 });
  const current = emptyProfileLike(baseline);
  addTable(current, table(4000, 2, shift), 'window');
  const profiled = finish(current);
  const { [SCORE_COLUMN]: score, ...inputs } = profiled.columns;
  const partial: PartialCheck = {
    format: 'keel.drift-partial/v1',
    predictions: 4000,
    files: 3,
    inputs: { ...profiled, columns: inputs },
    scores: { ...profiled, columns: { [SCORE_COLUMN]: score as never } },
    scoreCounts: [],
    labelled: [],
  };
  const registry = new ModelRegistry({ store: new MemoryRegistryStore() });
  await registry.registerVersion('credit', sampleMetadata(), { actor: 'ci' });
  const deps: MonitoringDependencies = {
    registry,
    lineage,
    captures: {} as never,
    eventBus: { publish: async () => undefined },
    metrics: { publish: async () => undefined },
    ledger,
  };
  const plan = {
    settings,
    window: { from: '2026-12-05T00:00:00.000Z', to: '2026-12-06T00:00:00.000Z' },
    production: { version: 1, baseline: await lineage.putJson('profiles', baseline) },
    hours: [],
    feedbackRecords: 0,
  };
  const partials = [{ partial: await lineage.putJson('drift', partial) }];
  const summary = await reduceCheck({ plan, partials }, deps);
  const report = await lineage.getJson<CheckReport>(summary.report as NonNullable<typeof summary.report>);
  const html = new TextDecoder().decode(
    await lineage.getBytes(summary.html as NonNullable<typeof summary.html>),
  );
  return { report, html, ledger, again: () => reduceCheck({ plan, partials }, deps) };
}

describe('a private drift check', () => {
  it('spends from the ledger, releases noisy counts only, and says what noise alone reads as PSI', async () => {
    // Act: the check, and the same check again (a retried step, or `keel monitor run` twice).
    const { report, html, ledger, again } = await check(0.4);
    await again();
    // Assess: a spend each, since each run draws new noise (a second release of the same rows).
    const entries = (await ledger.entries('credit-applicants')).items;
    expect(entries.map((e) => e.type)).toEqual(['spent', 'spent']);
    const [entry] = entries;
    expect(entry).toMatchObject({
      type: 'spent',
      purpose: { kind: 'monitoring', model: 'credit', version: 1 },
      mechanism: { kind: 'discrete-gaussian', sigma: 5, sensitivity: 1, count: 3 + 3 },
    });
    expect(report.privacy).toMatchObject({ sigma: 5, histograms: 6, ledger: 'credit-applicants', entry: 1 });
    expect(html).toMatch(
      /<h2>Privacy<\/h2><p>A private check: every count in this report carries discrete Gaussian noise of scale σ = 5/,
    );
    // A noisy total (σ = 5: equal to the true one about 8 % of the time, so only its size is
    // asserted; the noise itself is tested below), no KS (it reads values), no AUC.
    expect(Math.abs(report.rows.predictions - 4000)).toBeLessThan(40);
    expect(report.drift?.features.income?.ks).toBeUndefined();
    expect(report.outcomes?.auc).toBeNull();
    // A 0.8-sd shift of income is still caught through the noise, which alone reads far less.
    expect(report.drift?.features.income?.drifted).toBe(true);
    const noise = report.privacy?.psiFromNoise.income;
    expect(noise?.p95).toBeLessThan(0.01);
    expect(report.drift?.features.income?.psi).toBeGreaterThan(20 * (noise?.p95 ?? 1));
  });
});

describe('privatizeProfile and psiFromNoise', () => {
  it('noise every count with variance σ², keeps none below 0, and drops the value samples', () => {
    const profile = profileTable(table(20_000, 3), { bins: 10, sampleSize: 500 });
    const source = seededSource(new Rng(4));
    const noisy = Array.from({ length: 200 }, () => privatizeProfile(profile, 3, source));
    const income = profile.columns.income as { counts: number[] };
    const deltas = noisy.flatMap((p) =>
      (p.columns.income as { counts: number[] }).counts.map((c, k) => c - (income.counts[k] as number)),
    );
    const mean = deltas.reduce((a, b) => a + b, 0) / deltas.length;
    const variance = deltas.reduce((a, b) => a + (b - mean) ** 2, 0) / deltas.length;
    expect(Math.abs(mean)).toBeLessThan(0.2);
    // The discrete Gaussian of scale 3 has variance just under 9.
    expect(variance).toBeGreaterThan(8);
    expect(variance).toBeLessThan(10);
    expect(noisy.every((p) => (p.columns.income as { sampleSize: number }).sampleSize === 0)).toBe(true);
    expect(privatizeProfile({ ...profile, rows: 0, columns: {} }, 50, source).rows).toBeGreaterThanOrEqual(0);
  });

  it('reads more PSI from more noise, and from fewer rows', () => {
    const source = seededSource(new Rng(5));
    const big = [4000, 4000, 4000, 4000];
    const small = [40, 40, 40, 40];
    expect(psiFromNoise(big, 10, 100, source).median).toBeLessThan(psiFromNoise(big, 40, 100, source).median);
    expect(psiFromNoise(big, 10, 100, source).median).toBeLessThan(
      psiFromNoise(small, 10, 100, source).median,
    );
  });

  it('charges one discrete Gaussian release per histogram', () => {
    const curve = mechanismCurve(checkMechanism(4, 2));
    const one = mechanismCurve({ kind: 'discrete-gaussian', sigma: 2, sensitivity: 1, count: 1 });
    expect(curve[0]).toBeCloseTo(7 * (one[0] as number), 12);
  });
});
