import { describe, expect, it } from 'vitest';
import { EmfMetricsSink } from '../../../functions/adapters/aws/metrics.ts';
import { partitionOverlaps } from '../../../functions/contracts/capture.ts';
import type { MonitoringSettings } from '../../../functions/contracts/monitoring.ts';
import type { RegistryEvent } from '../../../functions/contracts/registry.ts';
import type { DriftReport, FeatureDrift } from '../../../functions/core/drift/report.ts';
import type { Impact } from '../../../functions/core/monitoring/impact.ts';
import {
  type CheckReport,
  checkMetrics,
  decideRetrainRequest,
  judge,
} from '../../../functions/monitoring/check.ts';
import { chart, renderReportHtml } from '../../../functions/monitoring/html.ts';
import { creditMonitoringSettings } from '../../support/monitoring-settings.ts';

const settings = (on: MonitoringSettings['alerts']['on'] = 'impact'): MonitoringSettings =>
  creditMonitoringSettings({ alerts: { on } });

const feature = (psi: number, drifted: boolean, warning = false): FeatureDrift => ({
  type: 'numeric',
  psi,
  jensenShannon: psi / 4,
  ks: { statistic: 0.1, pValue: drifted ? 1e-9 : 0.5, exact: true, errorBound: 0 },
  wasserstein: { raw: 1, normalized: 0.1 },
  drifted,
  warning,
  rows: { baseline: 1000, current: 2000 },
});

const drift = (features: Record<string, FeatureDrift>, datasetDrift = false): DriftReport => ({
  features,
  shareDrifted: Object.values(features).filter((f) => f.drifted).length / Object.keys(features).length,
  datasetDrift,
});

const impact = (change: number, lower: number): Impact => ({
  basis: 'drift',
  costPerDecision: { current: 300 + change / 20_000, baseline: 300 },
  costChangePerDay: change,
  interval: { lower, upper: change + (change - lower), confidence: 0.95 },
  moneyAtRisk: Math.max(0, change),
  dailyBudget: 250_000,
  overBudget: lower > 250_000,
  rows: 2000,
});

describe('judge', () => {
  it.each([
    ['quiet', drift({ a: feature(0.01, false) }), impact(10_000, -50_000), 'impact', 'ok'],
    [
      'a drifted feature, cheap',
      drift({ a: feature(0.5, true) }),
      impact(10_000, -50_000),
      'impact',
      'warning',
    ],
    [
      'a shift below the threshold but significant',
      drift({ a: feature(0.05, false, true) }),
      impact(0, -1),
      'impact',
      'warning',
    ],
    [
      'money at risk over budget, significantly',
      drift({ a: feature(0.01, false) }),
      impact(900_000, 400_000),
      'impact',
      'alert',
    ],
    [
      'money at risk over budget, not significantly',
      drift({ a: feature(0.01, false) }),
      impact(300_000, -10_000),
      'impact',
      'warning',
    ],
    [
      'dataset drift, cheap, alerting on drift',
      drift({ a: feature(0.5, true) }, true),
      impact(0, -1),
      'drift',
      'alert',
    ],
    [
      'dataset drift, cheap, alerting on impact',
      drift({ a: feature(0.5, true) }, true),
      impact(0, -1),
      'impact',
      'warning',
    ],
    [
      'costly, alerting on drift only',
      drift({ a: feature(0.01, false) }),
      impact(900_000, 400_000),
      'drift',
      'warning',
    ],
    [
      'costly, alerting on either',
      drift({ a: feature(0.01, false) }),
      impact(900_000, 400_000),
      'either',
      'alert',
    ],
  ] as const)('%s → %s', (_name, report, estimate, on, status) => {
    expect(judge(settings(on), report, null, estimate, 0).status).toBe(status);
  });

  it('says why, in business terms first', () => {
    const { reasons } = judge(
      settings(),
      drift({ income: feature(0.5, true) }),
      feature(0.3, true),
      impact(900_000, 400_000),
      0,
    );
    expect(reasons).toEqual([
      'money at risk USD 900,000/day (USD 400,000 to USD 1,400,000, from the score distribution) is over the budget of USD 250,000',
      'drifted: income (100 % of features)',
      'the score distribution drifted (PSI 0.300)',
    ]);
  });

  it.each([
    [undefined, 'money at risk cannot be estimated (the baseline has no outcome record)'],
    [
      "none of the window's predictions were scored by v4 yet",
      "money at risk cannot be estimated (none of the window's predictions were scored by v4 yet)",
    ],
  ])('says why money at risk is missing (%s)', (why, reason) => {
    const { status, reasons } = judge(settings(), drift({ a: feature(0.01, false) }), null, null, 0, why);
    expect(status).toBe('ok');
    expect(reasons).toEqual([reason]);
  });
});

