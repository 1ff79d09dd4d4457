/**
 * Exact samplers of the discrete Laplace and discrete Gaussian distributions (Canonne, Kamath
 * & Steinke 2020, "The Discrete Gaussian for Differential Privacy", Algorithms 1–3), for noisy
 * counts: the drift check's and the outcome metrics' private releases (#18). Floating-point
 * samplers leak through the gaps of their output (Mironov 2012); these draw integers by exact
 * rational arithmetic (BigInt) from a uniform-integer source, cryptographic by default.
 *
 * - Bernoulli(e^−γ) for rational γ ≥ 0, by the alternating series (γ ≤ 1) and by splitting off
 *   e^−1 factors (γ > 1): Algorithm 1;
 * - the discrete Laplace, P(y) ∝ e^(−|y|/t) for integer t ≥ 1, by a geometric on multiples of t
 *   and a uniform remainder: Algorithm 2;
 * - the discrete Gaussian, P(y) ∝ e^(−y²/2σ²) for rational σ², by rejection from the discrete
 *   Laplace with t = ⌊σ⌋ + 1: Algorithm 3.
 *
 * A count of sensitivity Δ released with discrete Gaussian noise of variance parameter σ² is
 * (Δ²/2σ²)-concentrated DP (their Theorem 4), so its RDP at order α is αΔ²/(2σ²): what the
 * accountant composes.
 */
import { randomBytes } from 'node:crypto';
import { gaussianPair, type Rng } from '../random.ts';

/** Uniform integers: `below(n)` is uniform on 0, …, n − 1. */
export interface UniformSource {
  below(n: bigint): bigint;
}

/** The cryptographic source: rejection sampling on `node:crypto` bytes (no modulo bias). */
export const cryptoSource: UniformSource = {
  below(n: bigint): bigint {
    if (n <= 0n) throw new RangeError(`n must be positive, got ${n}`);
    if (n === 1n) return 0n;
    const bits = (n - 1n).toString(2).length;
    const bytes = Math.ceil(bits / 8);
    const mask = (1n << BigInt(bits)) - 1n;
    for (;;) {
      let v = 0n;
      for (const b of randomBytes(bytes)) v = (v << 8n) | BigInt(b);
      v &= mask;
      if (v < n) return v;
    }
  },
};

/** Uniform floats and normals: what DP-SGD draws its batches and noise from. */
export interface RandomSource {
  /** Uniform on [0, 1). */
  uniform(): number;
  normal(mean?: number, sd?: number): number;
}

/**
 * Floats from `node:crypto` bytes: 53 random bits a uniform (bytes fetched 4 KiB at a time),
 * normals by Box–Muller, both values used.
 */
export function cryptoRandom(): RandomSource {
  let pool = new Uint8Array(0);
  let at = 0;
  let spare: number | undefined;
  const uniform = () => {
    if (at + 7 > pool.length) {
      pool = new Uint8Array(randomBytes(4096));
      at = 0;
    }
    // 53 bits: 21 from the first three bytes' top, 32 from the next four.
    const hi =
      ((pool[at] as number) << 13) | ((pool[at + 1] as number) << 5) | ((pool[at + 2] as number) >>> 3);
    const lo =
      (((pool[at + 3] as number) << 24) >>> 0) +
      ((pool[at + 4] as number) << 16) +
      ((pool[at + 5] as number) << 8) +
      (pool[at + 6] as number);
    at += 7;
    return (hi * 2 ** 32 + lo) / 2 ** 53;
  };
  return {
    uniform,
    normal(mean = 0, sd = 1) {
      if (spare !== undefined) {
        const value = spare;
        spare = undefined;
        return mean + sd * value;
      }
      const [first, second] = gaussianPair(uniform);
      spare = second;
      return mean + sd * first;
    },
  };
}

