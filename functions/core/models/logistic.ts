/**
 * L2-regularised logistic regression fitted by Newton's method with a backtracking line search.
 * It minimises the same objective as scikit-learn's `LogisticRegression(C)`:
 * Σ wᵢ·logloss(yᵢ, σ(xᵢ·β + b)) + ‖β‖² / (2C), the intercept unpenalised. Newton converges in a
 * handful of iterations for the tens of features of tabular models, each one pass over the
 * data plus a (d+1)² Cholesky solve.
 */
import { ValidationError } from '../../kernel/errors.ts';
import { choleskySolve, type Matrix, sigmoid } from '../linalg.ts';

export interface LogisticOptions {
  /** Inverse regularisation strength, as in scikit-learn. @default 1 */
  readonly C?: number;
  /** Per-row weights. @default all 1 */
  readonly sampleWeight?: ArrayLike<number>;
  /** `balanced` weighs each class by n / (2·count), as scikit-learn; or explicit weights. @default none */
  readonly classWeight?: 'balanced' | { readonly 0: number; readonly 1: number };
  /** @default 100 */
  readonly maxIterations?: number;
  /** Stop when the largest gradient component, relative to the weight total, is below this. @default 1e-10 */
  readonly tolerance?: number;
}

export interface LogisticModel {
  readonly kind: 'logistic';
  readonly coefficients: Float64Array;
  readonly intercept: number;
  readonly iterations: number;
  readonly converged: boolean;
}

/** Rows per tile of the Gram matrix: each column's slice of a tile stays in cache. */
const TILE = 1024;

/**
 * Xᵀ·diag(c)·X with an intercept column of ones, as a full (d+1)² matrix, from X's columns.
 * No BLAS in JavaScript, so by hand: the rows go in tiles small enough for the columns' slices
 * to stay in cache while every cell's dot product runs over them (memory bandwidth, not
 * arithmetic, bounded the untiled loops), four cells per pass sharing each load of c·xⱼ.
 */
function weightedGram(
  columns: readonly Float64Array[],
  c: Float64Array,
  scaled: Float64Array[],
  tileStride = 1,
): Float64Array {
  const d = columns.length;
  const m = d + 1;
  const n = c.length;
  const out = new Float64Array(m * m);
  for (let start = 0; start < n; start += TILE * tileStride) {
    const end = Math.min(n, start + TILE);
    for (let j = 0; j < d; j++) {
      const x = columns[j] as Float64Array;
      const a = scaled[j] as Float64Array;
      let sum = 0;
      for (let i = start; i < end; i++) {
        const v = (c[i] as number) * (x[i] as number);
        a[i - start] = v;
        sum += v;
      }
      out[d * m + j] = (out[d * m + j] as number) + sum;
    }
    let sum = 0;
    for (let i = start; i < end; i++) sum += c[i] as number;
    out[d * m + d] = (out[d * m + d] as number) + sum;
    for (let j = 0; j < d; j++) {
      const a = scaled[j] as Float64Array;
      const row = j * m;
      let k = 0;
      for (; k + 3 <= j; k += 4) {
        const x0 = columns[k] as Float64Array;
        const x1 = columns[k + 1] as Float64Array;
        const x2 = columns[k + 2] as Float64Array;
        const x3 = columns[k + 3] as Float64Array;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let i = start; i < end; i++) {
          const ai = a[i - start] as number;
          s0 += ai * (x0[i] as number);
          s1 += ai * (x1[i] as number);
          s2 += ai * (x2[i] as number);
          s3 += ai * (x3[i] as number);
        }
        out[row + k] = (out[row + k] as number) + s0;
        out[row + k + 1] = (out[row + k + 1] as number) + s1;
        out[row + k + 2] = (out[row + k + 2] as number) + s2;
        out[row + k + 3] = (out[row + k + 3] as number) + s3;
      }
      for (; k <= j; k++) {
        const x = columns[k] as Float64Array;
        let s0 = 0;
        for (let i = start; i < end; i++) s0 += (a[i - start] as number) * (x[i] as number);
        out[row + k] = (out[row + k] as number) + s0;
      }
    }
  }
  // Mirror: the lower triangle and the intercept row hold the sums.
  for (let j = 0; j < m; j++) for (let k = j + 1; k < m; k++) out[j * m + k] = out[k * m + j] as number;
  if (tileStride > 1) {
    // Scale the sampled tiles' sums up to the whole data's curvature.
    let all = 0;
    for (let i = 0; i < n; i++) all += c[i] as number;
    const factor = all / (out[d * m + d] as number);
    for (let q = 0; q < out.length; q++) out[q] = (out[q] as number) * factor;
  }
  return out;
}