const report: CheckReport = {
  format: 'keel.drift-report/v1',
  model: 'credit',
  version: 3,
  checkedAt: '2026-11-26T12:00:00.000Z',
  window: { from: '2026-11-25T12:00:00.000Z', to: '2026-11-26T12:00:00.000Z' },
  status: 'warning',
  reasons: ['drifted: <script>alert(1)</script>'],
  rows: { predictions: 2000, scored: 1900, files: 3 },
  drift: drift({ '<script>': feature(0.5, true), debt: feature(0.01, false) }),
  predictionDrift: feature(0.05, false),
  outcomes: null,
  impact: impact(10_000, -50_000),
  impacts: { outcomes: null, drift: impact(10_000, -50_000) },
  currency: 'USD',
  thresholds: {
    psiWarning: 0.1,
    psiDrift: 0.2,
    pValue: 0.01,
    datasetShare: 0.5,
    alertOn: 'impact',
    minLabelledRows: 200,
  },
};

describe('checkMetrics', () => {
  it('emits the headline numbers by model and each feature PSI by feature, skipping what is unknown', () => {
    const data = checkMetrics(report);
    const byName = (name: string) => data.filter((d) => d.name === name);
    expect(byName('MoneyAtRisk')).toEqual([
      { name: 'MoneyAtRisk', value: 10_000, unit: 'None', dimensions: { model: 'credit' } },
    ]);
    expect(byName('DriftAlert')[0]?.value).toBe(0);
    expect(byName('FeaturePsi').map((d) => d.dimensions)).toEqual([
      { model: 'credit', feature: '<script>' },
      { model: 'credit', feature: 'debt' },
    ]);
    expect(byName('OutcomeAuc')).toEqual([]);
  });
});

describe('renderReportHtml', () => {
  it('is one self-contained page: inline SVG charts, no script, every name escaped', async () => {
    const column = {
      kind: 'numeric' as const,
      edges: [1, 2],
      counts: [1, 2, 3],
      missing: 0,
      n: 6,
      sum: 9,
      sumSquares: 20,
      min: 0,
      max: 3,
      sample: { priorities: [], values: [] },
      sampleSize: 10,
    };
    const profile = {
      format: 'keel.profile/v1' as const,
      rows: 6,
      columns: { debt: column, '<script>': column },
    };
    const html = await renderReportHtml(report, { baseline: profile, current: profile });
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script>/);
    expect(html).toContain('&lt;script&gt;');
    expect(html).not.toMatch(/\s(src|href)=/);
    // PSI, the cost change, and every column's histogram in one: no attribution in this report.
    expect(html.match(/<svg/g)).toHaveLength(3);
    const scoreProfile = { ...profile, columns: { ...profile.columns, __score__: column } };
    const scored = await renderReportHtml(report, { baseline: scoreProfile, current: scoreProfile });
    expect(scored).toContain('model score (prediction drift)');
    const promoted = await renderReportHtml(
      { ...report, rows: { ...report.rows, scored: 0 } },
      { baseline: scoreProfile, current: profile },
    );
    expect(promoted).toContain("model score: none of the window's are v3's yet");
    const withWhy = await renderReportHtml(
      {
        ...report,
        attribution: {
          method: 'tree',
          featurePerturbation: 'interventional',
          rows: { baseline: 10, current: 10, labelled: 0 },
          margin: { baseline: 0, current: 1, change: 1, interval: { lower: 0.5, upper: 1.5 } },
          inputsMoved: true,
          inputs: [
            {
              column: 'debt',
              baseline: 0,
              current: 1,
              shift: 1,
              interval: { lower: 0.5, upper: 1.5 },
              significant: true,
            },
          ],
          outcomes: null,
          outcomesReason: 'too few labelled decisions',
          summary: 'debt moved the predictions',
        },
      },
      { baseline: profile, current: profile },
    );
    // The shifts are charted; the outcome side, with no weights, is said in words.
    expect(withWhy.match(/<svg/g)).toHaveLength(4);
    expect(withWhy).toContain('too few labelled decisions');
  });
});

describe('chart', () => {
  it('says why a chart is missing rather than failing the report', async () => {
    const html = await chart({ data: { values: [] }, mark: 'no-such-mark' } as never);
    expect(html).toMatch(/^<p><em>Chart not drawn: .+\.<\/em><\/p>$/);
  });
});

describe('partitionOverlaps', () => {
  const window = { from: new Date('2026-11-26T10:30:00Z'), to: new Date('2026-11-26T12:00:00Z') };
  it.each([
    ['capture/prediction/model=m/date=2026-11-26/hour=09/a.jsonl', false],
    ['capture/prediction/model=m/date=2026-11-26/hour=10/a.jsonl', true],
    ['capture/prediction/model=m/date=2026-11-26/hour=12/a.jsonl', true],
    ['capture/prediction/model=m/date=2026-11-26/hour=13/a.jsonl', false],
    ['capture/prediction/model=m/other/a.jsonl', false],
  ])('%s → %s', (key, expected) => {
    expect(partitionOverlaps(key, window)).toBe(expected);
  });
});

