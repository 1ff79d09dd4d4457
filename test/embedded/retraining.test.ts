/**
 * The retraining state machine end to end on the local runtime: the same ASL file CDK deploys,
 * run by aws-local-stepfunctions with the real handlers, on synthetic scenarios that each gate
 * must catch.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoApprovalStore } from '../../functions/adapters/aws/approval-store.ts';
import { documentClient } from '../../functions/commons/clients.ts';
import { createLineageStore, createRegistry } from '../../functions/composition/aws.ts';
import { RESOURCE_ENV } from '../../functions/contracts/resources.ts';
import { retrainingFunctionName, retrainingPipelineName } from '../../functions/contracts/retraining.ts';
import { cell } from '../../functions/core/data/table.ts';
import type { GlobalDiagnostics } from '../../functions/core/explain/diagnostics.ts';
import { generateCredit } from '../../functions/core/synthetic/credit.ts';
import { train } from '../../functions/core/training/train.ts';
import { loadModelCard } from '../../functions/registry/card.ts';
import { lineageTree } from '../../functions/registry/lineage-graph.ts';
import { publishTrainingResult } from '../../functions/registry/publish.ts';
import type { ModelRegistry } from '../../functions/registry/registry.ts';
import { decideApproval } from '../../functions/retraining/approvals.ts';
import * as handlers from '../../functions/retraining/handlers.ts';
import type { LocalRuntime } from '../../local/runtime.ts';
import { inferenceFunctionName } from '../../local/serving.ts';
import { startScenarioRuntime } from '../support/runtime.ts';

const MODELS = {
  // Promotion and the performance gate.
  credit: {},
  // The fairness gate, judged on sex only; region is a feature (in the shipped config), and the
  // biased scenario makes it a proxy for sex. No mitigations (the shipped config has some).
  lending: { gates: { mitigations: [] } },
  // The fairness gate fails; the configured mitigations train the candidate again.
  mitigated: {
    gates: {
      mitigations: [
        { method: 'reweighing' },
        { method: 'exponentiated-gradient', iterations: 8 },
        { method: 'threshold' },
      ],
    },
  },
  // A bar no mitigation reaches: rejected, with the table.
  unmitigable: { gates: { minDemographicParityRatio: 0.995, mitigations: [{ method: 'reweighing' }] } },
  // Safety: a logistic regression fed raw numbers, without imputation, answers NaN for a missing value.
  'raw-lr': {
    features: [{ type: 'log', column: 'debt', offset: 1 }],
    training: { algorithm: 'lr', seed: 42, holdout: 0.2, hyperparameters: {} },
  },
  // Safety: a declared relation that does not hold (risk must not rise with debt; it does).
  monotone: { gates: { monotone: { debt: -1 } } },
  // The performance gate: a configuration too small to learn much.
  weak: {
    training: { algorithm: 'gbdt', seed: 42, holdout: 0.2, hyperparameters: { trees: 3, maxDepth: 1 } },
  },
  // A long canary (30 min → 3.6 s here), to fail it while it runs.
  canaried: { serving: { shift: 'canary10-30m', safeDefault: { probability: 0.5, label: 0 } } },
  // Human approval, with a short timeout.
  reviewed: { gates: { requireApproval: true, approvalTimeoutHours: 1 } },
  // More production rows than base rows: what callers send, and do not, decides the audit.
  carried: {},
} as const;

let runtime: LocalRuntime;
let registry: ModelRegistry;
let approvals: DynamoApprovalStore;

function source(rows: number, seed: number, knobs = ''): string {
  return `synthetic:credit?rows=${rows}&seed=${seed}${knobs}`;
}

async function retrain(model: string, request: Record<string, unknown>) {
  const { executionId } = await runtime.pipelines.start(retrainingPipelineName('keel', model), {
    trigger: { type: 'manual', reason: 'test' },
    ...request,
  });
  return { executionId, done: runtime.pipelines.wait(executionId) };
}

async function pendingApproval(execution: string) {
  for (let i = 0; i < 500; i++) {
    const found = (await approvals.list()).find((a) => a.execution === execution);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no approval requested for ${execution}`);
}

beforeAll(async () => {
  const raw = JSON.parse(readFileSync('keel.config.json', 'utf8'));
  const base = raw.models.credit;
  raw.models = Object.fromEntries(
    Object.entries(MODELS).map(([name, overrides]) => [
      name,
      {
        ...base,
        ...overrides,
        features: 'features' in overrides ? overrides.features : base.features,
        data: { ...base.data, source: source(4000, 1), protectedAttributes: ['sex'] },
        training: Object.assign(
          {},
          base.training,
          { hyperparameters: { trees: 60 } },
          'training' in overrides ? overrides.training : {},
        ),
        gates: { ...base.gates, bootstrapSamples: 300, ...('gates' in overrides ? overrides.gates : {}) },
        retraining: { rolloutPollSeconds: 1 },
      },
    ]),
  );
  runtime = await startScenarioRuntime(raw);
  registry = createRegistry();
  approvals = new DynamoApprovalStore(documentClient(), process.env[RESOURCE_ENV.table] as string);
}, 60_000);

afterAll(async () => {
  await runtime?.stop();
});

describe('retraining pipeline: performance gate', () => {
  it('promotes a better candidate: registered, approved, rolled out, production moved', async () => {
    // Prepare: a weak production model, trained on 400 rows.
    const first = await (await retrain('credit', { source: source(400, 11) })).done;
    expect(first.status).toBe('SUCCEEDED');
    expect((await registry.aliases('credit')).production).toBe(1);

    // Act: retrain on 10 000 rows.
    const second = await (await retrain('credit', { source: source(10_000, 12) })).done;

    // Assess
    expect(second.status).toBe('SUCCEEDED');
    const aliases = await registry.aliases('credit');
    expect(aliases).toMatchObject({ production: 2, candidate: 2 });
    const v2 = await registry.get('credit', 2);
    expect(v2.status).toBe('approved');
    expect(v2.metadata.parent).toEqual({ model: 'credit', version: 1 });
    const output = second.output as {
      evaluation: { table: { check: string; candidate: number; production: number | null }[] };
    };
    const auc = output.evaluation.table.find((r) => r.check === 'AUC on holdout');
    expect(auc?.candidate).toBeGreaterThan(auc?.production as number);
    const trail = await registry.auditTrail('credit', 2);
    expect(trail.map((e) => e.type)).toEqual(
      expect.arrayContaining(['VersionRegistered', 'VersionStatusChanged', 'AliasMoved']),
    );
    // What the candidate relies on: in the report, its HTML (charts as SVG), the version and its lineage.
    const lineage = createLineageStore();
    const report = await lineage.getJson<{ diagnostics: GlobalDiagnostics }>({
      kind: 'evaluations',
      sha256: v2.metadata.evaluation.report?.sha256 as string,
    });
    const drops = report.diagnostics.permutation.map((p) => p.aucDrop);
    expect(drops).toEqual([...drops].sort((a, b) => b - a));
    expect(report.diagnostics.meanAbsShap?.length).toBeGreaterThan(0);
    expect(report.diagnostics.pdp.map((p) => p.column)).toEqual(
      report.diagnostics.permutation.slice(0, 3).map((p) => p.column),
    );
    expect(v2.metadata.tags.topFeatures?.split(', ')[0]).toBe(report.diagnostics.permutation[0]?.column);
    expect(v2.metadata.explainer?.sha256).toMatch(/^[0-9a-f]{64}$/);
    const html = new TextDecoder().decode(
      await lineage.getBytes({ kind: 'evaluations', sha256: v2.metadata.tags.evaluationHtml as string }),
    );
    expect(html).toMatch(/^<!doctype html>/);
    expect(html.match(/<svg/g)?.length).toBe(4); // importance, and three partial dependences
    expect(html).not.toMatch(/<script|src=|href="http/);
    const tree = await lineageTree(registry, lineage, 'credit', 2);
    expect(tree.children.map((c) => c.label)).toContainEqual(
      expect.stringMatching(/^explainer [0-9a-f]{12}…; relies most on /),
    );
  }, 120_000);

  it('is idempotent: the same input again registers no new version', async () => {
    // Prepare
    const request = { source: source(10_000, 12), asOf: '2026-11-01T00:00:00.000Z' };
    const before = (await registry.listVersions('credit')).items.length;

    // Act
    const again = await (await retrain('credit', request)).done;

    // Assess: nothing registered, nothing rolled out again
    expect(again.status).toBe('SUCCEEDED');
    expect((await registry.listVersions('credit')).items.length).toBe(before);
    expect((again.output as { rollout: { deploymentId: string } }).rollout.deploymentId).toBe('already-live');
  }, 120_000);

  it('joins served predictions with fed-back outcomes, trains on part and judges on the rest', async () => {
    // Prepare: 400 live predictions through the API, each with its outcome reported back.
    const traffic = generateCredit({ rows: 400, seed: 16 });
    const inputs = ['income', 'debt', 'late_payments', 'loan_amount', 'employment', 'region'];
    const instances = Array.from({ length: traffic.rowCount }, (_, r) =>
      Object.fromEntries(inputs.map((name) => [name, cell(traffic.columns.get(name) as never, r)])),
    );
    const response = await fetch(`${runtime.url}/v1/models/credit:predict`, {
      method: 'POST',
      body: JSON.stringify({ instances }),
    });
    const { predictions } = (await response.json()) as { predictions: { prediction_id: string }[] };
    const outcomes = (traffic.columns.get('default') as { values: Float64Array }).values;
    for (const [r, p] of predictions.entries()) {
      const fed = await fetch(`${runtime.url}/v1/feedback`, {
        method: 'POST',
        body: JSON.stringify({ prediction_id: p.prediction_id, outcome: outcomes[r] }),
      });
      expect(fed.status).toBe(202);
    }
    await runtime.capture.flush();

    // Act
    const run = await (await retrain('credit', { source: source(10_000, 12) })).done;

    // Assess: half the labelled rows trained the candidate, the latest half judged it.
    const output = run.output as {
      data: { productionRows: number; production: { rows: number } | null };
      evaluation: { table: { check: string }[] };
    };
    expect(output.data.productionRows).toBe(400);
    expect(output.data.production?.rows).toBe(200);
    expect(output.evaluation.table.map((r) => r.check)).toEqual(
      expect.arrayContaining(['AUC on production', 'valid outputs (production)']),
    );
    // Monitored, once live, against the production rows it was judged on.
    const evaluation = output.evaluation as unknown as { monitoringBaseline: { sha256: string } };
    const baseline = await createLineageStore().getJson<{
      rows: number;
      outcomes: { buckets: { tp: number; fp: number; tn: number; fn: number }[] };
    }>({ kind: 'profiles', sha256: evaluation.monitoringBaseline.sha256 });
    expect(baseline.rows).toBe(200);
    expect(baseline.outcomes.buckets.reduce((n, b) => n + b.tp + b.fp + b.tn + b.fn, 0)).toBe(200);
    const versions = (await registry.listVersions('credit')).items;
    const registered = await registry.get('credit', versions.at(-1)?.version as number);
    if (registered.metadata.pipelineExecution === run.executionId)
      expect(registered.metadata.tags.profile).toBe(evaluation.monitoringBaseline.sha256);
  }, 120_000);

  it('trains on production rows that carry the protected attribute callers send, and not the columns they never send', async () => {
    // Prepare: v1 on 2,000 base rows; then 4,000 live predictions whose callers send `sex`
    // beside the inputs (a declared field: captured, never scored), each with its outcome.
    expect((await (await retrain('carried', { source: source(2000, 21) })).done).status).toBe('SUCCEEDED');
    const traffic = generateCredit({ rows: 4000, seed: 22 });
    const sent = ['income', 'debt', 'late_payments', 'loan_amount', 'employment', 'region', 'sex'];
    const outcomes = (traffic.columns.get('default') as { values: Float64Array }).values;
    for (let start = 0; start < traffic.rowCount; start += 500) {
      const instances = Array.from({ length: 500 }, (_, i) =>
        Object.fromEntries(sent.map((name) => [name, cell(traffic.columns.get(name) as never, start + i)])),
      );
      const response = await fetch(`${runtime.url}/v1/models/carried:predict`, {
        method: 'POST',
        body: JSON.stringify({ instances }),
      });
      expect(response.status, await response.clone().text()).toBe(200);
      const { predictions } = (await response.json()) as { predictions: { prediction_id: string }[] };
      await Promise.all(
        predictions.map((p, i) =>
          fetch(`${runtime.url}/v1/models/carried/feedback`, {
            method: 'POST',
            body: JSON.stringify({ prediction_id: p.prediction_id, outcome: outcomes[start + i] }),
          }),
        ),
      );
    }
    await runtime.capture.flush();

    // Act
    const run = await (await retrain('carried', { source: source(2000, 21) })).done;

    // Assess: the audit passed (67 % of the rows are production rows); what they lack by design
    // is named, `sex` is not among it, and fairness was judged on production rows too.
    const output = run.output as {
      data: { productionRows: number; productionLacks?: string[] };
      audit?: { passed: boolean };
      evaluation: { table: { check: string }[] };
    };
    expect(run.status, `${run.error}: ${run.cause}`).toBe('SUCCEEDED');
    expect(output.data.productionRows).toBe(4000);
    expect(output.data.productionLacks).toEqual(expect.arrayContaining(['age', 'credit_history_years']));
    expect(output.data.productionLacks).not.toContain('sex');
    expect(output.evaluation.table.map((r) => r.check)).toEqual(
      expect.arrayContaining([expect.stringMatching(/sex \(production\)/)]),
    );
  }, 180_000);

  it('rejects a worse candidate at the performance gate and keeps production', async () => {
    // Prepare: a 60-tree production model, published directly.
    const config = runtime.config.models.weak as NonNullable<typeof runtime.config.models.weak>;
    const strong = train(generateCredit({ rows: 10_000, seed: 14 }), {
      label: 'default',
      protected: ['sex'],
      exclude: ['applicant_id'],
      features: config.features,
      hyperparameters: { trees: 60 },
      dataHash: 'a'.repeat(64),
      codeVersion: 'abc1234',
    });
    const { version } = await publishTrainingResult(registry, createLineageStore(), strong, {
      model: 'weak',
      owner: 'risk',
      intendedUse: 'test',
      codeVersion: 'abc1234',
      actor: 'test',
    });
    await registry.approve('weak', version, { actor: 'test', reason: 'baseline' });
    await registry.moveAlias(
      'weak',
      'production',
      { to: version, expected: null },
      { actor: 't', reason: 'baseline' },
    );

    // Act: the configured three stumps, on as much data.
    const worse = await (await retrain('weak', { source: source(10_000, 15) })).done;

    // Assess
    expect(worse).toMatchObject({ status: 'FAILED', error: 'Keel.PerformanceGateFailed' });
    const rejected = await registry.get('weak', version + 1);
    expect(rejected.status).toBe('rejected');
    expect(rejected.statusReason).toMatch(
      /^performance gate: on holdout the candidate is worse than production by 0\.\d+ AUC/,
    );
    expect(rejected.metadata.evaluation.report?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect((await registry.aliases('weak')).production).toBe(version);
  }, 120_000);
});

describe('retraining pipeline: fairness and safety gates', () => {
  it('rejects a candidate trained on group-biased labels at the fairness gate', async () => {
    // Act: past decisions recorded women as defaulting more at equal risk, and where someone
    // lives gives their sex away.
    const biased = await (
      await retrain('lending', { source: source(6000, 21, '&groupBias=1.5&groupProxy=0.6') })
    ).done;

    // Assess
    expect(biased).toMatchObject({ status: 'FAILED', error: 'Keel.FairnessGateFailed' });
    const version = await registry.get('lending', 1);
    expect(version.status).toBe('rejected');
    expect(version.statusReason).toMatch(/^fairness gate: sex on holdout/);
  }, 120_000);

  it('tries the configured mitigations when the fairness gate fails, and promotes the best that passes every gate, with the table', async () => {
    // Act: the biased population the gate rejected above.
    const run = await (
      await retrain('mitigated', { source: source(6000, 21, '&groupBias=1.5&groupProxy=0.6') })
    ).done;

    // Assess
    expect(run.status, JSON.stringify(run.error ?? '')).toBe('SUCCEEDED');
    const version = await registry.get('mitigated', 1);
    expect(version.status).toBe('approved');
    expect(version.metadata.mitigation).toMatchObject({ attribute: 'sex' });
    // Threshold post-processing alone makes sex an input, and the version says so.
    const threshold = version.metadata.mitigation?.method === 'threshold';
    expect(version.metadata.mitigation?.attributeIsInput).toBe(threshold);
    expect(version.metadata.inputSchema.find((f) => f.name === 'sex')?.protected).toBe(
      threshold || undefined,
    );
    const report = await createLineageStore().getJson<{
      gates: { fairness: { passed: boolean } };
      mitigations: { method: string; gates: Record<string, boolean>; paretoOptimal: boolean; auc: number }[];
    }>({ kind: 'evaluations', sha256: version.metadata.evaluation.report?.sha256 as string });
    expect(report.gates.fairness.passed).toBe(true);
    expect(report.mitigations.map((r) => r.method)).toEqual([
      'none',
      'reweighing',
      'exponentiated-gradient',
      'threshold',
    ]);
    expect(report.mitigations[0]?.gates.fairness).toBe(false);
    const passing = report.mitigations.filter((r) => Object.values(r.gates).every(Boolean));
    expect(passing.map((r) => r.method)).toContain(version.metadata.mitigation?.method);
    // The promoted one is the best that passed, and the table marks the Pareto front.
    const promoted = passing.find((r) => r.method === version.metadata.mitigation?.method);
    expect(Math.max(...passing.map((r) => r.auc))).toBe(promoted?.auc);
    expect(report.mitigations.some((r) => r.paretoOptimal)).toBe(true);
    // Its model card, regenerated when the rollout promoted it, carries the table too.
    expect(await registry.cardOf('mitigated', 1)).toMatchObject({ trigger: 'promotion' });
    const { card } = await loadModelCard({ registry, lineage: createLineageStore() }, 'mitigated', 1);
    expect(card.keel.mitigations?.map((r) => r.method)).toEqual(report.mitigations.map((r) => r.method));
    expect(card.keel.aliases).toContain('production');
    expect(card.keel.evaluation.holdout?.auc).toBeGreaterThan(0.5);
    // What the config says of risk and the business, kept with the version.
    expect(card.content.intended_uses.risk_rating).toBe('High');
    expect(card.content.business_details.line_of_business).toBe('Consumer lending');
  }, 240_000);

  it('rejects with the table when no mitigation passes every gate', async () => {
    // Act
    const run = await (
      await retrain('unmitigable', { source: source(6000, 21, '&groupBias=1.5&groupProxy=0.6') })
    ).done;

    // Assess
    expect(run).toMatchObject({ status: 'FAILED', error: 'Keel.FairnessGateFailed' });
    const version = await registry.get('unmitigable', 1);
    expect(version.status).toBe('rejected');
    expect(version.statusReason).toMatch(
      /no mitigation passed every gate \(reweighing \(demographic-parity on sex\): fairness/,
    );
    const report = await createLineageStore().getJson<{
      mitigations: { method: string }[];
      gates: { fairness: { passed: boolean; reason: string } };
    }>({
      kind: 'evaluations',
      sha256: version.metadata.evaluation.report?.sha256 as string,
    });
    expect(report.mitigations.map((r) => r.method)).toEqual(['none', 'reweighing']);
    // The stored report, not only the registry, says why no mitigation was adopted.
    expect(report.gates.fairness).toMatchObject({
      passed: false,
      reason: expect.stringMatching(/no mitigation passed/),
    });
  }, 240_000);

  it('promotes the same configuration trained on unbiased labels', async () => {
    const fair = await (await retrain('lending', { source: source(6000, 22) })).done;
    expect(fair.status).toBe('SUCCEEDED');
  }, 120_000);

  it('rejects a model that answers NaN at the safety gate', async () => {
    // Act
    const nan = await (await retrain('raw-lr', { source: source(3000, 31) })).done;

    // Assess
    expect(nan).toMatchObject({ status: 'FAILED', error: 'Keel.SafetyGateFailed' });
    expect((await registry.get('raw-lr', 1)).statusReason).toMatch(
      /valid outputs \(edge cases\): \d+ of \d+ rows gave NaN/,
    );
  }, 120_000);

  it('rejects a model that breaks a declared monotone relation at the safety gate', async () => {
    // Act
    const mono = await (await retrain('monotone', { source: source(3000, 41) })).done;

    // Assess
    expect(mono).toMatchObject({ status: 'FAILED', error: 'Keel.SafetyGateFailed' });
    expect((await registry.get('monotone', 1)).statusReason).toMatch(
      /monotone in debt: \d+ of \d+ rows move up/,
    );
  }, 120_000);
});

describe('retraining pipeline: rollout and triggers', () => {
  it('records a rolled-back canary and keeps production', async () => {
    // Prepare: a first version goes live at once (nothing served before).
    const first = await (await retrain('canaried', { source: source(4000, 61) })).done;
    expect(first.status).toBe('SUCCEEDED');
    const fn = inferenceFunctionName('keel', 'canaried');
    const published = runtime.deployer.versions(fn).length;

    // Act: the next candidate's canary answers from its fallback; its rollback alarm fires.
    const { done } = await retrain('canaried', { source: source(4000, 62) });
    let canary: string | undefined;
    for (let i = 0; i < 500 && !canary; i++) {
      canary = runtime.deployer.versions(fn)[published]?.version;
      if (!canary) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await runtime.metrics.publish('Keel/Local', [
      { name: 'Fallback', value: 1, unit: 'None', dimensions: { function: fn, version: canary as string } },
    ]);
    const result = await done;

    // Assess
    expect(result).toMatchObject({ status: 'FAILED', error: 'Keel.RolloutRolledBack' });
    expect((await registry.aliases('canaried')).production).toBe(1);
    const trail = await registry.auditTrail('canaried', 2);
    const outcome = trail.filter((e) => e.type === 'DeploymentRecorded').at(-1);
    expect(outcome?.details).toMatchObject({ status: 'RolledBack' });
    expect(String(outcome?.reason)).toMatch(/fallback-rate/);
  }, 120_000);

  it('starts retraining when monitoring reports drift', async () => {
    // Act
    await runtime.eventBus.publish([
      {
        source: 'keel.monitoring',
        detailType: 'keel.drift.detected',
        detail: { model: 'lending', reason: 'income PSI 0.31' },
      },
    ]);

    // Assess: an execution with the drift trigger, which then asks the candidate to beat production.
    let started: Awaited<ReturnType<typeof runtime.pipelines.list>>[number] | undefined;
    for (let i = 0; i < 200 && !started; i++) {
      const runs = await runtime.pipelines.list(retrainingPipelineName('keel', 'lending'));
      started = runs.find((r) => JSON.stringify(r.input).includes('income PSI'));
      if (!started) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(started?.input).toEqual({ trigger: { type: 'drift', reason: 'income PSI 0.31' } });
    const finished = await runtime.pipelines.wait(started?.description.executionId as string);
    expect(finished.status).not.toBe('RUNNING');
  }, 120_000);
});

describe('retraining pipeline: retries and approval', () => {
  it('retries a transient task failure', async () => {
    // Prepare: the training function fails once with a throttling error, then works.
    const name = retrainingFunctionName('keel', 'train');
    let calls = 0;
    runtime.lambda.updateCode(name, async (event: unknown, context: unknown) => {
      calls++;
      if (calls === 1) {
        const error = new Error('Rate exceeded');
        error.name = 'ThrottlingException';
        throw error;
      }
      return handlers.trainHandler(event as never, context as never);
    });

    // Act
    const run = await (await retrain('lending', { source: source(6000, 23) })).done;

    // Assess
    expect(calls).toBe(2);
    expect(run.status).toBe('SUCCEEDED');
    runtime.lambda.updateCode(name, handlers.trainHandler as never);
  }, 120_000);

  it('waits for approval, and an approval through the API records who and why', async () => {
    // Act
    const { executionId, done } = await retrain('reviewed', { source: source(4000, 51) });
    const request = await pendingApproval(executionId);
    const response = await fetch(`${runtime.url}/v1/approvals/${encodeURIComponent(executionId)}`, {
      method: 'POST',
      body: JSON.stringify({ approve: true, reason: 'gates and report reviewed', actor: 'ana@example.com' }),
    });
    const result = await done;

    // Assess
    expect(request.gates.length).toBeGreaterThan(0);
    expect(response.status).toBe(200);
    expect(result.status).toBe('SUCCEEDED');
    const trail = await registry.auditTrail('reviewed', 1);
    const approved = trail.find((e) => e.type === 'VersionStatusChanged');
    expect(approved).toMatchObject({
      actor: 'ana@example.com',
      reason: 'approved by ana@example.com: gates and report reviewed',
    });
  }, 120_000);

  it('records a reviewer rejection as the candidate rejected by that reviewer', async () => {
    // Act
    const { executionId, done } = await retrain('reviewed', { source: source(4000, 53) });
    await pendingApproval(executionId);
    await decideApproval(
      { approvals, pipelines: runtime.pipelines },
      { execution: executionId, approve: false, actor: 'bo@example.com', reason: 'not this quarter' },
    );
    const result = await done;

    // Assess
    expect(result).toMatchObject({ status: 'FAILED', error: 'Keel.ApprovalNotGiven' });
    const versions = (await registry.listVersions('reviewed')).items;
    const last = Math.max(...versions.map((v) => v.version));
    expect(await registry.get('reviewed', last)).toMatchObject({
      status: 'rejected',
      statusChangedBy: 'bo@example.com',
      statusReason: 'approval gate: not this quarter',
    });
    const second = decideApproval(
      { approvals, pipelines: runtime.pipelines },
      { execution: executionId, approve: true, actor: 'cy@example.com', reason: 'changed my mind' },
    );
    await expect(second).rejects.toThrow(/already decided: rejected by bo@example.com/);
  }, 120_000);

  it('rejects the candidate when nobody decides before the timeout', async () => {
    // Act
    const { executionId, done } = await retrain('reviewed', { source: source(4000, 52) });
    await pendingApproval(executionId);
    const result = await done;

    // Assess
    expect(result).toMatchObject({ status: 'FAILED', error: 'Keel.ApprovalNotGiven' });
    const versions = (await registry.listVersions('reviewed')).items;
    const last = await registry.get('reviewed', Math.max(...versions.map((v) => v.version)));
    expect(last.status).toBe('rejected');
    expect(last.statusReason).toBe('approval gate: no decision before the approval timed out');
  }, 120_000);
});
