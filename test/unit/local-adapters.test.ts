import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NotFoundError, ValidationError } from '../../functions/kernel/errors.ts';
import type { DeploymentState } from '../../functions/ports/deployer.ts';
import { LocalDeployer } from '../../local/adapters/deployer.ts';
import { LocalEventBus } from '../../local/adapters/event-bus.ts';
import { aggregate, LocalMetrics } from '../../local/adapters/metrics.ts';

describe('aggregate', () => {
  const values = [5, 1, 4, 2, 3, 10, 6, 9, 7, 8];

  it.each([
    ['Sum', 55],
    ['Average', 5.5],
    ['Maximum', 10],
    ['Minimum', 1],
    ['SampleCount', 10],
    ['p50', 5],
    ['p90', 9],
    ['p99', 10],
  ] as const)('%s', (statistic, expected) => {
    expect(aggregate(values, statistic)).toBeCloseTo(expected, 10);
  });

  it('has no value without data', () => {
    expect(aggregate([], 'Sum')).toBeUndefined();
  });

  it.each([
    ['Maximum', 199_999],
    ['Minimum', 0],
  ] as const)('%s of more values than a call can take as arguments', (statistic, expected) => {
    const many = Array.from({ length: 200_000 }, (_, i) => i);
    expect(aggregate(many, statistic)).toBe(expected);
  });
});

describe('LocalMetrics', () => {
  it('evaluates alarms over the last period only, per series', async () => {
    // Prepare
    let now = 1_000_000;
    const metrics = new LocalMetrics({ now: () => now });
    metrics.defineAlarm({
      name: 'errors',
      namespace: 'Keel',
      metric: 'Errors',
      dimensions: { model: 'credit' },
      statistic: 'Sum',
      periodMs: 60_000,
      threshold: 5,
      comparison: '>=',
    });

    // Act / Assess
    expect(metrics.state('errors')).toBe('INSUFFICIENT_DATA');
    await metrics.publish('Keel', [
      { name: 'Errors', value: 3, unit: 'Count', dimensions: { model: 'credit' } },
    ]);
    await metrics.publish('Keel', [
      { name: 'Errors', value: 9, unit: 'Count', dimensions: { model: 'other' } },
    ]);
    expect(metrics.state('errors')).toBe('OK');
    await metrics.publish('Keel', [
      { name: 'Errors', value: 2, unit: 'Count', dimensions: { model: 'credit' } },
    ]);
    expect(await metrics.alarming(['errors', 'unknown'])).toEqual(['errors']);
    now += 61_000;
    expect(metrics.state('errors')).toBe('INSUFFICIENT_DATA');
  });

  it('forgets points older than the retention, and keeps the ones within it', async () => {
    // Prepare: one point a second for 3 000 s, with a retention of 1 000 s
    let now = 0;
    const metrics = new LocalMetrics({ now: () => now, retentionMs: 1_000_000 });

    // Act
    for (let second = 0; second < 3000; second++) {
      now = second * 1000;
      await metrics.publish('Keel', [{ name: 'Requests', value: second, unit: 'Count' }]);
    }

    // Assess: a period longer than the retention sees only the retained points, all of them
    expect(metrics.statistic('Keel', 'Requests', undefined, 'SampleCount', 5_000_000)).toBe(1001);
    expect(metrics.statistic('Keel', 'Requests', undefined, 'Minimum', 5_000_000)).toBe(1999);
    expect(metrics.statistic('Keel', 'Requests', undefined, 'Maximum', 5_000_000)).toBe(2999);
  });
});

describe('LocalEventBus', () => {
  it('delivers matching events asynchronously and isolates failing subscribers', async () => {
    // Prepare
    const failures: string[] = [];
    const bus = new LocalEventBus({ onDeliveryError: (error) => failures.push((error as Error).message) });
    const received: string[] = [];
    bus.subscribe({ source: ['keel.monitoring'], detailType: ['keel.drift.detected'] }, (event) => {
      received.push(String(event.detail.model));
    });
    bus.subscribe({ source: ['keel.monitoring'] }, () => {
      throw new Error('subscriber broke');
    });

    // Act
    await bus.publish([
      { source: 'keel.monitoring', detailType: 'keel.drift.detected', detail: { model: 'credit' } },
      { source: 'keel.registry', detailType: 'keel.drift.detected', detail: { model: 'ignored' } },
    ]);
    const beforeDrain = [...received];
    await bus.drain();

    // Assess
    expect(beforeDrain).toEqual([]);
    expect(received).toEqual(['credit']);
    expect(failures).toEqual(['subscriber broke']);
    expect(bus.published).toHaveLength(2);
    expect(bus.published[0]?.time).toBeInstanceOf(Date);
  });

  it('stops delivering after unsubscribe', async () => {
    const bus = new LocalEventBus();
    const received: unknown[] = [];
    const unsubscribe = bus.subscribe({}, (e) => {
      received.push(e);
    });
    unsubscribe();
    await bus.publish([{ source: 's', detailType: 'd', detail: {} }]);
    await bus.drain();
    expect(received).toEqual([]);
  });
});