describe('EmfMetricsSink', () => {
  it('writes one EMF line per dimension set, with exactly the given dimensions', async () => {
    const lines: string[] = [];
    const sink = new EmfMetricsSink((line) => lines.push(line));
    const at = new Date('2026-11-26T12:00:00Z');
    await sink.publish('Keel/Monitoring', [
      { name: 'MoneyAtRisk', value: 10, unit: 'None', dimensions: { model: 'credit' }, timestamp: at },
      { name: 'DriftAlert', value: 1, unit: 'Count', dimensions: { model: 'credit' }, timestamp: at },
      {
        name: 'FeaturePsi',
        value: 0.3,
        unit: 'None',
        dimensions: { model: 'credit', feature: 'debt' },
        timestamp: at,
      },
    ]);
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0] as string)).toEqual({
      _aws: {
        Timestamp: at.getTime(),
        CloudWatchMetrics: [
          {
            Namespace: 'Keel/Monitoring',
            Dimensions: [['model']],
            Metrics: [
              { Name: 'MoneyAtRisk', Unit: 'None' },
              { Name: 'DriftAlert', Unit: 'Count' },
            ],
          },
        ],
      },
      model: 'credit',
      MoneyAtRisk: 10,
      DriftAlert: 1,
    });
    expect(JSON.parse(lines[1] as string)).toMatchObject({ feature: 'debt', FeaturePsi: 0.3 });
  });
});

describe('decideRetrainRequest', () => {
  const state = { versionCount: 1, statuses: 'a', aliases: {}, aliasHistory: {}, idempotency: {} };
  const event = (
    at: string,
    actor: string,
    metrics: Record<string, number>,
    reason = 'x',
  ): RegistryEvent => ({
    model: 'credit',
    seq: 1,
    type: 'EvaluationRecorded',
    at,
    actor,
    reason,
    version: 1,
    details: { evaluation: { metrics } },
    state,
  });
  const requested = (at: string) => event(at, 'keel-monitoring', { 'production.retrainingRequested': 1 });
  const ended = (at: string, productionRows: number) =>
    event(
      at,
      'keel-retraining',
      { 'retraining.ended': 1, 'retraining.rejected': 1, 'retraining.productionRows': productionRows },
      'retraining exec-1 (drift) rejected: performance gate: on production the candidate is worse',
    );
  const base = {
    now: '2026-12-01T12:00:00.000Z',
    cooldownHours: 24,
    labelledAt: [] as number[],
    minNewLabelled: 200,
  };
  const times = (from: string, n: number) => Array.from({ length: n }, (_, i) => Date.parse(from) + 1000 + i);

  it('asks when nothing was asked within the cooldown', () => {
    expect(decideRetrainRequest([], base)).toEqual({ request: true });
    expect(decideRetrainRequest([requested('2026-11-29T12:00:00.000Z')], base)).toEqual({ request: true });
  });

  it('waits while the requested retraining has not ended, and says so', () => {
    const decision = decideRetrainRequest([requested('2026-12-01T11:00:00.000Z')], base);
    expect(decision.request).toBe(false);
    expect(decision.note).toMatch(
      /requested at 2026-12-01T11:00:00.000Z has not ended yet \(cooldown 24 h\)/,
    );
  });

  it('after a rejection, waits for as many new labelled decisions as the run learnt from, then asks again', () => {
    // Prepare
    const trail = [requested('2026-12-01T10:00:00.000Z'), ended('2026-12-01T10:30:00.000Z', 500)];
    const old = times('2026-12-01T09:00:00.000Z', 1000);

    // Act
    const waiting = decideRetrainRequest(trail, {
      ...base,
      labelledAt: [...old, ...times('2026-12-01T10:30:00.000Z', 499)],
    });
    const retry = decideRetrainRequest(trail, {
      ...base,
      labelledAt: [...old, ...times('2026-12-01T10:30:00.000Z', 500)],
    });

    // Assess
    expect(waiting.request).toBe(false);
    expect(waiting.note).toBe(
      'the retraining requested at 2026-12-01T10:00:00.000Z ended (drift) rejected: performance gate: on production the candidate is worse; a retry waits for 500 labelled decisions after it (499 so far)',
    );
    expect(retry.request).toBe(true);
    expect(retry.note).toMatch(/^retrying: .* 500 labelled decisions since$/);
  });

  it('asks for at least the configured minimum of new labelled decisions', () => {
    const trail = [requested('2026-12-01T10:00:00.000Z'), ended('2026-12-01T10:30:00.000Z', 0)];
    const labelledAt = times('2026-12-01T10:30:00.000Z', 199);
    expect(decideRetrainRequest(trail, { ...base, labelledAt }).request).toBe(false);
    expect(
      decideRetrainRequest(trail, { ...base, labelledAt: [...labelledAt, Date.parse(base.now)] }).request,
    ).toBe(true);
  });

  it('does not count an end recorded before the last request', () => {
    const trail = [
      requested('2026-12-01T09:00:00.000Z'),
      ended('2026-12-01T09:30:00.000Z', 0),
      requested('2026-12-01T11:00:00.000Z'),
    ];
    const labelledAt = times('2026-12-01T09:30:00.000Z', 5000);
    expect(decideRetrainRequest(trail, { ...base, labelledAt }).request).toBe(false);
  });
});
