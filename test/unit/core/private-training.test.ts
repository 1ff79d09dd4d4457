import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type Column, cell } from '../../../functions/core/data/table.ts';
import type { Transform } from '../../../functions/core/features/transforms.ts';
import { epsilonSpent } from '../../../functions/core/privacy/rdp.ts';
import { Rng } from '../../../functions/core/random.ts';
import { generateCredit } from '../../../functions/core/synthetic/credit.ts';
import {
  privateTrainingPlan,
  stratifiedSplit,
  takeRows,
  train,
} from '../../../functions/core/training/train.ts';
import { IntegrityError, ValidationError } from '../../../functions/kernel/errors.ts';
import { LineageStore } from '../../../functions/lineage/store.ts';
import { loadModelCard } from '../../../functions/registry/card.ts';
import { publishTrainingResult } from '../../../functions/registry/publish.ts';
import { ModelRegistry } from '../../../functions/registry/registry.ts';
import { renderCardMarkdown } from '../../../functions/reports/card.ts';
import { MemoryBlobStore } from '../../support/memory-blob-store.ts';
import { MemoryRegistryStore } from '../../support/memory-registry-store.ts';

// Every statistic declared: a constant for the missing incomes, public centres and scales, the
// categories by name (nothing of the pipeline is learnt from the rows).
const features = JSON.parse(readFileSync('examples/private-credit/features.json', 'utf8')) as Transform[];
const common = {
  label: 'default',
  protected: ['sex'],
  exclude: ['applicant_id'],
  algorithm: 'lr' as const,
  features,
  bootstrapSamples: 50,
  dataHash: 'e'.repeat(64),
  codeVersion: 'abc1234',
};