/** A seeded source over Keel's generator, for reproducible tests (not for releases). */
export function seededSource(rng: Rng): UniformSource {
  return {
    below(n: bigint): bigint {
      if (n <= 0n) throw new RangeError(`n must be positive, got ${n}`);
      if (n <= 2n ** 31n) return BigInt(rng.int(0, Number(n) - 1));
      // Larger: 30-bit digits, then rejection.
      const bits = (n - 1n).toString(2).length;
      for (;;) {
        let v = 0n;
        for (let got = 0; got < bits; got += 30) v = (v << 30n) | BigInt(rng.int(0, 2 ** 30 - 1));
        v &= (1n << BigInt(bits)) - 1n;
        if (v < n) return v;
      }
    },
  };
}

/** Bernoulli(p/q) for integers 0 ≤ p ≤ q. */
function bernoulliRational(p: bigint, q: bigint, source: UniformSource): boolean {
  return source.below(q) < p;
}

/** Bernoulli(e^−γ) for γ = n/d ≥ 0 (Algorithm 1). */
export function bernoulliExp(n: bigint, d: bigint, source: UniformSource = cryptoSource): boolean {
  if (n < 0n || d <= 0n) throw new RangeError(`γ = ${n}/${d} must be ≥ 0`);
  if (n <= d) {
    // γ ≤ 1: the first K with A_K = 0 (A_k ~ Bernoulli(γ/k)) is odd with probability e^−γ.
    let k = 1n;
    while (bernoulliRational(n, d * k, source)) k += 1n;
    return k % 2n === 1n;
  }
  for (let i = 0n; i < n / d; i++) if (!bernoulliExp(1n, 1n, source)) return false;
  return bernoulliExp(n % d, d, source);
}

/** The discrete Laplace with scale t (an integer ≥ 1): P(y) ∝ e^(−|y|/t) (Algorithm 2). */
export function sampleDiscreteLaplace(t: bigint, source: UniformSource = cryptoSource): bigint {
  if (t < 1n) throw new RangeError(`the scale must be an integer ≥ 1, got ${t}`);
  for (;;) {
    const u = source.below(t);
    if (!bernoulliExp(u, t, source)) continue;
    let v = 0n;
    while (bernoulliExp(1n, 1n, source)) v += 1n;
    const magnitude = u + t * v;
    const negative = source.below(2n) === 1n;
    if (negative && magnitude === 0n) continue;
    return negative ? -magnitude : magnitude;
  }
}

/**
 * The discrete Gaussian with variance parameter σ² = num/den (rational, > 0):
 * P(y) ∝ e^(−y²/2σ²) (Algorithm 3).
 */
export function sampleDiscreteGaussian(
  num: bigint,
  den: bigint,
  source: UniformSource = cryptoSource,
): bigint {
  if (num <= 0n || den <= 0n) throw new RangeError(`σ² = ${num}/${den} must be positive`);
  // t = ⌊σ⌋ + 1, with ⌊σ⌋ the integer square root of ⌊σ²⌋ (exact: no floating point).
  const floorSquare = num / den;
  let root = BigInt(Math.floor(Math.sqrt(Number(floorSquare))));
  while (root * root > floorSquare) root -= 1n;
  while ((root + 1n) * (root + 1n) <= floorSquare) root += 1n;
  const t = root + 1n;
  for (;;) {
    const y = sampleDiscreteLaplace(t, source);
    const a = y < 0n ? -y : y;
    // γ = (|y| − σ²/t)² / (2σ²) = (|y|·den·t − num)² / (2·num·den·t²)
    const diff = a * den * t - num;
    if (bernoulliExp(diff * diff, 2n * num * den * t * t, source)) return y;
  }
}

/** A rational close to a positive number (9 significant digits), for the samplers' σ². */
export function rationalOf(x: number): { num: bigint; den: bigint } {
  if (!(x > 0) || !Number.isFinite(x)) throw new RangeError(`expected a finite number > 0, got ${x}`);
  const den = 10n ** 9n;
  const num = BigInt(Math.round(x * 1e9));
  return { num: num > 0n ? num : 1n, den };
}

/** RDP at `order` of a count of sensitivity Δ released with discrete Gaussian noise σ² (Theorem 4). */
export function rdpDiscreteGaussian(sigma: number, sensitivity: number, order: number): number {
  if (!(sigma > 0)) throw new RangeError(`σ must be > 0, got ${sigma}`);
  return (order * sensitivity * sensitivity) / (2 * sigma * sigma);
}
