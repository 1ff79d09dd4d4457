/**
 * Fairness mitigation as training asks for it: which method, on which protected attribute,
 * for which constraint and bound; and what was done and met, for the manifest, the registry
 * and the card. The methods themselves live beside this file, one per algorithm.
 */
import type { ConstraintOutcome, FairnessConstraint } from './constraints.ts';
import type { IterateOnValidation } from './exponentiated-gradient.ts';
import type { ReweighingCell } from './reweighing.ts';

/**
 * Methods training can apply: reweighing (Kamiran & Calders) and the exponentiated-gradient
 * reduction (Agarwal et al.) are built; threshold post-processing and adversarial debiasing
 * are the rest of issue #17.
 */
export const MITIGATION_METHODS = ['reweighing', 'exponentiated-gradient'] as const;
export type MitigationMethod = (typeof MITIGATION_METHODS)[number];

export interface MitigationOptions {
  readonly method: MitigationMethod;
  /** The protected attribute the method acts on: one of training's `protected`. */
  readonly attribute: string;
  readonly constraint: FairnessConstraint;
  /** @default the constraint's usual bar (0.8 for a ratio, 0.1 for a difference) */
  readonly bound?: number;
  /** Exponentiated gradient: rounds of the game at most (two fits each). @default 50 */
  readonly iterations?: number;
}

/** What a mitigated training did and what the shipped model meets on the holdout. */
export interface MitigationRecord {
  readonly method: MitigationMethod;
  readonly attribute: string;
  readonly constraint: FairnessConstraint;
  readonly bound: number;
  /** Reweighing: the weight of each (group, label) cell of the fitted rows. */
  readonly weights?: readonly ReweighingCell[];
  /**
   * Exponentiated gradient: the rounds played, whether the duality gap closed, the last gap,
   * every iterate on the validation rows, and the round shipped (see `chooseIterate`).
   */
  readonly reduction?: {
    readonly rounds: number;
    readonly converged: boolean;
    readonly gap: number;
    readonly validationRows: number;
    readonly iterates: readonly IterateOnValidation[];
    readonly chosen: number;
  };
  /** The constraint on the holdout, for the model that is shipped. */
  readonly holdout: ConstraintOutcome;
  /**
   * Whether the attribute is a model input: never for reweighing (it weighs the training rows
   * only); threshold post-processing alone will declare it.
   */
  readonly attributeIsInput: boolean;
}
