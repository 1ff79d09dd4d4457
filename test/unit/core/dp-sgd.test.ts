import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { matrix } from '../../../functions/core/linalg.ts';
import { fitLogistic } from '../../../functions/core/models/logistic.ts';
import { dpSgdLogistic } from '../../../functions/core/privacy/dp-sgd.ts';
import { Rng } from '../../../functions/core/random.ts';

/** n rows of d standard normal features and labels from a logistic model with `weights`. */
function data(n: number, weights: readonly number[], seed: number) {
  const rng = new Rng(seed);
  const d = weights.length;
  const x = new Float64Array(n * d);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let m = -0.5;
    for (let j = 0; j < d; j++) {
      const v = rng.normal();
      x[i * d + j] = v;
      m += (weights[j] as number) * v;
    }
    y[i] = rng.bernoulli(1 / (1 + Math.exp(-m))) ? 1 : 0;
  }
  return { x: matrix(n, d, x), y };
}

describe('dpSgdLogistic', () => {
  it('clips every row’s gradient to norm C before summing (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.double({ min: -50, max: 50, noNaN: true }), { minLength: 3, maxLength: 3 }), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.double({ min: 0.01, max: 5, noNaN: true }),
        (rows, clip) => {
          const x = matrix(rows.length, 3, Float64Array.from(rows.flat()));
          const y = rows.map((_, i) => i % 2);
          let sum: Float64Array | undefined;
          dpSgdLogistic(x, y, {
            clip,
            noiseMultiplier: 0,
            sampleRate: 1,
            steps: 1,
            seed: 1,
            onStep: (s) => {
              sum = Float64Array.from(s.clippedSum);
            },
          });
          // From zero weights every p is 0.5: row i's gradient is (0.5 − y)·(x, 1), clipped.
          const expected = new Float64Array(4);
          rows.forEach((r, i) => {
            const g = [...r, 1].map((v) => (0.5 - (y[i] as number)) * v);
            const norm = Math.hypot(...g);
            const scale = norm > clip ? clip / norm : 1;
            g.forEach((v, k) => {
              expected[k] = (expected[k] as number) + v * scale;
            });
            expect(norm * scale).toBeLessThanOrEqual(clip * (1 + 1e-12));
          });
          expected.forEach((v, k) => {
            expect(sum?.[k]).toBeCloseTo(v, 9);
          });
        },
      ),
      { seed: 7, numRuns: 60 },
    );
  });

  it('adds noise of standard deviation σ·C on every coordinate, centred', () => {
    const { x, y } = data(200, [1, -1, 0.5], 3);
    const values: number[] = [];
    dpSgdLogistic(x, y, {
      clip: 0.7,
      noiseMultiplier: 1.8,
      sampleRate: 0.1,
      steps: 1500,
      seed: 11,
      onStep: (s) => values.push(...s.noise),
    });
    const n = values.length; // 6,000 draws: the sample sd is within ±3 % (5 standard errors)
    const mean = values.reduce((a, b) => a + b, 0) / n;
    const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
    expect(Math.abs(mean)).toBeLessThan((5 * 1.26) / Math.sqrt(n));
    expect(sd / (1.8 * 0.7)).toBeGreaterThan(0.97);
    expect(sd / (1.8 * 0.7)).toBeLessThan(1.03);
  });

  it('draws Poisson batches: each row with probability q, the size varying around q·n', () => {
    const { x, y } = data(1000, [1], 4);
    const sizes: number[] = [];
    const result = dpSgdLogistic(x, y, {
      clip: 1,
      noiseMultiplier: 1,
      sampleRate: 0.05,
      steps: 800,
      seed: 5,
      onStep: (s) => sizes.push(s.batch),
    });
    const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length;
    const variance = sizes.reduce((a, v) => a + (v - mean) ** 2, 0) / (sizes.length - 1);
    expect(result.meanBatch).toBeCloseTo(mean, 12);
    expect(Math.abs(mean - 50) / Math.sqrt(47.5 / 800)).toBeLessThan(5);
    expect(variance / 47.5).toBeGreaterThan(0.8); // binomial n·q·(1 − q); a fixed size would give 0
    expect(variance / 47.5).toBeLessThan(1.2);
  });

  it('without noise or clipping, full batches find what Newton’s method finds', () => {
    const { x, y } = data(3000, [1.2, -0.7, 0.3], 6);
    const reference = fitLogistic(x, y, { C: 1 / (1e-4 * 3000) });
    const { model } = dpSgdLogistic(x, y, {
      clip: 1e9,
      noiseMultiplier: 0,
      sampleRate: 1,
      steps: 3000,
      learningRate: 2,
      seed: 1,
    });
    model.coefficients.forEach((c, j) => {
      expect(Math.abs(c - (reference.coefficients[j] as number))).toBeLessThan(1e-3);
    });
    expect(Math.abs(model.intercept - reference.intercept)).toBeLessThan(1e-3);
  });

  it('refuses bad settings naming the value', () => {
    const { x, y } = data(10, [1], 1);
    const base = { clip: 1, noiseMultiplier: 1, sampleRate: 0.1, steps: 10, seed: 1 };
    expect(() => dpSgdLogistic(x, y, { ...base, clip: 0 })).toThrow(/clip must be .* got 0/);
    expect(() => dpSgdLogistic(x, y, { ...base, sampleRate: 0 })).toThrow(/sample rate .* got 0/);
    expect(() => dpSgdLogistic(x, y, { ...base, steps: 2.5 })).toThrow(/steps .* got 2.5/);
    expect(() => dpSgdLogistic(x, y, { ...base, noiseMultiplier: -1 })).toThrow(/got -1/);
  });
});
