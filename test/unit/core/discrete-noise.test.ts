import { describe, expect, it } from 'vitest';
import {
  bernoulliExp,
  cryptoRandom,
  cryptoSource,
  rationalOf,
  rdpDiscreteGaussian,
  sampleDiscreteGaussian,
  sampleDiscreteLaplace,
  seededSource,
} from '../../../functions/core/privacy/discrete.ts';
import { Rng } from '../../../functions/core/random.ts';

/** Pearson's χ² of `samples` against the pmf `weight(y)` (normalised over |y| ≤ 60), tails pooled past `cut`. */
function chiSquare(samples: readonly bigint[], weight: (y: number) => number, cut: number) {
  let total = 0;
  for (let y = -60; y <= 60; y++) total += weight(y);
  const p = (y: number) => weight(y) / total;
  const observed = new Map<number, number>();
  for (const s of samples) {
    const y = Math.max(-cut - 1, Math.min(cut + 1, Number(s)));
    observed.set(y, (observed.get(y) ?? 0) + 1);
  }
  let chi = 0;
  for (let y = -cut - 1; y <= cut + 1; y++) {
    let expected = 0;
    if (y === -cut - 1) for (let k = -60; k <= y; k++) expected += p(k);
    else if (y === cut + 1) for (let k = y; k <= 60; k++) expected += p(k);
    else expected = p(y);
    expected *= samples.length;
    chi += ((observed.get(y) ?? 0) - expected) ** 2 / expected;
  }
  return { chi, dof: 2 * cut + 2 };
}

describe('discrete noise samplers', () => {
  it.each([
    [1n, 2n],
    [27n, 10n],
    [0n, 1n],
  ])('Bernoulli(e^−%i/%i) has that mean', (n, d) => {
    const source = seededSource(new Rng(3));
    const draws = 20_000;
    let hits = 0;
    for (let i = 0; i < draws; i++) if (bernoulliExp(n, d, source)) hits++;
    const p = Math.exp(-Number(n) / Number(d));
    const sd = Math.sqrt((p * (1 - p)) / draws);
    expect(Math.abs(hits / draws - p)).toBeLessThanOrEqual(Math.max(4 * sd, 1e-12));
  });

  it('draws the discrete Laplace: P(y) ∝ e^(−|y|/t)', () => {
    const source = seededSource(new Rng(5));
    const samples = Array.from({ length: 20_000 }, () => sampleDiscreteLaplace(3n, source));
    const { chi, dof } = chiSquare(samples, (y) => Math.exp(-Math.abs(y) / 3), 8);
    // χ²(18) exceeds 42.3 with probability 0.001.
    expect(dof).toBe(18);
    expect(chi).toBeLessThan(42.3);
  });

  it('draws the discrete Gaussian: P(y) ∝ e^(−y²/2σ²), with a rational σ²', () => {
    const source = seededSource(new Rng(7));
    const { num, den } = rationalOf(2.5 ** 2);
    const samples = Array.from({ length: 20_000 }, () => sampleDiscreteGaussian(num, den, source));
    const { chi, dof } = chiSquare(samples, (y) => Math.exp(-(y * y) / (2 * 6.25)), 6);
    // χ²(14) exceeds 36.1 with probability 0.001.
    expect(dof).toBe(14);
    expect(chi).toBeLessThan(36.1);
    const mean = samples.reduce((a, b) => a + Number(b), 0) / samples.length;
    expect(Math.abs(mean)).toBeLessThan((4 * 2.5) / Math.sqrt(samples.length));
  });

  it('a wrong pmf fails the same χ² test (the test can fail)', () => {
    const source = seededSource(new Rng(7));
    const samples = Array.from({ length: 20_000 }, () => sampleDiscreteGaussian(25n, 4n, source));
    expect(chiSquare(samples, (y) => Math.exp(-Math.abs(y) / 2.5), 6).chi).toBeGreaterThan(100);
  });

  it('draws uniform integers from node:crypto without modulo bias', () => {
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 50_000; i++) {
      const k = Number(cryptoSource.below(10n));
      counts[k] = (counts[k] as number) + 1;
    }
    // Each count is 5,000 ± 67: within 6 sd every run but one in a billion.
    for (const c of counts) expect(Math.abs(c - 5000)).toBeLessThan(6 * Math.sqrt(5000 * 0.9));
    expect(cryptoSource.below(1n)).toBe(0n);
  });

  it('refuses bad parameters, and states the RDP the accountant composes', () => {
    expect(() => sampleDiscreteLaplace(0n)).toThrow(/integer ≥ 1, got 0/);
    expect(() => sampleDiscreteGaussian(0n, 1n)).toThrow(/must be positive/);
    expect(() => bernoulliExp(-1n, 1n)).toThrow(/must be ≥ 0/);
    expect(() => rationalOf(0)).toThrow(/got 0/);
    expect(rdpDiscreteGaussian(2, 1, 3)).toBeCloseTo(3 / 8, 15);
  });
});

describe('cryptoRandom', () => {
  it('gives uniforms on [0, 1) and standard normals (moments over 40,000 draws)', () => {
    const random = cryptoRandom();
    const u = Array.from({ length: 40_000 }, () => random.uniform());
    const z = Array.from({ length: 40_000 }, () => random.normal());
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const variance = (xs: number[]) => mean(xs.map((x) => (x - mean(xs)) ** 2));
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    // Standard errors: 0.0014 for the uniform's mean, 0.005 for the normal's, 0.007 for its variance.
    expect(Math.abs(mean(u) - 0.5)).toBeLessThan(0.006);
    expect(Math.abs(variance(u) - 1 / 12)).toBeLessThan(0.003);
    expect(Math.abs(mean(z))).toBeLessThan(0.025);
    expect(Math.abs(variance(z) - 1)).toBeLessThan(0.035);
    expect(random.normal(5, 0)).toBe(5);
  });
});
