import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Transform } from '../../../functions/core/features/transforms.ts';
import { asLogisticModel } from '../../../functions/core/federated/fedavg.ts';
import { generateCredit } from '../../../functions/core/synthetic/credit.ts';
import { train } from '../../../functions/core/training/train.ts';
import { decideQuorum, FederatedRoundError, thresholdFor } from '../../../functions/federated/session.ts';
import { ValidationError } from '../../../functions/kernel/errors.ts';

describe('the quorum of a round', () => {
  it.each([
    [2, 2],
    [3, 2],
    [4, 3],
    [8, 5],
    [9, 5],
  ])('%i clients asked: %i shares reconstruct a secret (a majority, at least 2)', (clients, threshold) => {
    expect(thresholdFor(clients)).toBe(threshold);
  });

  it.each([
    [true, 4, 5, 'secret-sharing threshold 5'],
    [false, 2, 3, 'minClients 3'],
  ])('secure aggregation %s: %i answers are too few', (secureAggregation, answered, _needed, reason) => {
    const settings = { minClients: 3, secureAggregation };
    expect(() => decideQuorum(settings, { threshold: 5 }, answered, 'train and upload')).toThrow(
      FederatedRoundError,
    );
    expect(() => decideQuorum(settings, { threshold: 5 }, answered, 'train and upload')).toThrow(reason);
  });

  it('lets a plain round go on below the threshold secure aggregation would need', () => {
    expect(() =>
      decideQuorum({ minClients: 3, secureAggregation: false }, { threshold: 5 }, 3, 'train'),
    ).not.toThrow();
    expect(() =>
      decideQuorum({ minClients: 3, secureAggregation: true }, { threshold: 5 }, 5, 'train'),
    ).not.toThrow();
  });
});

describe('train() with a model fitted elsewhere', () => {
  const features = JSON.parse(readFileSync('examples/private-credit/features.json', 'utf8')) as Transform[];
  const data = generateCredit({ rows: 2000, seed: 4 });
  const options = {
    label: 'default',
    protected: ['sex'],
    exclude: ['applicant_id'],
    algorithm: 'lr' as const,
    features,
    bootstrapSamples: 20,
    dataHash: 'f'.repeat(64),
    codeVersion: 'abc1234',
  };
  const record = {
    method: 'fedavg' as const,
    mu: 0,
    rounds: 20,
    clients: 8,
    rows: 16_000,
    secureAggregation: true,
    session: 'arn:aws:states:local:0:execution:keel-credit-federated:x',
  };

  it('fits nothing: it packages the given model, and records how it was fitted', () => {
    // Prepare: 15 model inputs, so 15 coefficients.
    const weights = Array.from({ length: 16 }, (_, j) => (j % 3) * 0.1 - 0.1);
    // Act
    const result = train(data, { ...options, fitted: { model: asLogisticModel(weights, 20), record } });
    // Assess
    expect(result.model.kind).toBe('logistic');
    expect(Array.from((result.model as { coefficients: Float64Array }).coefficients)).toEqual(
      weights.slice(0, 15),
    );
    expect(result.manifest.federated).toEqual(record);
    expect(result.manifest.rows.train).toBe(16_000);
  });

  it.each([
    [
      'the wrong number of coefficients',
      { fitted: { model: asLogisticModel([0, 0, 0], 1), record } },
      /fitted.model: 2 coefficients for 15 features/,
    ],
    [
      'a learnt statistic',
      {
        features: [{ type: 'standardise', column: 'income' }] as Transform[],
        fitted: { model: asLogisticModel([0, 0], 1), record },
      },
      /features\.0/,
    ],
  ])('refuses %s', (_, override, message) => {
    expect(() => train(data, { ...options, ...override })).toThrow(ValidationError);
    expect(() => train(data, { ...options, ...override })).toThrow(message);
  });
});