describe('train with privacy', () => {
  const data = generateCredit({ rows: 8000, seed: 9 });
  const result = train(data, { ...common, privacy: { epsilon: 1, delta: 1e-5 } });

  it('spends at most the budget, and the accountant confirms what it records', () => {
    const p = result.manifest.privacy;
    expect(p).toMatchObject({
      delta: 1e-5,
      targetEpsilon: 1,
      clip: 1,
      accountant: 'rdp',
      pipelineEpsilon: 0,
    });
    expect(p?.rows).toBe(result.manifest.rows.train);
    expect(p?.epsilon).toBeLessThanOrEqual(1);
    expect(1 - (p?.epsilon as number)).toBeLessThan(0.01);
    const again = epsilonSpent({
      noiseMultiplier: p?.noiseMultiplier as number,
      sampleRate: p?.sampleRate as number,
      steps: p?.steps as number,
      delta: 1e-5,
    });
    expect(again.epsilon).toBeCloseTo(p?.epsilon as number, 12);
    // 256 expected rows a step, 5 epochs.
    expect(p?.sampleRate).toBeCloseTo(256 / 6400, 12);
    expect(p?.steps).toBe(Math.ceil(5 / (256 / 6400)));
  });

  it('draws its noise cryptographically unless asked to reproduce a run', () => {
    expect(result.manifest.privacy?.noise).toBe('cryptographic');
    const small = generateCredit({ rows: 2000, seed: 9 });
    const seeded = { ...common, privacy: { epsilon: 1, delta: 1e-5, seededNoise: true } };
    const weights = (r: ReturnType<typeof train>) =>
      Array.from((r.model as { coefficients: Float64Array }).coefficients);
    // Seeded: the same run twice gives the same model; cryptographic: two runs differ.
    expect(weights(train(small, seeded))).toEqual(weights(train(small, seeded)));
    const fresh = { ...common, privacy: { epsilon: 1, delta: 1e-5 } };
    expect(weights(train(small, fresh))).not.toEqual(weights(train(small, fresh)));
    expect(train(small, seeded).manifest.privacy?.noise).toBe('seeded');
  });

  it('is planned before any row is touched: the plan is the mechanism training runs', () => {
    // Act
    const plan = privateTrainingPlan(data, { ...common, privacy: { epsilon: 1, delta: 1e-5 } });
    // Assess
    const p = result.manifest.privacy;
    expect(plan).toMatchObject({
      noiseMultiplier: p?.noiseMultiplier,
      sampleRate: p?.sampleRate,
      steps: p?.steps,
      rows: p?.rows,
      epsilon: p?.epsilon,
    });
  });

  it('records the ledger entry that granted it, and refuses to run any other mechanism', () => {
    const plan = privateTrainingPlan(data, { ...common, privacy: { epsilon: 1, delta: 1e-5 } });
    const granted = { ledger: 'synthetic:credit', seq: 3, mechanism: plan };
    const small = generateCredit({ rows: 2000, seed: 9 });
    const smallPlan = privateTrainingPlan(small, { ...common, privacy: { epsilon: 1, delta: 1e-5 } });
    const ok = train(small, {
      ...common,
      privacy: { epsilon: 1, delta: 1e-5, granted: { ...granted, mechanism: smallPlan } },
    });
    expect(ok.manifest.privacy?.ledger).toEqual({ name: 'synthetic:credit', seq: 3 });
    // The grant was for 8,000 rows; 2,000 would need more noise.
    expect(() => train(small, { ...common, privacy: { epsilon: 1, delta: 1e-5, granted } })).toThrow(
      IntegrityError,
    );
  });

  it('still learns: the private model ranks applicants nearly as well as the plain one', () => {
    const plain = train(data, common);
    expect(result.metrics.auc).toBeGreaterThan(0.78);
    expect(plain.metrics.auc - result.metrics.auc).toBeLessThan(0.03);
  });

  it('keeps no fitted row: the explainer’s background comes from the holdout', () => {
    // The holdout as train() splits it: stratified, from the seed's generator.
    const labels = (data.columns.get('default') as { values: Float64Array }).values;
    const holdout = takeRows(data, stratifiedSplit(labels, 0.2, new Rng(42)).holdout);
    const inputs = result.pipeline.inputs.map((i) => i.name);
    const key = (row: Readonly<Record<string, unknown>>) => JSON.stringify(inputs.map((n) => row[n] ?? null));
    const rowsOf = (table: typeof holdout) =>
      Array.from({ length: table.rowCount }, (_, r) =>
        Object.fromEntries(inputs.map((n) => [n, cell(table.columns.get(n) as Column, r)])),
      );
    const held = new Set(rowsOf(holdout).map(key));
    const inHoldout = (background: readonly Readonly<Record<string, unknown>>[]) =>
      background.filter((row) => held.has(key(row))).length;
    expect(result.explainer.background.length).toBeGreaterThan(50);
    expect(inHoldout(result.explainer.background)).toBe(result.explainer.background.length);
    // Nor do the input ranges or the stored audit describe the fitted rows: both are the holdout's.
    expect(result.audit.rows).toBe(holdout.rowCount);
    const income = (holdout.columns.get('income') as { values: Float64Array }).values.filter(
      (v) => !Number.isNaN(v),
    );
    expect(result.manifest.schema.ranges?.income?.max).toBe(Math.max(...income));
    // Without privacy the background is drawn from the fitted rows, as shap's and Clarify's.
    const plain = train(data, common);
    expect(inHoldout(plain.explainer.background)).toBeLessThan(plain.explainer.background.length / 2);
  });

  it.each([
    ['a GBDT', { algorithm: 'gbdt' as const }, 'privacy', /logistic regression only/],
    [
      'a pipeline that learns its statistics',
      { features: [{ type: 'impute', column: 'income', strategy: 'median' } as Transform] },
      'features.0',
      /imputes income with its median/,
    ],
    ['an epsilon of 0', { privacy: { epsilon: 0, delta: 1e-5 } }, 'privacy.epsilon', /got 0/],
    ['a delta of 1', { privacy: { epsilon: 1, delta: 1 } }, 'privacy.delta', /got 1/],
    ['a clip of 0', { privacy: { epsilon: 1, delta: 1e-5, clip: 0 } }, 'privacy.clip', /got 0/],
  ])('refuses %s, naming the field', (_, override, path, message) => {
    const attempt = () =>
      train(data, {
        ...common,
        privacy: { epsilon: 1, delta: 1e-5 },
        ...(override as Record<string, unknown>),
      });
    expect(attempt).toThrow(ValidationError);
    try {
      attempt();
    } catch (error) {
      const issue = (error as ValidationError).issues.find((i) => i.path === path);
      expect(issue?.message).toMatch(message);
    }
  });

  it('refuses a budget no noise can meet, with the numbers', () => {
    const few = takeRows(
      data,
      Array.from({ length: 300 }, (_, i) => i),
    );
    expect(() =>
      train(few, { ...common, privacy: { epsilon: 0.05, delta: 1e-5, epochs: 50, batchSize: 240 } }),
    ).toThrow(/ε = 0.05 at δ = 0.00001 cannot be met with 50 steps at sample rate 1.* 240 rows to fit/);
  });

  it('goes to the registry and the model card', async () => {
    const registry = new ModelRegistry({ store: new MemoryRegistryStore() });
    const lineage = new LineageStore(new MemoryBlobStore());
    const { version } = await publishTrainingResult(registry, lineage, result, {
      model: 'private',
      owner: 'risk',
      intendedUse: 'test',
      codeVersion: 'abc1234',
      actor: 'test',
    });
    const v = await registry.get('private', version);
    const p = result.manifest.privacy;
    expect(v.metadata.privacy).toEqual({
      epsilon: p?.epsilon,
      delta: p?.delta,
      noiseMultiplier: p?.noiseMultiplier,
      sampleRate: p?.sampleRate,
      steps: p?.steps,
      clip: p?.clip,
      accountant: 'rdp',
      noise: 'cryptographic',
      rows: p?.rows,
    });
    const { card } = await loadModelCard({ registry, lineage }, 'private', version);
    expect(card.keel.privacy?.epsilon).toBe(p?.epsilon);
    expect(card.content.additional_information?.custom_details?.['keel.privacy']).toMatch(
      /^DP-SGD: ε = 0\.99\d at δ = 0\.00001/,
    );
    expect(renderCardMarkdown(card)).toMatch(
      /Trained with differential privacy \(DP-SGD\): ε = 0\.99\d at δ = 0\.00001/,
    );
  });
});
