import { describe, expect, it } from 'vitest';
import {
  averageOfSum,
  federatedAverage,
  localUpdate,
  weightedContribution,
} from '../../../functions/core/federated/fedavg.ts';
import { dirichlet, splitClients } from '../../../functions/core/federated/split.ts';
import { type Matrix, matrix, sigmoid } from '../../../functions/core/linalg.ts';
import { fitLogistic } from '../../../functions/core/models/logistic.ts';
import { Rng } from '../../../functions/core/random.ts';

function problem(n: number, seed: number): { x: Matrix; y: Float64Array } {
  const rng = new Rng(seed);
  const d = 3;
  const x = matrix(n, d);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let z = -0.5;
    for (let j = 0; j < d; j++) {
      const v = rng.normal();
      x.data[i * d + j] = v;
      z += ([1.2, -0.8, 0.3][j] as number) * v;
    }
    y[i] = rng.bernoulli(sigmoid(z)) ? 1 : 0;
  }
  return { x, y };
}

/** The client objective of `localUpdate`, written out: mean log loss + λ/2‖β‖² + μ/2‖w − g‖². */
function objective(
  w: Float64Array,
  g: Float64Array,
  x: Matrix,
  y: Float64Array,
  l2: number,
  mu: number,
): number {
  const { rows: n, cols: d } = x;
  let loss = 0;
  for (let i = 0; i < n; i++) {
    let z = w[d] as number;
    for (let j = 0; j < d; j++) z += (w[j] as number) * (x.data[i * d + j] as number);
    loss += Math.log1p(Math.exp(z)) - (y[i] as number) * z;
  }
  let penalty = 0;
  for (let j = 0; j <= d; j++) {
    if (j < d) penalty += (l2 / 2) * (w[j] as number) ** 2;
    penalty += (mu / 2) * ((w[j] as number) - (g[j] as number)) ** 2;
  }
  return loss / n + penalty;
}

describe('localUpdate', () => {
  it.each([
    ['FedAvg', 0],
    ['FedProx', 0.5],
  ])('%s: one full-batch step is w − η∇f(w), the gradient checked by central differences', (_, mu) => {
    // Prepare
    const { x, y } = problem(200, 1);
    const g = Float64Array.from([0.2, -0.1, 0.4, 0.1]);
    const start = g;
    const eta = 0.3;
    // Act
    const w = localUpdate(start, x, y, {
      epochs: 1,
      batchSize: 200,
      learningRate: eta,
      mu,
      l2: 0.01,
      seed: 1,
    });
    // Assess
    for (let j = 0; j < 4; j++) {
      const h = 1e-6;
      const up = Float64Array.from(start);
      const down = Float64Array.from(start);
      up[j] = (up[j] as number) + h;
      down[j] = (down[j] as number) - h;
      const numeric = (objective(up, g, x, y, 0.01, mu) - objective(down, g, x, y, 0.01, mu)) / (2 * h);
      expect(w[j]).toBeCloseTo((start[j] as number) - eta * numeric, 7);
    }
  });

  it('reaches the centralised optimum when one client holds every row', () => {
    const { x, y } = problem(2000, 2);
    const C = 1;
    const central = fitLogistic(x, y, { C });
    // Newton's objective is Σ loss + ‖β‖²/2C; per row that is λ = 1/(C·n).
    const w = localUpdate(new Float64Array(4), x, y, {
      epochs: 60,
      batchSize: 2000,
      learningRate: 2,
      l2: 1 / (C * 2000),
      seed: 3,
    });
    central.coefficients.forEach((c, j) => {
      expect(w[j]).toBeCloseTo(c, 3);
    });
    expect(w[3]).toBeCloseTo(central.intercept, 3);
  });

  it('the proximal term keeps a client nearer the global model as μ grows', () => {
    const { x, y } = problem(500, 4);
    const g = new Float64Array(4);
    const distance = (mu: number) => {
      const w = localUpdate(g, x, y, { epochs: 5, learningRate: 0.1, mu, seed: 5 });
      return Math.hypot(...w);
    };
    expect(distance(1)).toBeLessThan(distance(0.1));
    expect(distance(0.1)).toBeLessThan(distance(0));
  });
});

describe('federatedAverage', () => {
  it('weighs each model by its rows, from the sum of the weighted contributions', () => {
    const average = federatedAverage([
      { model: [1, 2], rows: 100 },
      { model: [4, -1], rows: 300 },
    ]);
    expect(Array.from(average)).toEqual([3.25, -0.25]);
    expect(Array.from(weightedContribution([1, 2], 100))).toEqual([100, 200, 100]);
    expect(() => averageOfSum([0, 0, 0])).toThrow(RangeError);
  });
});

describe('splitClients', () => {
  const labels = Float64Array.from({ length: 5000 }, (_, i) => (i % 5 === 0 ? 1 : 0));

  it.each(['iid', 'non-iid'] as const)(
    '%s: every row goes to exactly one client, each with enough rows',
    (split) => {
      const parts = splitClients(labels, { clients: 8, split, seed: 3 });
      const all = parts.flatMap((p) => Array.from(p)).sort((a, b) => a - b);
      expect(all).toEqual(Array.from({ length: 5000 }, (_, i) => i));
      expect(Math.min(...parts.map((p) => p.length))).toBeGreaterThanOrEqual(20);
    },
  );

  it('non-iid skews the clients’ default rates; iid keeps them', () => {
    const spread = (split: 'iid' | 'non-iid') => {
      const rates = splitClients(labels, { clients: 8, split, seed: 4 }).map(
        (p) => Array.from(p).reduce((a, i) => a + (labels[i] as number), 0) / p.length,
      );
      return Math.max(...rates) - Math.min(...rates);
    };
    // 625 rows a client: the rates' standard error is 0.016.
    expect(spread('iid')).toBeLessThan(0.1);
    expect(spread('non-iid')).toBeGreaterThan(0.3);
  });

  it('draws Dirichlet(α) shares with the right mean and variance', () => {
    const rng = new Rng(11);
    const k = 4;
    const alpha = 0.5;
    const first = Array.from({ length: 20_000 }, () => dirichlet(k, alpha, rng)[0] as number);
    const mean = first.reduce((a, b) => a + b, 0) / first.length;
    const variance = first.reduce((a, b) => a + (b - mean) ** 2, 0) / first.length;
    // Marginal Beta(α, (k−1)α): mean 1/k, variance (1/k)(1 − 1/k)/(kα + 1).
    expect(mean).toBeCloseTo(1 / k, 2);
    expect(variance).toBeCloseTo(((1 / k) * (1 - 1 / k)) / (k * alpha + 1), 2);
  });
});
