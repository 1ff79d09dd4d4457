import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCsv } from '../../functions/core/data/csv.ts';
import { profileTable } from '../../functions/core/drift/profile.ts';
import { ks2, wasserstein } from '../../functions/core/drift/statistics.ts';
import { runKeel, tempProject } from '../support/cli.ts';

let dir: string;
let configFile: string;
const keel = (...args: string[]) => runKeel(configFile, ...args);
const file = (name: string) => join(dir, name);

beforeAll(async () => {
  ({ dir, configFile } = await tempProject('keel-drift-'));
  await keel('synth', '--rows', '4000', '--seed', '1', '--out', file('baseline.csv'));
  await keel('synth', '--rows', '3000', '--seed', '2', '--out', file('same.csv'));
  await keel(
    'synth',
    '--rows',
    '3000',
    '--seed',
    '3',
    '--covariate-drift',
    '0.3',
    '--harmless-drift',
    '0.5',
    '--out',
    file('drifted.csv'),
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('keel drift', () => {
  it('prints every statistic per feature, with the type-specific tests, in JSON', async () => {
    // Act
    const result = await keel(
      'drift',
      '--baseline',
      file('baseline.csv'),
      '--current',
      file('drifted.csv'),
      '--features',
      'income,debt,region,employment',
      '--json',
    );

    // Assess
    expect(result.code).toBe(0);
    const report = JSON.parse(result.out);
    expect(Object.keys(report.features)).toEqual(['income', 'debt', 'region', 'employment']);
    expect(report.features.income).toMatchObject({ type: 'numeric', drifted: true, ks: { exact: true } });
    expect(report.features.income).not.toHaveProperty('chi2');
    expect(report.features.region).toMatchObject({ type: 'categorical', drifted: true, chi2: { dof: 3 } });
    expect(report.features.region).not.toHaveProperty('ks');
    // Debts rose 30 %, within their wide spread: significant but small, a warning only.
    expect(report.features.debt).toMatchObject({ drifted: false, warning: true });
    expect(report.features.employment).toMatchObject({ drifted: false, warning: false });
    expect(report.shareDrifted).toBeCloseTo(0.5, 12);
    expect(report.datasetDrift).toBe(true);
    // The same numbers as the statistics on the full columns.
    const [b, c] = await Promise.all([readCsv(file('baseline.csv')), readCsv(file('drifted.csv'))]);
    const col = (t: typeof b, n: string) => (t.columns.get(n) as { values: Float64Array }).values;
    expect(report.features.debt.ks.statistic).toBeCloseTo(ks2(col(b, 'debt'), col(c, 'debt')).statistic, 12);
    expect(report.features.debt.ks.pValue).toBeCloseTo(ks2(col(b, 'debt'), col(c, 'debt')).pValue, 12);
    expect(report.features.debt.wasserstein.raw).toBeCloseTo(wasserstein(col(b, 'debt'), col(c, 'debt')), 9);
  });

  it('sees no drift between two samples of one population, against a stored profile', async () => {
    // Prepare: the baseline as a profile, as training stores it.
    const baseline = profileTable(await readCsv(file('baseline.csv')), { sampleSize: 5000 });
    await writeFile(file('baseline.profile.json'), JSON.stringify(baseline));

    // Act
    const result = await keel(
      'drift',
      '--baseline',
      file('baseline.profile.json'),
      '--current',
      file('same.csv'),
      '--features',
      'income,debt,age,employment,region',
    );

    // Assess
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^FEATURE\s+TYPE\s+PSI\s+JS\s+KS\/CHI2 P\s+WASSERSTEIN\/SD\s+RESULT$/m);
    expect(result.out).not.toMatch(/DRIFT/);
    expect(result.out).toMatch(/^0\.0 % of features drifted$/m);
  });

  it.each([
    [['--features', 'income,nope'], /features\.nope: not in both datasets/],
    [['--sample-size', '0'], /expected a positive integer/],
  ])('refuses %j with exit 2', async (extra, message) => {
    const result = await keel(
      'drift',
      '--baseline',
      file('baseline.csv'),
      '--current',
      file('same.csv'),
      ...extra,
    );
    expect(result.code).toBe(2);
    expect(result.err).toMatch(message);
  });
});
