import { describe, expect, it } from 'vitest';
import type { PredictionRecord } from '../../../functions/contracts/capture.ts';
import { type Profile, profileTable } from '../../../functions/core/drift/profile.ts';
import { bucketCounts, psi, quantileEdges } from '../../../functions/core/drift/statistics.ts';
import { Rng } from '../../../functions/core/random.ts';
import { SCORE_COLUMN } from '../../../functions/core/training/train.ts';
import {
  BASELINE_ATTEMPTS,
  resolveBaselines,
  type ScoreBaseline,
  scoreBaselineOf,
  VersionShiftMonitor,
} from '../../../functions/inference/canary.ts';
import type { LineageStore } from '../../../functions/lineage/store.ts';
import { ModelNotFoundError } from '../../../functions/registry/errors.ts';
import type { ModelRegistry } from '../../../functions/registry/registry.ts';

const rng = new Rng(3);
const record = (version: string, probability: number, servedBy = 'primary'): PredictionRecord => ({
  type: 'prediction',
  prediction_id: `${version}-${probability}`,
  timestamp: '2026-11-26T10:00:00.000Z',
  model: 'credit',
  model_version: version,
  served_by: servedBy,
  inputs: {},
  outputs: { probability, label: probability > 0.5 ? 1 : 0 },
  latency_ms: 1,
});
const score = (shift: number) => Math.min(1, Math.max(0, rng.normal(0.3 + shift, 0.1)));
const scores = (n: number, shift = 0) => Array.from({ length: n }, () => score(shift));

/** What a version's stored profile says about its scores: deciles and counts of a sample. */
function baselineOf(values: readonly number[]): ScoreBaseline {
  const edges = quantileEdges(values);
  return { edges, counts: bucketCounts(values, edges) };
}

describe('VersionShiftMonitor', () => {
  it('compares a version with its own evaluation, not with the version it replaces', () => {
    // Prepare: v5 scores differently from v4 by design, and as it did at evaluation
    const monitor = new VersionShiftMonitor();
    monitor.setBaseline('credit', '4', baselineOf(scores(5000)));
    monitor.setBaseline('credit', '5', baselineOf(scores(5000, 0.1)));

    // Act
    monitor.observe(scores(2000).map((p) => record('4', p)));
    monitor.observe(scores(300, 0.1).map((p) => record('5', p)));
    const shifts = monitor.shifts();
    const v5 = shifts.find((s) => s.version === '5');

    // Assess: against v4's scores it would have looked like a large shift
    const againstIncumbent = psi(
      bucketCounts(scores(2000), quantileEdges(scores(2000))),
      bucketCounts(scores(300, 0.1), quantileEdges(scores(2000))),
    );
    expect(againstIncumbent).toBeGreaterThan(0.25);
    expect(v5).toMatchObject({ against: 'evaluation', rows: 300, baselineRows: 5000 });
    expect(v5?.psi).toBeLessThan(0.1);
    expect(shifts.find((s) => s.version === '4')?.psi).toBeLessThan(0.05);
  });

  it('finds the shift of a version that serves unlike its evaluation', () => {
    const monitor = new VersionShiftMonitor();
    monitor.setBaseline('credit', '6', baselineOf(scores(5000)));

    monitor.observe(scores(300, 0.25).map((p) => record('6', p)));

    expect(monitor.shifts()).toEqual([expect.objectContaining({ version: '6', against: 'evaluation' })]);
    expect(monitor.shifts()[0]?.psi).toBeGreaterThan(0.25);
  });

  it('counts NaN scores in their own bucket, as the profile does', () => {
    const monitor = new VersionShiftMonitor();
    monitor.setBaseline('credit', '7', baselineOf(scores(5000)));

    monitor.observe(Array.from({ length: 300 }, () => record('7', Number.NaN)));

    expect(monitor.shifts()[0]?.psi).toBeGreaterThan(5);
  });

  it('compares a version without a stored profile with the other versions serving', () => {
    // Prepare
    const monitor = new VersionShiftMonitor();
    monitor.setBaseline('credit', '4', null);
    monitor.setBaseline('credit', '5', null);
    monitor.setBaseline('credit', '6', null);

    // Act
    monitor.observe(scores(2000).map((p) => record('4', p)));
    monitor.observe(scores(300).map((p) => record('5', p)));
    const alike = monitor.shifts().find((s) => s.version === '5');
    monitor.observe(scores(300, 0.25).map((p) => record('6', p)));
    const moved = monitor.shifts().find((s) => s.version === '6');

    // Assess
    expect(alike).toMatchObject({ against: 'versions' });
    expect(alike?.psi).toBeLessThan(0.1);
    expect(moved?.psi).toBeGreaterThan(0.25);
    expect(moved?.rows).toBe(300);
  });

  it('ignores fallback answers, waits for 200 rows, and for the baseline to be known', () => {
    // Prepare
    const monitor = new VersionShiftMonitor();

    // Act
    monitor.observe(scores(500).map((p) => record('4', p)));
    monitor.observe(Array.from({ length: 500 }, () => record('5', 0.9, 'fallback')));
    monitor.observe(scores(199, 0.3).map((p) => record('6', p)));
    const unknown = monitor.shifts();
    monitor.setBaseline('credit', '4', baselineOf(scores(1000)));
    monitor.setBaseline('credit', '6', baselineOf(scores(1000)));

    // Assess
    expect(unknown).toEqual([]);
    expect(monitor.unresolved()).toEqual([]);
    expect(monitor.shifts().map((s) => s.version)).toEqual(['4']);
  });
});

