/**
 * DP-SGD for logistic regression (Abadi et al. 2016, "Deep Learning with Differential
 * Privacy"), as Opacus runs it:
 *
 * - **Poisson sampling**: each step's batch takes every row independently with probability q
 *   (what the accountant's sampled Gaussian mechanism assumes; a shuffled fixed-size batch would
 *   need another analysis), so a batch's size varies and may be empty;
 * - **per-example clipping**: each row's gradient of the log loss over (coefficients, intercept)
 *   is scaled to norm at most C;
 * - **noise**: the clipped sum gets N(0, σ²C²) on every coordinate, and is divided by the
 *   *expected* batch size q·n (dividing by the drawn size would leak it);
 * - **update**: plain gradient descent with a data-independent L2 penalty, from zero.
 *
 * The gradient of one row is (p − y)·(x, 1), so its norm is |p − y|·√(‖x‖² + 1): clipping needs no
 * per-example backward pass. The privacy guarantee is the accountant's: `steps` compositions of
 * the sampled Gaussian mechanism at (q, σ), whatever C, η or λ are.
 *
 * The batches and the noise come from a cryptographic generator by default, as Opacus's "secure
 * mode": with a seeded generator and its seed in the manifest, anyone could regenerate the noise
 * and subtract it, and the guarantee would be void. A seed makes a run reproducible, for tests
 * and benchmarks only. The noise is still floating point (Box–Muller), as Opacus's is; an exact
 * sampler (see discrete.ts) is what integer releases use.
 */
import { type Matrix, sigmoid } from '../linalg.ts';
import type { LogisticModel } from '../models/logistic.ts';
import { Rng } from '../random.ts';
import { cryptoRandom, type RandomSource } from './discrete.ts';

export interface DpSgdOptions {
  /** C: the largest norm a row's gradient keeps. */
  readonly clip: number;
  /** σ: the noise's standard deviation over C. */
  readonly noiseMultiplier: number;
  /** q: each row's chance of being in a step's batch. */
  readonly sampleRate: number;
  readonly steps: number;
  /** η. @default 1 */
  readonly learningRate?: number;
  /** λ of the L2 penalty λ‖β‖²/2 (not on the intercept). @default 1e-4 */
  readonly l2?: number;
  /** Reproducible batches and noise, for tests and benchmarks only. @default a cryptographic generator */
  readonly seed?: number;
  /** Called after each step (tests read the noise and clipping through it). */
  readonly onStep?: (step: {
    readonly index: number;
    readonly batch: number;
    /** The clipped sum before noise, and the noise added, over (coefficients, intercept). */
    readonly clippedSum: Float64Array;
    readonly noise: Float64Array;
  }) => void;
}

export interface DpSgdResult {
  readonly model: LogisticModel;
  /** Rows drawn per step, on average (q·n in expectation). */
  readonly meanBatch: number;
  /** Share of row gradients that were clipped. */
  readonly clippedShare: number;
}

export function dpSgdLogistic(x: Matrix, y: ArrayLike<number>, options: DpSgdOptions): DpSgdResult {
  const { rows: n, cols: d } = x;
  const { clip, noiseMultiplier: sigma, sampleRate: q, steps } = options;
  if (y.length !== n) throw new RangeError(`${y.length} labels for ${n} rows`);
  if (!(clip > 0) || !Number.isFinite(clip))
    throw new RangeError(`clip must be a finite number > 0, got ${clip}`);
  if (!(sigma >= 0) || !Number.isFinite(sigma))
    throw new RangeError(`noise multiplier must be a finite number ≥ 0, got ${sigma}`);
  if (!(q > 0 && q <= 1)) throw new RangeError(`sample rate must be in (0, 1], got ${q}`);
  if (!(Number.isInteger(steps) && steps >= 1))
    throw new RangeError(`steps must be a whole number ≥ 1, got ${steps}`);
  const eta = options.learningRate ?? 1;
  const l2 = options.l2 ?? 1e-4;
  const rng: RandomSource = options.seed === undefined ? cryptoRandom() : new Rng(options.seed);
  const beta = new Float64Array(d);
  let intercept = 0;
  const sum = new Float64Array(d + 1);
  const noise = new Float64Array(d + 1);
  const expected = q * n;
  let drawn = 0;
  let clipped = 0;
  for (let t = 0; t < steps; t++) {
    sum.fill(0);
    let batch = 0;
    for (let i = 0; i < n; i++) {
      if (!(q === 1 || rng.uniform() < q)) continue;
      batch++;
      let margin = intercept;
      let squared = 1; // the intercept's input
      for (let j = 0; j < d; j++) {
        const v = x.data[i * d + j] as number;
        margin += (beta[j] as number) * v;
        squared += v * v;
      }
      const residual = sigmoid(margin) - (y[i] as number);
      const norm = Math.abs(residual) * Math.sqrt(squared);
      const scale = norm > clip ? clip / norm : 1;
      if (norm > clip) clipped++;
      const r = residual * scale;
      for (let j = 0; j < d; j++) sum[j] = (sum[j] as number) + r * (x.data[i * d + j] as number);
      sum[d] = (sum[d] as number) + r;
    }
    for (let k = 0; k <= d; k++) noise[k] = sigma > 0 ? rng.normal(0, sigma * clip) : 0;
    options.onStep?.({ index: t, batch, clippedSum: sum, noise });
    for (let j = 0; j < d; j++)
      beta[j] =
        (beta[j] as number) -
        eta * (((sum[j] as number) + (noise[j] as number)) / expected + l2 * (beta[j] as number));
    intercept -= (eta * ((sum[d] as number) + (noise[d] as number))) / expected;
    drawn += batch;
  }
  return {
    model: { kind: 'logistic', coefficients: beta, intercept, iterations: steps, converged: true },
    meanBatch: drawn / steps,
    clippedShare: drawn > 0 ? clipped / drawn : 0,
  };
}
