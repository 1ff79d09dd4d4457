import { describe, expect, it } from 'vitest';
import { latencySummary, parseDuration } from '../../cli/commands/simulate.ts';

describe('latencySummary', () => {
  it('gives nearest-rank percentiles, as numpy.percentile(method="inverted_cdf")', () => {
    // Prepare: 1..200 shuffled; numpy: p50 100, p99 198
    const values = Array.from({ length: 200 }, (_, i) => ((i * 37) % 200) + 1);

    // Act
    const summary = latencySummary(values);

    // Assess
    expect(summary?.p50).toBeCloseTo(100, 12);
    expect(summary?.p99).toBeCloseTo(198, 12);
    expect(summary?.max).toBeCloseTo(200, 12);
  });

  it.each([
    [[7.5], { p50: 7.5, p99: 7.5, max: 7.5 }],
    [[3, 1, 2], { p50: 2, p99: 3, max: 3 }],
  ])('handles small samples: %j', (values, expected) => {
    const summary = latencySummary(values);
    expect(summary?.p50).toBeCloseTo(expected.p50, 12);
    expect(summary?.p99).toBeCloseTo(expected.p99, 12);
    expect(summary?.max).toBeCloseTo(expected.max, 12);
  });

  it('is null without a successful request', () => {
    expect(latencySummary([])).toBeNull();
  });
});

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['30s', 30_000],
    ['1.5m', 90_000],
    ['2h', 7_200_000],
    ['5', 5000],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('refuses what is not a duration', () => {
    expect(() => parseDuration('soon')).toThrow();
  });
});
