/**
 * Seeded randomness for everything that must be reproducible (synthetic data, splits,
 * bootstrap, subsampling). Built on pure-rand's xoroshiro128+; the only hand-written part is
 * the Box-Muller transform for normal draws.
 */
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

/** Two independent standard normals from uniforms on [0, 1) (Box–Muller). */
export function gaussianPair(uniform: () => number): [number, number] {
  let u = 0;
  while (u === 0) u = uniform();
  const v = uniform();
  const radius = Math.sqrt(-2 * Math.log(u));
  return [radius * Math.cos(2 * Math.PI * v), radius * Math.sin(2 * Math.PI * v)];
}

export class Rng {
  readonly #generator: ReturnType<typeof xoroshiro128plus>;
  #spareNormal: number | undefined;

  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
    this.#generator = xoroshiro128plus(seed);
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return uniformFloat64(this.#generator);
  }

  /** Uniform integer in [min, max], both included. */
  int(min: number, max: number): number {
    return uniformInt(this.#generator, min, max);
  }

  /** Standard normal (Box-Muller, both values used). */
  normal(mean = 0, sd = 1): number {
    if (this.#spareNormal !== undefined) {
      const spare = this.#spareNormal;
      this.#spareNormal = undefined;
      return mean + sd * spare;
    }
    const [first, second] = gaussianPair(() => this.uniform());
    this.#spareNormal = second;
    return mean + sd * first;
  }

  bernoulli(p: number): boolean {
    return this.uniform() < p;
  }

  /** An index drawn with probability proportional to `weights`. */
  weighted(weights: readonly number[]): number {
    const total = weights.reduce((a, b) => a + b, 0);
    let r = this.uniform() * total;
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i] as number;
      if (r < 0) return i;
    }
    return weights.length - 1;
  }

  /** A permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(0, i);
      const tmp = order[i] as number;
      order[i] = order[j] as number;
      order[j] = tmp;
    }
    return order;
  }
}
