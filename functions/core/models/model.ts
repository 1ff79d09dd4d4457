/** The model kinds Keel trains, and one way to score them. */
import type { Matrix } from '../linalg.ts';
import { type GbdtModel, gbdtMargins, predictGbdt } from './gbdt.ts';
import { type LogisticModel, logisticMargins, predictLogistic } from './logistic.ts';

export type TrainedModel = LogisticModel | GbdtModel;
export type ModelKind = 'lr' | 'gbdt';

/** Probability of class 1 for each row of a feature matrix. */
export function predictProba(model: TrainedModel, x: Matrix): Float64Array {
  return model.kind === 'logistic' ? predictLogistic(model, x) : predictGbdt(model, x);
}

/** The margin (log-odds) of class 1 for each row of a feature matrix. */
export function predictMargins(model: TrainedModel, x: Matrix): Float64Array {
  return model.kind === 'logistic' ? logisticMargins(model, x) : gbdtMargins(model, x);
}
