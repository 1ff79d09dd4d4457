/**
 * `keel federated simulate`: clients in worker threads (each reading only its own CSV), the
 * state machine and the gates on a local runtime, and the centralised baseline.
 */
import { describe, expect, it } from 'vitest';
import { runKeel } from '../support/cli.ts';

const keel = (...args: string[]) => runKeel('examples/federated-credit/keel.config.json', ...args);

describe('keel federated simulate', () => {
  it('runs the rounds with clients in worker threads and reports both AUCs on the same held-out rows', async () => {
    // Act
    const { code, out, err } = await keel(
      'federated',
      'simulate',
      '--clients',
      '4',
      '--rounds',
      '3',
      '--split',
      'iid',
      '--json',
    );
    // Assess
    expect(code, err).toBe(0);
    const report = JSON.parse(out);
    expect(report).toMatchObject({
      clients: 4,
      split: 'iid',
      rounds: 3,
      secureAggregation: true,
      heldOutRows: 4000,
    });
    expect(report.clientRows.reduce((a: number, b: number) => a + b, 0)).toBe(16_000);
    expect(report.history.map((r: { aggregated: number }) => r.aggregated)).toEqual([4, 4, 4]);
    expect(report.auc.difference).toBeLessThan(0.02);
    expect(report.bytesPerClientPerRound.sent).toBeGreaterThan(0);
    expect(['registered', 'rejected']).toContain(report.gates.status);
  }, 120_000);

  it.each([
    [['--clients', '1'], 'expected a whole number in [2, 100]'],
    [['--split', 'random'], 'Allowed choices are iid, non-iid'],
  ])('refuses %j with a message', async (args, message) => {
    const { code, err } = await keel('federated', 'simulate', ...args);
    expect(code).toBe(2);
    expect(err).toContain(message);
  });
});
