import { describe, expect, it } from 'vitest';
import { Rng } from '../../../functions/core/random.ts';
import { VersionShiftMonitor } from '../../../functions/inference/canary.ts';
import type { PredictionRecord } from '../../../functions/inference/capture.ts';

const rng = new Rng(3);
const record = (version: string, probability: number, servedBy = 'primary'): PredictionRecord => ({
  type: 'prediction',
  prediction_id: `${version}-${probability}`,
  timestamp: '2026-11-26T10:00:00.000Z',
  model: 'credit',
  model_version: version,
  served_by: servedBy,
  inputs: {},
  outputs: { probability, label: probability > 0.5 ? 1 : 0 },
  latency_ms: 1,
});
const beta = (shift: number) => Math.min(1, Math.max(0, rng.normal(0.3 + shift, 0.1)));

describe('VersionShiftMonitor', () => {
  it('finds no shift between versions answering alike, and a large one when a version moves', () => {
    // Prepare
    const monitor = new VersionShiftMonitor({ minRows: 100 });

    // Act
    monitor.observe(Array.from({ length: 2000 }, () => record('4', beta(0))));
    monitor.observe(Array.from({ length: 300 }, () => record('5', beta(0))));
    const alike = monitor.shifts().find((s) => s.version === '5');
    monitor.observe(Array.from({ length: 300 }, () => record('6', beta(0.25))));
    const moved = monitor.shifts().find((s) => s.version === '6');

    // Assess
    expect(alike?.psi).toBeLessThan(0.1);
    expect(moved?.psi).toBeGreaterThan(0.25);
    expect(moved?.rows).toBe(300);
  });

  it('ignores fallback answers and waits for enough rows on both sides', () => {
    // Prepare
    const monitor = new VersionShiftMonitor({ minRows: 100 });

    // Act
    monitor.observe(Array.from({ length: 500 }, () => record('4', beta(0))));
    monitor.observe(Array.from({ length: 500 }, () => record('5', 0.9, 'fallback')));
    monitor.observe(Array.from({ length: 50 }, () => record('6', beta(0.3))));

    // Assess
    expect(monitor.shifts()).toEqual([]);
  });
});
