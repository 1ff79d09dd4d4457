/**
 * The little dense linear algebra the models need: a row-major matrix and a Cholesky solve
 * for symmetric positive-definite systems (Newton steps). Hand-written because the systems are
 * small (features + 1) and the JS matrix libraries add far more than this.
 */
export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  /** Row-major: element (i, j) is `data[i * cols + j]`. */
  readonly data: Float64Array;
}

/** The logistic function, without overflow for large |z|. */
export const sigmoid = (z: number): number =>
  z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));

export function matrix(rows: number, cols: number, data?: Float64Array): Matrix {
  const values = data ?? new Float64Array(rows * cols);
  if (values.length !== rows * cols)
    throw new RangeError(`expected ${rows * cols} values, got ${values.length}`);
  return { rows, cols, data: values };
}

/** The lower Cholesky factor `L` of symmetric positive-definite `A` (`A = L Lᵀ`); throws if `A` is not. */
export function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i * n + j] as number;
      for (let k = 0; k < j; k++) sum -= (l[i * n + k] as number) * (l[j * n + k] as number);
      if (i === j) {
        if (!(sum > 0)) throw new RangeError('matrix is not positive definite');
        l[i * n + i] = Math.sqrt(sum);
      } else {
        l[i * n + j] = sum / (l[j * n + j] as number);
      }
    }
  }
  return l;
}

/** Solves `L Lᵀ x = b` given the factor from {@link cholesky}: one system, many right-hand sides. */
export function choleskyBackSolve(l: Float64Array, b: ArrayLike<number>, n: number): Float64Array {
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sum = b[i] as number;
    for (let k = 0; k < i; k++) sum -= (l[i * n + k] as number) * (y[k] as number);
    y[i] = sum / (l[i * n + i] as number);
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let sum = y[i] as number;
    for (let k = i + 1; k < n; k++) sum -= (l[k * n + i] as number) * (x[k] as number);
    x[i] = sum / (l[i * n + i] as number);
  }
  return x;
}

/** Solves `A x = b` for symmetric positive-definite `A` (n×n, row-major); throws if `A` is not. */
export function choleskySolve(a: Float64Array, b: Float64Array, n: number): Float64Array {
  return choleskyBackSolve(cholesky(a, n), b, n);
}
