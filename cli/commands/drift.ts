/**
 * `keel drift --baseline <csv|profile.json> --current <csv>`: the drift report of one dataset
 * against another (or against a stored baseline profile): PSI, KS, Wasserstein, Jensen–Shannon
 * and chi-square per feature, which features drifted, and whether the dataset did.
 */
import { readFile, stat } from 'node:fs/promises';
import { type Command, InvalidArgumentError } from 'commander';
import {
  addTable,
  DEFAULT_BINS,
  DEFAULT_SAMPLE_SIZE,
  emptyProfileLike,
  finish,
  type Profile,
  profileTable,
} from '../../functions/core/drift/profile.ts';
import { type DriftReport, driftReport } from '../../functions/core/drift/report.ts';
import { ValidationError } from '../../functions/kernel/errors.ts';
import { table as formatTable } from '../format.ts';
import type { Io } from '../output.ts';
import { number, readData } from './model.ts';

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
}

async function loadProfile(path: string): Promise<Profile> {
  const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<Profile>;
  if (parsed.format !== 'keel.profile/v1' || typeof parsed.columns !== 'object')
    throw new ValidationError('Not a Keel profile', [
      { path: 'baseline', message: `${path} is not a keel.profile/v1 JSON file` },
    ]);
  return parsed as Profile;
}

/** The JSON shape of the CLI (and of the check's report): ks/wasserstein numeric only, chi2 categorical only. */
export function driftJson(report: DriftReport) {
  return {
    features: Object.fromEntries(
      Object.entries(report.features).map(([name, f]) => [
        name,
        {
          type: f.type,
          psi: f.psi,
          ...(f.ks
            ? {
                ks: {
                  statistic: f.ks.statistic,
                  pValue: f.ks.pValue,
                  exact: f.ks.exact,
                  errorBound: f.ks.errorBound,
                },
              }
            : {}),
          ...(f.chi2 ? { chi2: f.chi2 } : {}),
          ...(f.wasserstein ? { wasserstein: f.wasserstein } : {}),
          jensenShannon: f.jensenShannon,
          ...(f.unseen && f.unseen.length > 0 ? { unseen: f.unseen } : {}),
          drifted: f.drifted,
          warning: f.warning,
        },
      ]),
    ),
    shareDrifted: report.shareDrifted,
    datasetDrift: report.datasetDrift,
  };
}

const fmt = (v: number | undefined) =>
  v === undefined ? '' : Math.abs(v) < 1e-4 && v !== 0 ? v.toExponential(2) : v.toFixed(4);

export function registerDrift(program: Command, io: Io): void {
  program
    .command('drift')
    .description(
      'Compare a dataset with a baseline (CSV or stored profile): per-feature drift and the share drifted',
    )
    .requiredOption('--baseline <csv|profile>', 'the baseline: a CSV file, or a keel.profile/v1 JSON profile')
    .requiredOption('--current <csv>', 'the data to check')
    .option('--features <a,b>', 'only these features (default: every baseline column)', (v: string) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .option(
      '--bins <n>',
      'quantile buckets of numeric features (CSV baseline)',
      positiveInteger,
      DEFAULT_BINS,
    )
    .option(
      '--sample-size <n>',
      'values kept per numeric feature for KS and Wasserstein (default: all of both files, so exact)',
      positiveInteger,
    )
    .option('--psi-warning <x>', 'PSI from which a significant shift is drift', number, 0.1)
    .option('--psi-drift <x>', 'PSI that is drift by itself', number, 0.2)
    .option('--p-value <x>', 'significance level of the tests', number, 0.01)
    .option('--json', 'print JSON')
    .action(async (options) => {
      const current = await readData(options.current);
      const baselineIsProfile =
        options.baseline.endsWith('.json') && (await stat(options.baseline).catch(() => undefined))?.isFile();
      let baseline: Profile;
      if (baselineIsProfile) baseline = await loadProfile(options.baseline);
      else {
        const data = await readData(options.baseline);
        const sampleSize =
          options.sampleSize ?? Math.max(DEFAULT_SAMPLE_SIZE, data.table.rowCount, current.table.rowCount);
        baseline = profileTable(data.table, { bins: options.bins, sampleSize, keyPrefix: 'baseline' });
      }
      const features: string[] = options.features ?? Object.keys(baseline.columns);
      const unknown = features.filter((f) => !(f in baseline.columns) || !current.table.columns.has(f));
      if (unknown.length > 0)
        throw new ValidationError(
          'Unknown features',
          unknown.map((f) => ({ path: `features.${f}`, message: 'not in both datasets' })),
        );
      const kinds = features.filter((f) => {
        const column = current.table.columns.get(f);
        return column && column.kind !== baseline.columns[f]?.kind;
      });
      if (kinds.length > 0)
        throw new ValidationError(
          'Feature types differ',
          kinds.map((f) => ({
            path: `features.${f}`,
            message: `${baseline.columns[f]?.kind} in the baseline, not in the current data`,
          })),
        );
      const profile = emptyProfileLike(baseline);
      addTable(profile, current.table, 'current');
      const report = driftReport(baseline, finish(profile), {
        features,
        psiWarning: options.psiWarning,
        psiDrift: options.psiDrift,
        pValue: options.pValue,
      });
      if (options.json) {
        io.out(JSON.stringify(driftJson(report)));
        return;
      }
      io.out(
        formatTable(
          Object.entries(report.features).map(([name, f]) => ({
            feature: name,
            type: f.type,
            psi: fmt(f.psi),
            js: fmt(f.jensenShannon),
            'ks/chi2 p': fmt(f.ks?.pValue ?? f.chi2?.pValue),
            'wasserstein/sd': fmt(f.wasserstein?.normalized),
            result: f.drifted ? 'DRIFT' : f.warning ? 'warning' : 'ok',
          })),
          ['feature', 'type', 'psi', 'js', 'ks/chi2 p', 'wasserstein/sd', 'result'],
        ),
      );
      io.out(
        `${(report.shareDrifted * 100).toFixed(1)} % of features drifted${report.datasetDrift ? ': the dataset has drifted' : ''}`,
      );
    });
}
