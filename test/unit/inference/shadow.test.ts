import { describe, expect, it } from 'vitest';
import type { CaptureRecord, PredictionRecord } from '../../../functions/contracts/capture.ts';
import { MemoryCaptureSink } from '../../../functions/inference/capture.ts';
import { ShadowScorer } from '../../../functions/inference/shadow.ts';
import type { Scorer } from '../../../functions/ports/scorer.ts';

const record = (id: string, probability: number, servedBy = 'primary'): PredictionRecord => ({
  type: 'prediction',
  prediction_id: id,
  timestamp: '2026-11-26T10:00:00.000Z',
  model: 'credit',
  model_version: '2',
  served_by: servedBy,
  inputs: { x: probability },
  outputs: { probability, label: probability > 0.5 ? 1 : 0 },
  latency_ms: 1,
});

/** A shadow that answers x + shift for input x. */
function shadowModel(shift: number, fail = false): Scorer {
  return {
    version: '9',
    inputs: [{ name: 'x', type: 'numeric' }],
    score: async (columns) => {
      if (fail) throw new Error('shadow down');
      const p = Float64Array.from(columns.get('x') as number[], (x) => Math.min(1, x + shift));
      return { probabilities: p, labels: Int32Array.from(p, (v) => (v > 0.5 ? 1 : 0)) };
    },
  };
}

describe('ShadowScorer', () => {
  it('scores the primary predictions under the same ids and reports agreement', async () => {
    // Prepare
    const sink = new MemoryCaptureSink();
    const shadow = new ShadowScorer(shadowModel(0.1), sink, { sampleRate: 1 });
    const records: CaptureRecord[] = [
      record('a', 0.2),
      record('b', 0.45),
      record('c', 0.8),
      record('d', 0.3, 'fallback'),
    ];

    // Act
    await shadow.process(records);
    const report = shadow.report();

    // Assess: d was not the primary's answer; b crosses 0.5 (0.45 → 0.55).
    expect(sink.records.map((r) => r.prediction_id)).toEqual(['a', 'b', 'c']);
    expect(sink.records[0]).toMatchObject({ served_by: 'shadow', model_version: '9', shadow_of: '2' });
    expect(report.scored).toBe(3);
    expect(report.labelAgreement).toBeCloseTo(2 / 3, 12);
    expect(report.meanAbsoluteDifference).toBeCloseTo(0.1, 12);
    expect(report.psi).toBeGreaterThan(0);
  });

  it('samples at the configured rate and counts a failing shadow without throwing', async () => {
    // Prepare
    const sink = new MemoryCaptureSink();
    let k = 0;
    const sampled = new ShadowScorer(shadowModel(0), sink, {
      sampleRate: 0.5,
      random: () => (k++ % 2 === 0 ? 0.1 : 0.9),
    });
    const failing = new ShadowScorer(shadowModel(0, true), sink, { sampleRate: 1 });
    const records = Array.from({ length: 10 }, (_, i) => record(String(i), i / 10));

    // Act
    await sampled.process(records);
    await failing.process(records);

    // Assess
    expect(sampled.report().scored).toBe(5);
    expect(failing.report()).toMatchObject({ scored: 0, failures: 10, labelAgreement: null });
  });

  it('refuses a sample rate outside [0, 1]', () => {
    expect(() => new ShadowScorer(shadowModel(0), new MemoryCaptureSink(), { sampleRate: 1.5 })).toThrow(
      RangeError,
    );
  });
});