/**
 * Loss, gradient and (into `curvature`) the Hessian's row weights at t, in one pass: a line
 * search's accepted point is the next iteration's starting point, never recomputed. Top level
 * with every array passed in, so V8 keeps them in registers, and one exp per row serves both
 * log(1 + e^z) and σ(z).
 */
function lossAndGradient(
  data: ArrayLike<number>,
  n: number,
  d: number,
  weights: Float64Array,
  y: ArrayLike<number>,
  t: Float64Array,
  C: number,
  curvature: Float64Array,
): { loss: number; gradient: Float64Array } {
  let loss = 0;
  const gradient = new Float64Array(d + 1);
  const intercept = t[d] as number;
  for (let i = 0; i < n; i++) {
    let z = intercept;
    const row = i * d;
    for (let j = 0; j < d; j++) z += (data[row + j] as number) * (t[j] as number);
    const w = weights[i] as number;
    const yi = y[i] as number;
    // e = e^-|z|: softplus(z) = max(z, 0) + log1p(e); σ(z) = 1/(1+e) for z ≥ 0, e/(1+e) below.
    const e = Math.exp(-Math.abs(z));
    const p = z >= 0 ? 1 / (1 + e) : e / (1 + e);
    loss += w * (Math.max(z, 0) + Math.log1p(e) - yi * z);
    const r = w * (p - yi);
    curvature[i] = w * p * (1 - p);
    for (let j = 0; j < d; j++) gradient[j] = (gradient[j] as number) + r * (data[row + j] as number);
    gradient[d] = (gradient[d] as number) + r;
  }
  for (let j = 0; j < d; j++) {
    loss += (t[j] as number) ** 2 / (2 * C);
    gradient[j] = (gradient[j] as number) + (t[j] as number) / C;
  }
  return { loss, gradient };
}

export function fitLogistic(x: Matrix, y: ArrayLike<number>, options: LogisticOptions = {}): LogisticModel {
  const { rows: n, cols: d, data } = x;
  const C = options.C ?? 1;
  if (!(C > 0))
    throw new ValidationError('Invalid regularisation', [{ path: 'C', message: `must be > 0, got ${C}` }]);
  if (y.length !== n)
    throw new ValidationError('Invalid labels', [{ path: 'y', message: `${y.length} labels for ${n} rows` }]);
  const weights = new Float64Array(n);
  let positives = 0;
  for (let i = 0; i < n; i++) positives += y[i] === 1 ? 1 : 0;
  const classWeight =
    options.classWeight === 'balanced'
      ? { 0: n / (2 * (n - positives)), 1: n / (2 * positives) }
      : (options.classWeight ?? { 0: 1, 1: 1 });
  for (let i = 0; i < n; i++) {
    weights[i] = (options.sampleWeight?.[i] ?? 1) * (y[i] === 1 ? classWeight[1] : classWeight[0]);
  }
  const totalWeight = weights.reduce((a, b) => a + b, 0);
  const tolerance = options.tolerance ?? 1e-10;
  const m = d + 1; // coefficients then intercept
  const theta = new Float64Array(m);
  // Start from the (weighted) base rate's log-odds: one Newton step fewer on typical data.
  let weightedPositives = 0;
  for (let i = 0; i < n; i++) weightedPositives += (weights[i] as number) * (y[i] as number);
  const baseRate = weightedPositives / totalWeight;
  if (baseRate > 0 && baseRate < 1) theta[d] = Math.log(baseRate / (1 - baseRate));

  const curvature = new Float64Array(n); // per-row weight of the Hessian, w·p·(1-p)
  const evaluate = (t: Float64Array) => lossAndGradient(data, n, d, weights, y, t, C, curvature);

  let iterations = 0;
  let converged = false;
  // X's columns, copied in blocks of rows small enough that the strided reads stay in cache
  // (a column at a time over all rows was 13 % of the fit).
  const columns = Array.from({ length: d }, () => new Float64Array(n));
  for (let start = 0; start < n; start += TILE) {
    const end = Math.min(n, start + TILE);
    for (let j = 0; j < d; j++) {
      const column = columns[j] as Float64Array;
      for (let i = start, k = start * d + j; i < end; i++, k += d) column[i] = data[k] as number;
    }
  }
  const scaled = Array.from({ length: d }, () => new Float64Array(TILE));
  let state = evaluate(theta);
  for (; iterations < (options.maxIterations ?? 100); iterations++) {
    const { gradient } = state;
    const largest = gradient.reduce((a, g) => Math.max(a, Math.abs(g)), 0);
    if (largest / totalWeight < tolerance) {
      converged = true;
      break;
    }
    // Far from the optimum any positive-definite curvature gives a descent direction, so the
    // Hessian comes from every 8th tile of rows (subsampled Newton); near it, from all rows,
    // for Newton's quadratic convergence. The stopping test always uses the exact gradient.
    const far = largest / totalWeight > 1e-3 && n >= 16 * 1024;
    const hessian = weightedGram(columns, curvature, scaled, far ? 8 : 1);
    for (let j = 0; j < d; j++) hessian[j * m + j] = (hessian[j * m + j] as number) + 1 / C;

    const step = choleskySolve(hessian, gradient, m);
    // Backtracking (Armijo) line search along the Newton direction.
    const decrease = step.reduce((a, s, j) => a + s * (gradient[j] as number), 0);
    let t = 1;
    let next = theta.map((v, j) => v - t * (step[j] as number));
    let candidate = evaluate(next);
    while (candidate.loss > state.loss - 1e-4 * t * decrease && t > 1e-10) {
      t /= 2;
      next = theta.map((v, j) => v - t * (step[j] as number));
      candidate = evaluate(next);
    }
    theta.set(next);
    const improvement = state.loss - candidate.loss;
    state = candidate;
    if (improvement <= 1e-15 * Math.max(1, Math.abs(state.loss))) {
      converged = true;
      iterations++;
      break;
    }
  }
  return {
    kind: 'logistic',
    coefficients: theta.slice(0, d),
    intercept: theta[d] as number,
    iterations,
    converged,
  };
}

