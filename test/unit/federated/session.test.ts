import { describe, expect, it } from 'vitest';
import { decideQuorum, FederatedRoundError, thresholdFor } from '../../../functions/federated/session.ts';

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
