/**
 * Federated averaging for logistic regression: what a client computes on its own rows, and what
 * the server makes of the clients' results.
 *
 * - **FedAvg** (McMahan et al. 2017, "Communication-Efficient Learning of Deep Networks from
 *   Decentralized Data", Algorithm 1): each selected client starts from the global model, runs
 *   `epochs` passes of minibatch SGD over its rows, and returns its model; the server averages the
 *   models weighted by the clients' row counts.
 * - **FedProx** (Li et al. 2020, "Federated Optimization in Heterogeneous Networks", Algorithm 2):
 *   the same, with the proximal term μ/2·‖w − w_global‖² in each client's objective, which keeps
 *   clients whose data differ (non-IID) from drifting apart; μ = 0 is FedAvg.
 *
 * The objective is the log loss averaged over a client's rows plus λ/2·‖β‖² (not on the
 * intercept). Models are flat vectors: the coefficients, then the intercept. The server sees
 * only row-weighted sums (`weightedContribution`), so that secure aggregation can hide each
 * client's own.
 */
import { ValidationError } from '../../kernel/errors.ts';
import type { Table } from '../data/table.ts';
import { type Matrix, sigmoid } from '../linalg.ts';
import type { LogisticModel } from '../models/logistic.ts';
import { Rng } from '../random.ts';

export interface LocalTrainingOptions {
  /** Passes over the client's rows per round. @default 1 */
  readonly epochs?: number;
  /** Rows per SGD step. @default 64 */
  readonly batchSize?: number;
  /** η. @default 0.1 */
  readonly learningRate?: number;
  /** FedProx's μ; 0 is FedAvg. @default 0 */
  readonly mu?: number;
  /** λ of the L2 penalty on the coefficients. @default 1e-4 */
  readonly l2?: number;
  readonly seed: number;
}

/** The client's model after local training, from `global` (coefficients, then intercept). */
export function localUpdate(
  global: ArrayLike<number>,
  x: Matrix,
  y: ArrayLike<number>,
  options: LocalTrainingOptions,
): Float64Array {
  const { rows: n, cols: d, data } = x;
  if (global.length !== d + 1) throw new RangeError(`a model of ${global.length} values for ${d} inputs`);
  if (y.length !== n) throw new RangeError(`${y.length} labels for ${n} rows`);
  const epochs = options.epochs ?? 1;
  const batch = Math.max(1, Math.min(n, options.batchSize ?? 64));
  const eta = options.learningRate ?? 0.1;
  const mu = options.mu ?? 0;
  const l2 = options.l2 ?? 1e-4;
  for (const [name, v] of [
    ['epochs', epochs],
    ['learningRate', eta],
  ] as const)
    if (!(v > 0) || !Number.isFinite(v))
      throw new RangeError(`${name} must be a finite number > 0, got ${v}`);
  if (!(mu >= 0) || !(l2 >= 0)) throw new RangeError(`mu and l2 must be ≥ 0, got ${mu} and ${l2}`);
  const w = Float64Array.from(global);
  if (n === 0) return w;
  const rng = new Rng(options.seed);
  const gradient = new Float64Array(d + 1);
  const steps = Math.ceil(n / batch);
  for (let epoch = 0; epoch < Math.ceil(epochs); epoch++) {
    const order = rng.permutation(n);
    // A fractional last epoch runs that share of its steps.
    const stepsThisEpoch = epoch + 1 <= epochs ? steps : Math.max(1, Math.round((epochs - epoch) * steps));
    for (let s = 0; s < stepsThisEpoch; s++) {
      const start = s * batch;
      const end = Math.min(n, start + batch);
      gradient.fill(0);
      for (let k = start; k < end; k++) {
        const i = order[k] as number;
        let z = w[d] as number;
        for (let j = 0; j < d; j++) z += (w[j] as number) * (data[i * d + j] as number);
        const r = sigmoid(z) - (y[i] as number);
        for (let j = 0; j < d; j++) gradient[j] = (gradient[j] as number) + r * (data[i * d + j] as number);
        gradient[d] = (gradient[d] as number) + r;
      }
      const m = end - start;
      for (let j = 0; j <= d; j++) {
        let g = (gradient[j] as number) / m + mu * ((w[j] as number) - (global[j] as number));
        if (j < d) g += l2 * (w[j] as number);
        w[j] = (w[j] as number) - eta * g;
      }
    }
  }
  return w;
}

/** What a client sends to be summed: its model times its row count, then the row count. */
export function weightedContribution(model: ArrayLike<number>, rows: number): Float64Array {
  const out = new Float64Array(model.length + 1);
  for (let j = 0; j < model.length; j++) out[j] = (model[j] as number) * rows;
  out[model.length] = rows;
  return out;
}

/** The next global model from the sum of the contributions: Σ rows·w / Σ rows. */
export function averageOfSum(sum: ArrayLike<number>): Float64Array {
  const rows = sum[sum.length - 1] as number;
  if (!(rows > 0)) throw new RangeError(`the contributions hold ${rows} rows`);
  return Float64Array.from({ length: sum.length - 1 }, (_, j) => (sum[j] as number) / rows);
}

/** FedAvg's server step without secure aggregation: the row-weighted mean of the models. */
export function federatedAverage(
  models: readonly { readonly model: ArrayLike<number>; readonly rows: number }[],
): Float64Array {
  const first = models[0];
  if (!first) throw new RangeError('no client models to average');
  const sum = new Float64Array(first.model.length + 1);
  for (const { model, rows } of models) {
    const c = weightedContribution(model, rows);
    for (let j = 0; j < sum.length; j++) sum[j] = (sum[j] as number) + (c[j] as number);
  }
  return averageOfSum(sum);
}

/** A flat model as Keel's logistic model (for export, scoring and explanations). */
export function asLogisticModel(model: ArrayLike<number>, rounds: number): LogisticModel {
  const d = model.length - 1;
  return {
    kind: 'logistic',
    coefficients: Float64Array.from({ length: d }, (_, j) => model[j] as number),
    intercept: model[d] as number,
    iterations: rounds,
    converged: true,
  };
}

/** The label column as 0/1 numbers; anything else is an error naming the column. */
export function binaryLabels(table: Table, label: string): Float64Array {
  const column = table.columns.get(label);
  if (!column)
    throw new ValidationError('No label column', [
      { path: label, message: `not found; columns are ${[...table.columns.keys()].join(', ')}` },
    ]);
  if (column.kind !== 'numeric' || column.values.some((v) => v !== 0 && v !== 1))
    throw new ValidationError('Invalid labels', [{ path: label, message: 'every label must be 0 or 1' }]);
  return column.values;
}