/** The margin (log-odds) of class 1 for each row. */
export function logisticMargins(model: LogisticModel, x: Matrix): Float64Array {
  const { rows: n, cols: d, data } = x;
  if (d !== model.coefficients.length)
    throw new RangeError(`model has ${model.coefficients.length} features, input has ${d}`);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let z = model.intercept;
    for (let j = 0; j < d; j++) z += (data[i * d + j] as number) * (model.coefficients[j] as number);
    out[i] = z;
  }
  return out;
}

/** Probability of class 1 for each row. */
export function predictLogistic(model: LogisticModel, x: Matrix): Float64Array {
  return logisticMargins(model, x).map(sigmoid);
}

/**
 * Wald standard errors of a (barely regularised) fit's intercept-free coefficients, from the
 * Fisher information Σ p(1 − p) z zᵀ with z = (1, x): what tests of the coefficients need.
 */
export function logisticStandardErrors(model: LogisticModel, x: Matrix): Float64Array {
  const { rows: n, cols: d, data } = x;
  const p = d + 1;
  const info = new Float64Array(p * p);
  const z = new Float64Array(p);
  for (let i = 0; i < n; i++) {
    z[0] = 1;
    let margin = model.intercept;
    for (let j = 0; j < d; j++) {
      z[j + 1] = data[i * d + j] as number;
      margin += (model.coefficients[j] as number) * (data[i * d + j] as number);
    }
    const q = sigmoid(margin);
    const w = q * (1 - q);
    for (let a = 0; a < p; a++)
      for (let b = 0; b <= a; b++)
        info[a * p + b] = (info[a * p + b] as number) + w * (z[a] as number) * (z[b] as number);
  }
  for (let a = 0; a < p; a++) {
    for (let b = a + 1; b < p; b++) info[a * p + b] = info[b * p + a] as number;
    info[a * p + a] = (info[a * p + a] as number) + 1e-9; // a column that never varies
  }
  return Float64Array.from({ length: d }, (_, j) => {
    const unit = new Float64Array(p);
    unit[j + 1] = 1;
    return Math.sqrt(Math.max(0, choleskySolve(info.slice(), unit, p)[j + 1] as number));
  });
}
