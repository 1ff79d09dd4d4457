import { describe, expect, it } from 'vitest';
import {
  codeDeployConfigName,
  shiftDurationMs,
  targetWeightAt,
} from '../../functions/contracts/deployment.ts';
import type { TrafficShift } from '../../functions/ports/deployer.ts';

const MINUTE = 60_000;

describe('codeDeployConfigName', () => {
  it.each([
    [{ type: 'all-at-once' }, 'CodeDeployDefault.LambdaAllAtOnce'],
    [
      { type: 'canary', percentage: 10, intervalMinutes: 5 },
      'CodeDeployDefault.LambdaCanary10Percent5Minutes',
    ],
    [
      { type: 'canary', percentage: 10, intervalMinutes: 30 },
      'CodeDeployDefault.LambdaCanary10Percent30Minutes',
    ],
    [
      { type: 'linear', percentage: 10, intervalMinutes: 1 },
      'CodeDeployDefault.LambdaLinear10PercentEvery1Minute',
    ],
    [
      { type: 'linear', percentage: 10, intervalMinutes: 10 },
      'CodeDeployDefault.LambdaLinear10PercentEvery10Minutes',
    ],
    [{ type: 'canary', percentage: 25, intervalMinutes: 5 }, 'KeelCanary25Percent5Minutes'],
    [{ type: 'linear', percentage: 20, intervalMinutes: 4 }, 'KeelLinear20PercentEvery4Minutes'],
  ] as [TrafficShift, string][])('names %j %s', (shift, name) => {
    expect(codeDeployConfigName(shift)).toBe(name);
  });
});

describe('targetWeightAt', () => {
  const canary: TrafficShift = { type: 'canary', percentage: 10, intervalMinutes: 5 };
  const linear: TrafficShift = { type: 'linear', percentage: 25, intervalMinutes: 2 };

  it.each([
    [canary, 0, 0.1],
    [canary, 5 * MINUTE - 1, 0.1],
    [canary, 5 * MINUTE, 1],
    [linear, 0, 0.25],
    [linear, 2 * MINUTE, 0.5],
    [linear, 4 * MINUTE + 1, 0.75],
    [linear, 6 * MINUTE, 1],
    [{ type: 'all-at-once' } as TrafficShift, 0, 1],
  ])('%j at %d ms routes %d to the target', (shift, elapsed, weight) => {
    expect(targetWeightAt(shift, elapsed)).toBeCloseTo(weight, 10);
  });

  it.each([
    [canary, 5 * MINUTE],
    [linear, 6 * MINUTE],
    [{ type: 'linear', percentage: 30, intervalMinutes: 1 } as TrafficShift, 3 * MINUTE],
    [{ type: 'all-at-once' } as TrafficShift, 0],
  ])('%j completes after %d ms', (shift, duration) => {
    expect(shiftDurationMs(shift)).toBe(duration);
    expect(targetWeightAt(shift, duration)).toBe(1);
  });
});
