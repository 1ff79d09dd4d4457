/**
 * KernelSHAP (Lundberg & Lee 2017, "A unified approach to interpreting model predictions"):
 * Shapley values of any scorer, as the weighted least-squares fit of an additive model to the
 * values of coalitions, each weighted by the Shapley kernel
 * k(S) = (M − 1) / (C(M, |S|)·|S|·(M − |S|)). The empty and the full coalition are constraints
 * (φ₀ = v(∅), Σφ = v(N) − v(∅)), eliminated before the solve. With a budget of at least
 * 2^M − 2 coalitions every one is evaluated and the result is the exact Shapley value; below
 * it, coalition sizes are drawn with the kernel's weight per size, each with its complement
 * (paired sampling, which cancels the odd terms of the error).
 *
 * The game is the caller's: `value` receives the coalitions (a row of M 0/1 flags each, 1 for
 * "the player takes x's value") and returns v(S) for each, in one batch, so a caller can score
 * every coalition × background row in one model run.
 *
 * The coalitions, their weights and the normal equations' matrix depend on M, the budget and
 * the seed only, never on the row: {@link kernelDesign} draws and factors them once, and
 * {@link solveKernel} fits each row's values with one back-substitution. Explaining many rows,
 * the per-row cost is the scorer's and little else.
 */
import { cholesky, choleskyBackSolve } from '../linalg.ts';
import { Rng } from '../random.ts';

export interface KernelShapOptions {
  /** Coalitions to evaluate besides the empty and full ones. @default 2·M + 2048, as shap */
  readonly samples?: number;
  /** @default 0 */
  readonly seed?: number;
}

export interface KernelShapResult {
  /** v(∅): the expected output with no player from x. */
  readonly baseValue: number;
  /** One per player; `baseValue + Σ values = v(N)`. */
  readonly values: Float64Array;
  /** v(N). */
  readonly output: number;
  /** Whether every coalition was evaluated (the values are exact Shapley values). */
  readonly exact: boolean;
  readonly coalitions: number;
}

/** C(n, k) as a float (exact for the small n of tabular models). */
function binomial(n: number, k: number): number {
  let out = 1;
  for (let i = 1; i <= k; i++) out = (out * (n - k + i)) / i;
  return out;
}

/** The coalitions of one KernelSHAP fit and its factored normal equations: shared by every row. */
export interface KernelDesign {
  readonly players: number;
  /** `count` rows of `players` 0/1 flags: the empty coalition first, then the full one. */
  readonly coalitions: Uint8Array;
  readonly count: number;
  /** Whether every coalition is in (the fit is the exact Shapley value). */
  readonly exact: boolean;
  /** Kernel weight per coalition (the first two, the constraints, weigh 0). */
  readonly weights: Float64Array;
  /** Cholesky factor of the (M − 1)² normal equations after eliminating φ_M. */
  readonly factor: Float64Array;
}

