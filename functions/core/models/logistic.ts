/**
 * L2-regularised logistic regression fitted by Newton's method with a backtracking line search.
 * It minimises the same objective as scikit-learn's `LogisticRegression(C)`:
 * Σ wᵢ·logloss(yᵢ, σ(xᵢ·β + b)) + ‖β‖² / (2C), the intercept unpenalised. Newton converges in a
 * handful of iterations for the tens of features of tabular models, each one pass over the
 * data plus a (d+1)² Cholesky solve.
 */
import { ValidationError } from '../../commons/errors.ts';
import { choleskySolve, type Matrix } from '../linalg.ts';

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

const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));
/** log(1 + e^z) without overflow. */
const softplus = (z: number) => (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z)));

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

  const objective = (t: Float64Array) => {
    let loss = 0;
    for (let i = 0; i < n; i++) {
      let z = t[d] as number;
      for (let j = 0; j < d; j++) z += (data[i * d + j] as number) * (t[j] as number);
      loss += (weights[i] as number) * (softplus(z) - (y[i] as number) * z);
    }
    for (let j = 0; j < d; j++) loss += (t[j] as number) ** 2 / (2 * C);
    return loss;
  };

  let iterations = 0;
  let converged = false;
  let current = objective(theta);
  for (; iterations < (options.maxIterations ?? 100); iterations++) {
    const gradient = new Float64Array(m);
    const hessian = new Float64Array(m * m);
    for (let i = 0; i < n; i++) {
      let z = theta[d] as number;
      const row = i * d;
      for (let j = 0; j < d; j++) z += (data[row + j] as number) * (theta[j] as number);
      const p = sigmoid(z);
      const w = weights[i] as number;
      const r = w * (p - (y[i] as number));
      const h = w * p * (1 - p);
      for (let j = 0; j < d; j++) {
        const xj = data[row + j] as number;
        gradient[j] = (gradient[j] as number) + r * xj;
        const hx = h * xj;
        for (let k = 0; k <= j; k++)
          hessian[j * m + k] = (hessian[j * m + k] as number) + hx * (data[row + k] as number);
        hessian[d * m + j] = (hessian[d * m + j] as number) + hx;
      }
      gradient[d] = (gradient[d] as number) + r;
      hessian[d * m + d] = (hessian[d * m + d] as number) + h;
    }
    for (let j = 0; j < d; j++) {
      gradient[j] = (gradient[j] as number) + (theta[j] as number) / C;
      hessian[j * m + j] = (hessian[j * m + j] as number) + 1 / C;
    }
    // Mirror the lower triangle.
    for (let j = 0; j < m; j++)
      for (let k = j + 1; k < m; k++) hessian[j * m + k] = hessian[k * m + j] as number;

    const largest = gradient.reduce((a, g) => Math.max(a, Math.abs(g)), 0);
    if (largest / totalWeight < tolerance) {
      converged = true;
      break;
    }
    const step = choleskySolve(hessian, gradient, m);
    // Backtracking (Armijo) line search along the Newton direction.
    const decrease = step.reduce((a, s, j) => a + s * (gradient[j] as number), 0);
    let t = 1;
    let next = theta.map((v, j) => v - t * (step[j] as number));
    let value = objective(next);
    while (value > current - 1e-4 * t * decrease && t > 1e-10) {
      t /= 2;
      next = theta.map((v, j) => v - t * (step[j] as number));
      value = objective(next);
    }
    theta.set(next);
    const improvement = current - value;
    current = value;
    if (improvement <= 1e-15 * Math.max(1, Math.abs(current))) {
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

/** Probability of class 1 for each row. */
export function predictLogistic(model: LogisticModel, x: Matrix): Float64Array {
  const { rows: n, cols: d, data } = x;
  if (d !== model.coefficients.length)
    throw new RangeError(`model has ${model.coefficients.length} features, input has ${d}`);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let z = model.intercept;
    for (let j = 0; j < d; j++) z += (data[i * d + j] as number) * (model.coefficients[j] as number);
    out[i] = sigmoid(z);
  }
  return out;
}