/** The profile the pipeline stores for a version, of its scores only. */
function scoreProfile(values: readonly number[]): Profile {
  const table = {
    rowCount: values.length,
    columns: new Map([[SCORE_COLUMN, { kind: 'numeric' as const, values: Float64Array.from(values) }]]),
  };
  return profileTable(table, { sampleSize: 0 });
}

describe('scoreBaselineOf', () => {
  it('buckets as live scores are bucketed, with missing (NaN) scores as the last bucket', () => {
    // Prepare
    const values = [...scores(500), Number.NaN, Number.NaN];

    // Act
    const baseline = scoreBaselineOf(scoreProfile(values));

    // Assess
    expect(baseline?.edges).toHaveLength(9);
    expect(baseline?.counts).toEqual(bucketCounts(values, baseline?.edges ?? []));
    expect(baseline?.counts.at(-1)).toBe(2);
  });

  it('is undefined for a profile without scores', () => {
    expect(scoreBaselineOf({ format: 'keel.profile/v1', rows: 0, columns: {} })).toBeUndefined();
  });
});

describe('resolveBaselines', () => {
  const profile = scoreProfile(Array.from({ length: 10 }, (_, i) => i / 10));

  function deps(tags: Record<number, Record<string, string>>, failing = new Set<number>()) {
    const registry = {
      get: async (_model: string, version: number) => {
        if (failing.has(version))
          throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
        if (!(version in tags)) throw new ModelNotFoundError('credit', `version ${version}`);
        return { metadata: { tags: tags[version] } };
      },
    } as unknown as ModelRegistry;
    const lineage = {
      getJson: async (ref: { kind: string; sha256: string }) => {
        if (ref.kind !== 'profiles' || ref.sha256 !== 'abc') throw new Error(`no ${ref.kind}/${ref.sha256}`);
        return profile;
      },
    } as unknown as LineageStore;
    return { registry, lineage };
  }

  it("loads each version's stored profile, and marks a version without one", async () => {
    // Prepare
    const monitor = new VersionShiftMonitor({ minRows: 1 });
    monitor.observe([record('3', 0.2), record('4', 0.2), record('9', 0.2)]);

    // Act
    await resolveBaselines(monitor, deps({ 3: { profile: 'abc' }, 4: {} }));

    // Assess
    expect(monitor.unresolved()).toEqual([]);
    const shifts = monitor.shifts();
    expect(shifts.find((s) => s.version === '3')).toMatchObject({ against: 'evaluation', baselineRows: 10 });
    expect(shifts.find((s) => s.version === '4')).toMatchObject({ against: 'versions' });
  });

  it(`retries a failing lookup, and gives up after ${BASELINE_ATTEMPTS} attempts`, async () => {
    const monitor = new VersionShiftMonitor({ minRows: 1 });
    monitor.observe([record('3', 0.2)]);
    const throttled = deps({ 3: { profile: 'abc' } }, new Set([3]));

    await resolveBaselines(monitor, throttled);
    const afterOne = monitor.unresolved();
    for (let k = 1; k < BASELINE_ATTEMPTS; k++) await resolveBaselines(monitor, throttled);

    expect(afterOne).toEqual([{ model: 'credit', version: '3' }]);
    expect(monitor.unresolved()).toEqual([]);
  });
});
