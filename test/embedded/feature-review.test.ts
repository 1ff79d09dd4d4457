/**
 * The stale-feature review end to end on the local runtime: decisions served over HTTP into the
 * capture with their outcomes, the review function run as its schedule runs it, the review in
 * lineage, the version's audit log and its regenerated card, and, with `retrainWithout`, the
 * retraining run whose candidate drops the stale column and goes through the same gates.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLineageStore, createRegistry } from '../../functions/composition/aws.ts';
import type { FeedbackRecord } from '../../functions/contracts/capture.ts';
import { FEATURES_REVIEWED_EVENT } from '../../functions/contracts/monitoring.ts';
import { retrainingPipelineName } from '../../functions/contracts/retraining.ts';
import { cell } from '../../functions/core/data/table.ts';
import { generateCredit } from '../../functions/core/synthetic/credit.ts';
import { train } from '../../functions/core/training/train.ts';
import type { FeatureReviewReport } from '../../functions/monitoring/feature-review.ts';
import type { KeelEvent } from '../../functions/ports/event-bus.ts';
import { loadModelCard } from '../../functions/registry/card.ts';
import type { ModelRegistry } from '../../functions/registry/registry.ts';
import type { LocalRuntime } from '../../local/runtime.ts';
import { renderStatus, runtimeStatus } from '../../local/status.ts';
import { publishAsProduction, startScenarioRuntime } from '../support/runtime.ts';

const MODELS = ['stale', 'steady', 'quiet'] as const;
let runtime: LocalRuntime;
let registry: ModelRegistry;
const reviewed: KeelEvent[] = [];

/** Serves `rows` applicants of a scenario over HTTP; every outcome comes back. */
async function serve(model: string, scenario: Parameters<typeof generateCredit>[0]) {
  const traffic = generateCredit(scenario);
  const outcomes = (traffic.columns.get('default') as { values: Float64Array }).values;
  const inputs = [
    'income',
    'debt',
    'late_payments',
    'loan_amount',
    'employment',
    'region',
    'sex',
    'age_band',
  ];
  const feedback: FeedbackRecord[] = [];
  for (let start = 0; start < traffic.rowCount; start += 1000) {
    const instances = Array.from({ length: Math.min(1000, traffic.rowCount - start) }, (_, i) =>
      Object.fromEntries(inputs.map((name) => [name, cell(traffic.columns.get(name) as never, start + i)])),
    );
    const response = await fetch(`${runtime.url}/v1/models/${model}:predict`, {
      method: 'POST',
      body: JSON.stringify({ instances }),
    });
    expect(response.status).toBe(200);
    const { predictions } = (await response.json()) as { predictions: { prediction_id: string }[] };
    const now = new Date().toISOString();
    predictions.forEach((p, i) => {
      feedback.push({
        type: 'feedback',
        prediction_id: p.prediction_id,
        model,
        outcome: outcomes[start + i] as 0 | 1,
        observed_at: now,
        timestamp: now,
      });
    });
  }
  // The outcomes as the feedback route captures them (that route has its own tests).
  runtime.capture.write(feedback);
  await runtime.capture.flush();
}

beforeAll(async () => {
  const raw = JSON.parse(readFileSync('keel.config.json', 'utf8'));
  const base = raw.models.credit;
  raw.models = Object.fromEntries(
    MODELS.map((name) => [
      name,
      {
        ...base,
        data: { ...base.data, source: 'synthetic:credit?rows=20000&seed=3' },
        gates: { ...base.gates, bootstrapSamples: 200, mitigations: [] },
        retraining: { rolloutPollSeconds: 1 },
        featureReview: { retrainWithout: name === 'stale' },
      },
    ]),
  );
  runtime = await startScenarioRuntime(raw);
  runtime.eventBus.subscribe(
    { source: [FEATURES_REVIEWED_EVENT.source] },
    (event) => void reviewed.push(event),
  );
  registry = createRegistry();
  const result = train(generateCredit({ rows: 20_000, seed: 3 }), {
    label: 'default',
    protected: base.data.protectedAttributes,
    exclude: base.data.piiFields,
    features: base.features,
    costs: base.costs,
    bootstrapSamples: 100,
    dataHash: 'd'.repeat(64),
    codeVersion: 'abc1234',
  });
  const lineage = createLineageStore();
  for (const model of MODELS) await publishAsProduction(registry, lineage, model, result);
  await runtime.syncServing();
}, 120_000);