describe('LocalDeployer', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function deployerWithTwoVersions(alarmsFiring: () => string[], changes: DeploymentState[] = []) {
    const deployer = new LocalDeployer({
      alarms: { alarming: async (names) => names.filter((n) => alarmsFiring().includes(n)) },
      timeScale: 0.01,
      tickMs: 100,
      onChange: (state) => changes.push(state),
    });
    const v1 = await deployer.publishVersion('serve', 'credit@1');
    await deployer.startDeployment({
      functionName: 'serve',
      alias: 'live',
      targetVersion: v1.version,
      shift: { type: 'all-at-once' },
    });
    const v2 = await deployer.publishVersion('serve', 'credit@2');
    return { deployer, v1, v2 };
  }

  it('creates a missing alias on the target at once', async () => {
    const { deployer, v1 } = await deployerWithTwoVersions(() => []);
    expect(await deployer.aliasRouting('serve', 'live')).toEqual({ version: v1.version });
  });

  it('holds the canary share for one interval, then shifts all traffic', async () => {
    // Prepare
    const { deployer, v2 } = await deployerWithTwoVersions(() => []);

    // Act
    const { deploymentId } = await deployer.startDeployment({
      functionName: 'serve',
      alias: 'live',
      targetVersion: v2.version,
      shift: { type: 'canary', percentage: 10, intervalMinutes: 5 },
    });
    await vi.advanceTimersByTimeAsync(100);
    const during = await deployer.aliasRouting('serve', 'live');
    // 5 minutes at time scale 0.01 is 3 seconds.
    await vi.advanceTimersByTimeAsync(3_000);
    const after = await deployer.getDeployment(deploymentId);

    // Assess
    expect(during).toEqual({ version: '1', additionalVersion: { version: '2', weight: 0.1 } });
    expect(after).toMatchObject({ status: 'Succeeded', targetWeight: 1 });
    expect(await deployer.aliasRouting('serve', 'live')).toEqual({ version: '2' });
    deployer.close();
  });

  it('rolls back when an alarm fires during the shift', async () => {
    // Prepare
    let firing: string[] = [];
    const changes: DeploymentState[] = [];
    const { deployer, v2 } = await deployerWithTwoVersions(() => firing, changes);
    const { deploymentId } = await deployer.startDeployment({
      functionName: 'serve',
      alias: 'live',
      targetVersion: v2.version,
      shift: { type: 'linear', percentage: 10, intervalMinutes: 1 },
      alarms: ['serve-errors'],
    });
    await vi.advanceTimersByTimeAsync(1_300);

    // Act
    firing = ['serve-errors'];
    await vi.advanceTimersByTimeAsync(200);

    // Assess
    const state = await deployer.getDeployment(deploymentId);
    expect(state.status).toBe('Failed');
    expect(state.reason).toContain('serve-errors');
    expect(await deployer.aliasRouting('serve', 'live')).toEqual({ version: '1' });
    expect(changes.some((c) => c.targetWeight > 0.1 && c.status === 'InProgress')).toBe(true);
    expect(changes.at(-1)?.status).toBe('Failed');
  });

  it('refuses an unpublished version and a second concurrent deployment', async () => {
    const { deployer, v2 } = await deployerWithTwoVersions(() => []);
    await expect(
      deployer.startDeployment({
        functionName: 'serve',
        alias: 'live',
        targetVersion: '9',
        shift: { type: 'all-at-once' },
      }),
    ).rejects.toBeInstanceOf(ValidationError);
    const request = {
      functionName: 'serve',
      alias: 'live',
      targetVersion: v2.version,
      shift: { type: 'canary', percentage: 10, intervalMinutes: 5 },
    } as const;
    await deployer.startDeployment(request);
    await expect(deployer.startDeployment(request)).rejects.toThrow('still in progress');
    await expect(deployer.getDeployment('d-missing')).rejects.toBeInstanceOf(NotFoundError);
    deployer.close();
  });
});
