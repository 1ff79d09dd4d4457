/**
 * The reduce step's account of a window it cannot put money on: a version promoted within the
 * window (none of the window's scores are its own) is told apart from a baseline that has no
 * record of its decisions.
 */
import { describe, expect, it } from 'vitest';
import type { Column, Table } from '../../../functions/core/data/table.ts';
import { addTable, emptyProfileLike, finish, profileTable } from '../../../functions/core/drift/profile.ts';
import { outcomeBaseline } from '../../../functions/core/monitoring/outcomes.ts';
import { Rng } from '../../../functions/core/random.ts';
import { SCORE_COLUMN } from '../../../functions/core/training/train.ts';
import { LineageStore } from '../../../functions/lineage/store.ts';
import { reduceCheck } from '../../../functions/monitoring/check.ts';
import type { CheckReport, PartialCheck } from '../../../functions/monitoring/types.ts';
import { ModelRegistry } from '../../../functions/registry/registry.ts';
import { MemoryBlobStore } from '../../support/memory-blob-store.ts';
import { MemoryRegistryStore } from '../../support/memory-registry-store.ts';
import { creditMonitoringSettings } from '../../support/monitoring-settings.ts';
import { sampleMetadata } from '../../support/registry-fixtures.ts';

function table(rows: number, seed: number): Table {
  const rng = new Rng(seed);
  return {
    rowCount: rows,
    columns: new Map<string, Column>([
      ['income', { kind: 'numeric', values: Float64Array.from({ length: rows }, () => rng.normal(8, 0.5)) }],
      [SCORE_COLUMN, { kind: 'numeric', values: Float64Array.from({ length: rows }, () => rng.uniform()) }],
    ]),
  };
}

async function reduce(options: { readonly outcomeRecord: boolean; readonly ownScores: boolean }) {
  const lineage = new LineageStore(new MemoryBlobStore());
  const training = table(2000, 1);
  const baseline = profileTable(training, { bins: 10, sampleSize: 500 });
  if (options.outcomeRecord) {
    const scores = (training.columns.get(SCORE_COLUMN) as { values: Float64Array }).values;
    baseline.outcomes = outcomeBaseline(
      Float64Array.from(scores, (p, i) => (p > 0.5 === i % 5 > 0 ? 1 : 0)),
      scores,
    );
  }
  const window = emptyProfileLike(baseline);
  addTable(window, table(1000, 2), 'window');
  const profiled = finish(window);
  const { [SCORE_COLUMN]: score, ...inputs } = profiled.columns;
  // A version promoted within the window: every score in it is another version's.
  const scores = options.ownScores
    ? { ...profiled, columns: { [SCORE_COLUMN]: score as never } }
    : finish(emptyProfileLike({ ...profiled, columns: { [SCORE_COLUMN]: score as never } }));
  const partial: PartialCheck = {
    format: 'keel.drift-partial/v1',
    predictions: 1000,
    files: 1,
    inputs: { ...profiled, columns: inputs },
    scores,
    scoreCounts: options.ownScores
      ? new Array((baseline.outcomes?.edges.length ?? 0) + 1).fill(
          1000 / ((baseline.outcomes?.edges.length ?? 0) + 1),
        )
      : new Array((baseline.outcomes?.edges.length ?? 0) + 1).fill(0),
    labelled: [],
  };
  const registry = new ModelRegistry({ store: new MemoryRegistryStore() });
  await registry.registerVersion('credit', sampleMetadata(), { actor: 'ci' });
  const summary = await reduceCheck(
    {
      plan: {
        settings: creditMonitoringSettings({ alerts: { retrain: false } }),
        window: { from: '2026-12-05T00:00:00.000Z', to: '2026-12-06T00:00:00.000Z' },
        production: { version: 1, baseline: await lineage.putJson('profiles', baseline) },
        hours: [],
        feedbackRecords: 0,
      },
      partials: [{ partial: await lineage.putJson('drift', partial) }],
    },
    {
      registry,
      lineage,
      captures: {} as never,
      eventBus: { publish: async () => undefined },
      metrics: { publish: async () => undefined },
    },
  );
  return lineage.getJson<CheckReport>(summary.report as NonNullable<typeof summary.report>);
}

describe('reduceCheck without money at risk', () => {
  it.each([
    [
      'a version promoted within the window',
      { outcomeRecord: true, ownScores: false },
      "money at risk cannot be estimated (none of the window's predictions were scored by v1 yet)",
    ],
    [
      'a baseline with no record of its decisions',
      { outcomeRecord: false, ownScores: true },
      'money at risk cannot be estimated (the baseline has no outcome record)',
    ],
  ])('says which: %s', async (_name, options, reason) => {
    const report = await reduce(options);
    expect(report.impact).toBeNull();
    expect(report.reasons).toContain(reason);
  });

  it('puts money on the window once the version has scores of its own', async () => {
    const report = await reduce({ outcomeRecord: true, ownScores: true });
    expect(report.impact?.basis).toBe('drift');
    expect(report.reasons.some((r) => r.startsWith('money at risk cannot'))).toBe(false);
  });
});
