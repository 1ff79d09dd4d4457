import { describe, expect, it } from 'vitest';
import { epsilonSpent } from '../../functions/core/privacy/rdp.ts';
import { runKeel } from '../support/cli.ts';

const keel = (...args: string[]) => runKeel('keel.config.json', ...args);

describe('keel privacy', () => {
  it('prints what the accountant spends, as JSON', async () => {
    const { code, out } = await keel(
      'privacy',
      'epsilon',
      '--noise-multiplier',
      '1.1',
      '--sample-rate',
      '0.01',
      '--steps',
      '1000',
      '--delta',
      '1e-5',
      '--json',
    );
    expect(code).toBe(0);
    const printed = JSON.parse(out) as { epsilon: number; order: number; delta: number };
    expect(Object.keys(printed)).toEqual(['epsilon', 'order', 'delta']);
    expect(printed).toEqual({
      ...epsilonSpent({ noiseMultiplier: 1.1, sampleRate: 0.01, steps: 1000, delta: 1e-5 }),
    });
  });

  it('calibrates the noise for a target ε, and what it finds spends no more', async () => {
    const { code, out } = await keel(
      'privacy',
      'noise',
      '--epsilon',
      '3',
      '--sample-rate',
      '0.02',
      '--steps',
      '2500',
      '--delta',
      '1e-5',
      '--json',
    );
    expect(code).toBe(0);
    const found = JSON.parse(out) as { noiseMultiplier: number; epsilon: number };
    const check = epsilonSpent({
      noiseMultiplier: found.noiseMultiplier,
      sampleRate: 0.02,
      steps: 2500,
      delta: 1e-5,
    });
    expect(check.epsilon).toBeCloseTo(found.epsilon, 12);
    expect(check.epsilon).toBeLessThanOrEqual(3);
  });

  it.each([
    [
      ['epsilon', '--noise-multiplier', '1', '--sample-rate', '2', '--steps', '10', '--delta', '1e-5'],
      /expected a rate in \(0, 1\], got "2"/,
    ],
    [
      ['epsilon', '--noise-multiplier', '1', '--sample-rate', '0.1', '--steps', '1.5', '--delta', '1e-5'],
      /whole number of steps/,
    ],
    [
      ['epsilon', '--noise-multiplier', '1', '--sample-rate', '0.1', '--steps', '10', '--delta', '1'],
      /in \(0, 1\), got "1"/,
    ],
    [
      ['noise', '--epsilon', '0.01', '--sample-rate', '1', '--steps', '100000', '--delta', '1e-5'],
      /cannot be met with 100000 steps/,
    ],
  ])('refuses %j naming the value', async (args, message) => {
    const { code, err } = await keel('privacy', ...args);
    expect(code).toBe(2);
    expect(err).toMatch(message);
  });
});
