import { afterEach, describe, expect, it, vi } from 'vitest';
import { ValidationError } from '../../functions/kernel/errors.ts';
import { LocalScheduler, nextOccurrence } from '../../local/scheduler.ts';

const at = (iso: string) => Date.parse(iso);

describe('nextOccurrence', () => {
  it.each([
    ['rate(1 hour)', '2026-11-26T10:17:00Z', '2026-11-26T11:17:00Z'],
    ['rate(5 minutes)', '2026-11-26T10:17:00Z', '2026-11-26T10:22:00Z'],
    ['rate(2 days)', '2026-11-26T10:17:00Z', '2026-11-28T10:17:00Z'],
    // EventBridge cron: minutes hours day-of-month month day-of-week year, UTC.
    ['cron(0 * * * ? *)', '2026-11-26T10:17:00Z', '2026-11-26T11:00:00Z'],
    ['cron(30 2 * * ? *)', '2026-11-26T10:17:00Z', '2026-11-27T02:30:00Z'],
    // Day of week 2 is Monday in EventBridge (1 = Sunday); 2026-11-30 is a Monday.
    ['cron(0 12 ? * 2 *)', '2026-11-26T10:17:00Z', '2026-11-30T12:00:00Z'],
    ['cron(0 0 L * ? *)', '2026-11-26T10:17:00Z', '2026-11-30T00:00:00Z'],
  ])('%s after %s is %s', (expression, after, next) => {
    expect(new Date(nextOccurrence(expression, at(after))).toISOString()).toBe(new Date(next).toISOString());
  });

  it('fires a cron again only after the occurrence it just fired', () => {
    const first = nextOccurrence('cron(0 * * * ? *)', at('2026-11-26T10:17:00Z'));
    expect(nextOccurrence('cron(0 * * * ? *)', first)).toBe(first + 3_600_000);
  });

  it.each(['every hour', 'rate(0 minutes)', 'cron(61 * * * ? *)'])(
    'refuses %s with a validation error',
    (expression) => {
      expect(() => nextOccurrence(expression, Date.now())).toThrow(ValidationError);
    },
  );
});

describe('LocalScheduler', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs jobs on a clock sped up by 1 / timeScale, skips a run while the last one is busy, and stops cleanly', async () => {
    // Prepare: an hourly job at time scale 0.001 (every 3.6 s), whose first run hangs for 5 s.
    vi.useFakeTimers({ now: at('2026-11-26T10:00:00Z') });
    const runs: string[] = [];
    let release: () => void = () => {};
    let calls = 0;
    const scheduler = new LocalScheduler(
      [
        {
          name: 'check',
          expression: 'rate(1 hour)',
          run: () => {
            calls++;
            return calls === 1 ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve();
          },
        },
      ],
      { timeScale: 0.001, onRun: (run) => runs.push(run.finishedAt.toISOString()) },
    ).start();
    expect(scheduler.next.check?.toISOString()).toBe('2026-11-26T10:00:03.600Z');

    // Act: 3.6 s → first run (hangs); 7.2 s → skipped; release; 10.8 s → second run.
    await vi.advanceTimersByTimeAsync(3_600);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(3_600);
    expect(calls).toBe(1);
    release();
    await vi.advanceTimersByTimeAsync(3_600);

    // Assess
    expect(calls).toBe(2);
    expect(runs).toHaveLength(2);
    await scheduler.stop();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(calls).toBe(2);
  });

  it('reports a failed run and keeps the schedule', async () => {
    vi.useFakeTimers({ now: at('2026-11-26T10:00:00Z') });
    const errors: (string | undefined)[] = [];
    const scheduler = new LocalScheduler(
      [{ name: 'boom', expression: 'rate(1 minute)', run: () => Promise.reject(new Error('no capture')) }],
      { timeScale: 0.01, onRun: (run) => errors.push(run.error) },
    ).start();
    await vi.advanceTimersByTimeAsync(1_200);
    await scheduler.stop();
    expect(errors).toEqual(['no capture', 'no capture']);
  });

  it('refuses a bad expression at construction, not at its first firing', () => {
    expect(() => new LocalScheduler([{ name: 'x', expression: 'rate(soon)', run: async () => {} }])).toThrow(
      ValidationError,
    );
  });
});

describe('scheduledJobs', () => {
  it('schedules each model’s feature review where the config sets one, and runs it as the function with the model’s settings', async () => {
    // Prepare: the shipped config (a daily review) beside a model with none.
    const { parseConfig } = await import('../../functions/contracts/config/load.ts');
    const { readFileSync } = await import('node:fs');
    const { scheduledJobs } = await import('../../local/monitoring.ts');
    const raw = JSON.parse(readFileSync('keel.config.json', 'utf8'));
    raw.models.plain = { ...raw.models.credit, schedules: { driftCheck: 'rate(1 hour)' } };
    delete raw.stages;
    const config = parseConfig(raw);
    const calls: { name: string; payload: unknown }[] = [];
    const lambda = {
      invoke: async (name: string, payload: unknown) => {
        calls.push({ name, payload });
        return { status: 'skipped', model: 'credit', reason: 'test' };
      },
    };

    // Act
    const jobs = scheduledJobs({ config, lambda: lambda as never, pipelines: {} as never, timeScale: 0.5 });
    const review = jobs.find((j) => j.name === 'credit:feature-review');
    await review?.run();

    // Assess
    expect(jobs.map((j) => j.name)).toEqual([
      'credit:drift-check',
      'credit:feature-review',
      'plain:drift-check',
    ]);
    expect(review?.expression).toBe('rate(1 day)');
    expect(calls).toHaveLength(1);
    expect(calls[0]?.name).toBe('keel-feature-review');
    // The window shrinks with the local time scale, as the drift check's does.
    expect(calls[0]?.payload).toMatchObject({ settings: { model: 'credit', windowDays: 15 } });
  });
});