/** Draws the coalitions (all of them when the budget allows) and factors their design. */
export function kernelDesign(players: number, options: KernelShapOptions = {}): KernelDesign {
  const M = players;
  if (!Number.isInteger(M) || M < 1) throw new RangeError(`players must be a positive integer, got ${M}`);
  const budget = options.samples ?? 2 * M + 2048;
  if (!Number.isInteger(budget) || budget < 1)
    throw new RangeError(`samples must be a positive integer, got ${options.samples}`);
  const all = 2 ** M - 2;
  const exact = M <= 30 && budget >= all;

  // The coalitions and their weights, the empty and full ones first.
  const masks: Uint8Array[] = [new Uint8Array(M), new Uint8Array(M).fill(1)];
  const weights: number[] = [0, 0];
  if (exact) {
    for (let bits = 1; bits <= all; bits++) {
      const mask = new Uint8Array(M);
      let size = 0;
      for (let j = 0; j < M; j++)
        if (bits & (1 << j)) {
          mask[j] = 1;
          size++;
        }
      masks.push(mask);
      weights.push((M - 1) / (binomial(M, size) * size * (M - size)));
    }
  } else {
    // Sizes drawn with the kernel's total weight per size, ∝ (M − 1)/(s·(M − s)); the subset
    // uniform among those of its size; each kept with its complement. Each draw weighs 1:
    // the sampling already follows the kernel.
    const rng = new Rng(options.seed ?? 0);
    const sizeWeights = Array.from({ length: M - 1 }, (_, k) => (M - 1) / ((k + 1) * (M - k - 1)));
    const seen = new Map<number | string, number>();
    // A coalition keys the map as a number (its bits, exact below 2^53): far cheaper than a string.
    const power = Float64Array.from({ length: M }, (_, j) => 2 ** j);
    const keyOf = (m: Uint8Array): number | string => {
      if (M > 52) return m.join('');
      let key = 0;
      for (let j = 0; j < M; j++) if (m[j] === 1) key += power[j] as number;
      return key;
    };
    const add = (m: Uint8Array) => {
      const key = keyOf(m);
      const at = seen.get(key);
      if (at !== undefined) weights[at] = (weights[at] as number) + 1;
      else {
        seen.set(key, masks.length);
        masks.push(m);
        weights.push(1);
      }
    };
    for (let drawn = 0; drawn + 2 <= budget; drawn += 2) {
      const size = rng.weighted(sizeWeights) + 1;
      const order = rng.permutation(M);
      const mask = new Uint8Array(M);
      const complement = new Uint8Array(M).fill(1);
      for (let k = 0; k < size; k++) {
        mask[order[k] as number] = 1;
        complement[order[k] as number] = 0;
      }
      add(mask);
      add(complement);
    }
  }

  const count = masks.length;
  const flat = new Uint8Array(count * M);
  masks.forEach((m, k) => {
    flat.set(m, k * M);
  });
  // Eliminate φ_M = total − Σ_{j<M} φ_j: the regressors are z_j − z_M.
  const p = M - 1;
  const gram = new Float64Array(Math.max(1, p * p));
  for (let k = 2; k < count; k++) {
    const w = weights[k] as number;
    const zM = flat[k * M + M - 1] as number;
    for (let a = 0; a < p; a++) {
      const wa = w * ((flat[k * M + a] as number) - zM);
      if (wa === 0) continue;
      for (let b = 0; b <= a; b++)
        gram[a * p + b] = (gram[a * p + b] as number) + wa * ((flat[k * M + b] as number) - zM);
    }
  }
  for (let a = 0; a < p; a++) for (let b = a + 1; b < p; b++) gram[a * p + b] = gram[b * p + a] as number;
  // A tiny ridge keeps a sampled design that missed some player pair solvable.
  if (!exact) for (let a = 0; a < p; a++) gram[a * p + a] = (gram[a * p + a] as number) + 1e-10;
  return {
    players: M,
    coalitions: flat,
    count,
    exact,
    weights: Float64Array.from(weights),
    factor: p > 0 ? cholesky(gram, p) : new Float64Array(0),
  };
}

/** One row's Shapley values from v(S) of each of the design's coalitions, in their order. */
export function solveKernel(design: KernelDesign, v: ArrayLike<number>): KernelShapResult {
  const { players: M, coalitions: flat, count, weights, exact } = design;
  if (v.length !== count) throw new RangeError(`value returned ${v.length} results for ${count} coalitions`);
  const empty = v[0] as number;
  const full = v[1] as number;
  const total = full - empty;
  if (M === 1)
    return { baseValue: empty, values: Float64Array.of(total), output: full, exact: true, coalitions: count };
  // Regress v(S) − v(∅) − z_M·total on z_j − z_M.
  const p = M - 1;
  const rhs = new Float64Array(p);
  for (let k = 2; k < count; k++) {
    const zM = flat[k * M + M - 1] as number;
    const target = (weights[k] as number) * ((v[k] as number) - empty - zM * total);
    for (let a = 0; a < p; a++) {
      const d = (flat[k * M + a] as number) - zM;
      if (d !== 0) rhs[a] = (rhs[a] as number) + d * target;
    }
  }
  const solved = choleskyBackSolve(design.factor, rhs, p);
  const values = new Float64Array(M);
  let sum = 0;
  for (let j = 0; j < p; j++) {
    values[j] = solved[j] as number;
    sum += solved[j] as number;
  }
  values[M - 1] = total - sum;
  return { baseValue: empty, values, output: full, exact, coalitions: count };
}

/** KernelSHAP of one row: the design, the caller's values of its coalitions, the fit. */
export async function kernelShap(
  players: number,
  value: (coalitions: Uint8Array, count: number) => Promise<ArrayLike<number>>,
  options: KernelShapOptions = {},
): Promise<KernelShapResult> {
  const design = kernelDesign(players, options);
  return solveKernel(design, await value(design.coalitions, design.count));
}
