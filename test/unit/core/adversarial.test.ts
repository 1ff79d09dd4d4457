import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { adversarialDebiasing, adversarialGradients } from '../../../functions/core/fairness/adversarial.ts';
import type { FairnessConstraint } from '../../../functions/core/fairness/constraints.ts';
import { matrix } from '../../../functions/core/linalg.ts';
import { generateCredit } from '../../../functions/core/synthetic/credit.ts';
import { train } from '../../../functions/core/training/train.ts';

interface Played {
  coefficients: number[];
  intercept: number;
  adversary: { weights: number[]; biases: number[]; c: number };
  history: { step: number; predictorLoss: number; adversaryLoss: number }[];
}
const fixture = JSON.parse(
  readFileSync(new URL('../../fixtures/reference/adversarial.json', import.meta.url), 'utf8'),
) as {
  X: number[][];
  y: number[];
  groups: string[];
  init: { coefficients: number[]; intercept: number };
  settings: { C: number; alpha: number; lr: number; adversaryLr: number; steps: number };
  results: Record<FairnessConstraint, Played>;
};
const x = matrix(fixture.X.length, fixture.X[0]?.length ?? 0, Float64Array.from(fixture.X.flat()));
const constraints = Object.keys(fixture.results) as FairnessConstraint[];

const close = (actual: ArrayLike<number>, expected: readonly number[], tolerance: number) => {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => {
    expect(Math.abs((actual[i] as number) - e)).toBeLessThan(tolerance * Math.max(1, Math.abs(e)));
  });
};

describe('adversarialDebiasing', () => {
  it.each(constraints)('%s: replays torch’s game (autograd, Adam) step by step', (constraint) => {
    // Act
    const { settings } = fixture;
    const result = adversarialDebiasing(x, fixture.y, fixture.groups, {
      constraint,
      adversaryWeight: settings.alpha,
      C: settings.C,
      learningRate: settings.lr,
      adversaryLearningRate: settings.adversaryLr,
      steps: settings.steps,
      init: fixture.init,
      every: 10,
    });

    // Assess
    const expected = fixture.results[constraint];
    close(result.model.coefficients, expected.coefficients, 1e-9);
    close([result.model.intercept], [expected.intercept], 1e-9);
    close(result.adversary.weights, expected.adversary.weights, 1e-9);
    close(result.adversary.biases, expected.adversary.biases, 1e-9);
    close([result.adversary.c], [expected.adversary.c], 1e-9);
    expect(result.history.map((h) => h.step)).toEqual(expected.history.map((h) => h.step));
    close(
      result.history.flatMap((h) => [h.predictorLoss, h.adversaryLoss]),
      expected.history.flatMap((h) => [h.predictorLoss, h.adversaryLoss]),
      1e-9,
    );
  });

  it.each(constraints)('%s: its hand-derived gradients equal central differences', (constraint) => {
    // Prepare: a point away from the start, so every term is non-zero.
    const names = [...new Set(fixture.groups)].sort();
    const groupIndex = Int32Array.from(fixture.groups, (g) => names.indexOf(g));
    const inputs = constraint === 'equalized-odds' ? 4 : 1;
    const theta = Float64Array.from([0.3, -0.5, 0.2, 0.8, -0.1]);
    const adversary = Float64Array.from({ length: inputs * 3 + 3 + 1 }, (_, k) => Math.sin(k + 1) * 0.7);
    const at = (t: Float64Array, a: Float64Array) =>
      adversarialGradients(x, fixture.y, groupIndex, 3, constraint, t, a, 2);
    const h = 1e-6;

    // Act
    const g = at(theta, adversary);

    // Assess
    theta.forEach((_, j) => {
      const plus = theta.slice();
      const minus = theta.slice();
      plus[j] = (plus[j] as number) + h;
      minus[j] = (minus[j] as number) - h;
      const [p, m] = [at(plus, adversary), at(minus, adversary)];
      expect(g.predictor[j]).toBeCloseTo((p.predictorLoss - m.predictorLoss) / (2 * h), 7);
      expect(g.againstPredictor[j]).toBeCloseTo((p.adversaryLoss - m.adversaryLoss) / (2 * h), 7);
    });
    adversary.forEach((_, k) => {
      const plus = adversary.slice();
      const minus = adversary.slice();
      plus[k] = (plus[k] as number) + h;
      minus[k] = (minus[k] as number) - h;
      const numeric = (at(theta, plus).adversaryLoss - at(theta, minus).adversaryLoss) / (2 * h);
      expect(g.adversary[k]).toBeCloseTo(numeric, 7);
    });
  });

  it('refuses labels and groups that do not match the rows', () => {
    expect(() =>
      adversarialDebiasing(x, [1, 0], fixture.groups, { constraint: 'demographic-parity' }),
    ).toThrow(/400 labels and groups, got 2 and 400/);
  });
});

describe('train with adversarial debiasing', () => {
  const common = {
    label: 'default',
    protected: ['sex'],
    exclude: ['applicant_id'],
    bootstrapSamples: 20,
    dataHash: 'd'.repeat(64),
    codeVersion: 'abc1234',
    algorithm: 'lr' as const,
  };

  it.each([
    ['demographic-parity', { groupBias: 1.25, groupProxy: 0.7 }],
    ['equalized-odds', { groupBias: 2, groupProxy: 0.9 }],
    ['equal-opportunity', { groupBias: 2, groupProxy: 0.9 }],
  ] as const)(
    'brings %s within the usual bar on the holdout, at a reported AUC cost, sex never an input',
    (constraint, population) => {
      // Prepare
      const data = generateCredit({ rows: 12_000, seed: 5, ...population });

      // Act
      const plain = train(data, common);
      const mitigated = train(data, {
        ...common,
        mitigation: { method: 'adversarial', attribute: 'sex', constraint },
      });

      // Assess
      const record = mitigated.manifest.mitigation;
      const metric = record?.holdout.metric as 'demographicParityRatio';
      const before = plain.metrics.fairness.sex?.[metric] as number;
      expect(record?.holdout.direction === '≥' ? before < 0.8 : before > 0.1).toBe(true);
      expect(record?.holdout).toMatchObject({ constraint, met: true });
      expect(record?.attributeIsInput).toBe(false);
      expect(mitigated.pipeline.inputs.map((i) => i.name)).not.toContain('sex');
      // The adversary ends near chance: the score no longer gives sex away.
      const loss = record?.adversarial?.adversaryLoss;
      expect(loss?.end).toBeGreaterThan((loss?.chance as number) - 0.1);
      const cost = plain.metrics.auc - mitigated.metrics.auc;
      expect(cost).toBeGreaterThan(0);
      expect(cost).toBeLessThan(0.05);
    },
    120_000,
  );

  it('is refused for GBDT, naming the field and the algorithm', () => {
    const data = generateCredit({ rows: 500, seed: 5 });
    expect(() =>
      train(data, {
        ...common,
        algorithm: 'gbdt',
        mitigation: { method: 'adversarial', attribute: 'sex', constraint: 'demographic-parity' },
      }),
    ).toThrow(/logistic regression only.*algorithm is gbdt/);
  });
});
