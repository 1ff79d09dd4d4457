import { describe, expect, it } from 'vitest';
import { appendOptimistically } from '../../functions/kernel/optimistic.ts';

const options = (maxAttempts = 5) => ({
  maxAttempts,
  baseBackoffMs: 1,
  maxBackoffMs: 2,
  gaveUp: () => new Error('gave up'),
});
const throttle = () => Object.assign(new Error('slow down'), { name: 'ThrottlingException' });

describe('appendOptimistically', () => {
  it('tries again after lost races and throttling, and returns what the commit gave', async () => {
    const outcomes = ['lost', 'throttled', 'lost', 'committed'];
    let calls = 0;
    const value = await appendOptimistically(async () => {
      const outcome = outcomes[calls++];
      if (outcome === 'throttled') throw throttle();
      return outcome === 'lost' ? 'lost' : { value: calls };
    }, options());
    expect(value).toBe(4);
  });

  it.each([
    ['every race lost', async () => 'lost' as const, 'gave up'],
    ['throttled to the end', async () => Promise.reject(throttle()), 'slow down'],
  ])('gives up when %s, with its own error', async (_, attempt, message) => {
    let calls = 0;
    await expect(
      appendOptimistically(async () => {
        calls++;
        return attempt();
      }, options(3)),
    ).rejects.toThrow(message);
    expect(calls).toBe(3);
  });

  it('does not retry any other error', async () => {
    let calls = 0;
    await expect(
      appendOptimistically(async () => {
        calls++;
        throw new Error('bad input');
      }, options()),
    ).rejects.toThrow('bad input');
    expect(calls).toBe(1);
  });
});
