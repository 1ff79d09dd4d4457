/**
 * SHAP values of a linear model's margin, interventional (as `shap.LinearExplainer` with
 * independent features): φ_j = w_j·(x_j − E_background[x_j]), and the base value is the margin
 * at the background's mean. Exact, in closed form: for a linear function the Shapley value of
 * a feature is its term's deviation from its expectation.
 */
import type { Matrix } from '../linalg.ts';
import type { ShapValues } from './treeshap.ts';

export interface LinearMargin {
  readonly coefficients: ArrayLike<number>;
  readonly intercept: number;
}

/** `background` rows must have no missing values: a linear margin has no value for NaN. */
export function linearShap(model: LinearMargin, x: Matrix, background: Matrix): ShapValues {
  const d = model.coefficients.length;
  for (const [what, m] of [
    ['the data', x],
    ['the background', background],
  ] as const)
    if (m.cols !== d) throw new RangeError(`${what} has ${m.cols} columns; the model has ${d} inputs`);
  if (background.rows === 0) throw new RangeError('the background has no rows');
  const mean = new Float64Array(d);
  for (let r = 0; r < background.rows; r++)
    for (let j = 0; j < d; j++) mean[j] = (mean[j] as number) + (background.data[r * d + j] as number);
  let baseValue = model.intercept;
  for (let j = 0; j < d; j++) {
    mean[j] = (mean[j] as number) / background.rows;
    baseValue += (model.coefficients[j] as number) * (mean[j] as number);
  }
  const values = new Float64Array(x.rows * d);
  const margins = new Float64Array(x.rows);
  for (let i = 0; i < x.rows; i++) {
    let margin = model.intercept;
    for (let j = 0; j < d; j++) {
      const v = x.data[i * d + j] as number;
      const w = model.coefficients[j] as number;
      values[i * d + j] = w * (v - (mean[j] as number));
      margin += w * v;
    }
    margins[i] = margin;
  }
  if (!Number.isFinite(baseValue)) throw new RangeError('the background has missing or infinite values');
  return { baseValue, values, margins };
}