afterAll(async () => {
  await runtime?.stop();
});

describe('stale-feature review', () => {
  it('flags the column that stopped predicting, records it, cards it and retrains without it', async () => {
    // Prepare: employment no longer predicts default in production.
    await serve('stale', { rows: 30_000, seed: 41, staleEmployment: 1 });

    // Act
    const summary = await runtime.runFeatureReview('stale');

    // Assess: the verdict, the stored review, the audit log and the card.
    expect(summary).toMatchObject({
      status: 'reviewed',
      version: 1,
      stale: ['employment'],
      drop: ['employment'],
    });
    if (summary.status !== 'reviewed') throw new Error('not reviewed');
    expect(summary.retrainRequested).toBe(true);
    const report = await createLineageStore().getJson<FeatureReviewReport>({
      kind: 'records',
      sha256: summary.report.split('/').at(-1) as string,
    });
    expect(report.format).toBe('keel.feature-review/v1');
    expect(report.labelledRows).toBe(30_000);
    const employment = report.review.features.find((f) => f.column === 'employment');
    // The model still leans on it: what makes a stale column worth flagging.
    expect(employment?.production.meanAbsShap).toBeGreaterThan(0.05);
    const record = await registry.latestFeatureReview('stale', 1);
    expect(record?.flagged).toEqual({ employment: ['stale'] });
    const { card } = await loadModelCard({ registry, lineage: createLineageStore() }, 'stale', 1);
    expect(card.trigger).toBe('feature-review');
    expect(card.keel.featureReview?.flagged).toEqual({ employment: ['stale'] });
    expect(card.keel.knownBiases.join()).toMatch(/employment: the stale-feature review .* found it stale/);
    expect(reviewed.map((e) => e.detailType)).toContain('keel.features.retrain-without');
    expect(renderStatus(await runtimeStatus(runtime))).toMatch(
      /features {4}\d\d:\d\d:\d\d {2}v1: employment stale/,
    );

    // The retraining run it asked for: a candidate without employment, through the same gates.
    const [run] = await runtime.pipelines.list(retrainingPipelineName('keel', 'stale'));
    expect(run?.input).toMatchObject({ trigger: { type: 'feature-review' }, without: ['employment'] });
    const done = await runtime.pipelines.wait(run?.description.executionId as string);
    expect(done.status).toBe('SUCCEEDED');
    const v2 = await registry.get('stale', 2);
    expect(v2.metadata.inputSchema.map((i) => i.name)).not.toContain('employment');
    expect(v2.metadata.tags.droppedFeatures).toBe('employment');
    expect(v2.metadata.tags.trigger).toBe('feature-review');
  }, 240_000);

  it('flags nothing while every column still earns its place', async () => {
    await serve('steady', { rows: 30_000, seed: 42 });

    const summary = await runtime.runFeatureReview('steady');

    expect(summary).toMatchObject({ status: 'reviewed', flagged: [], drop: [], retrainRequested: false });
    expect(await runtime.pipelines.list(retrainingPipelineName('keel', 'steady'))).toEqual([]);
  }, 120_000);

  it('does not review on too few labelled decisions, and says why', async () => {
    await serve('quiet', { rows: 500, seed: 43 });

    const summary = await runtime.runFeatureReview('quiet');

    expect(summary).toMatchObject({ status: 'skipped', version: 1 });
    if (summary.status !== 'skipped') throw new Error('reviewed');
    expect(summary.reason).toMatch(/500 labelled decisions .* needs 1000/);
    expect(await registry.latestFeatureReview('quiet', 1)).toBeUndefined();
  }, 60_000);
});
