/**
 * Fairness mitigation as training asks for it: which method, on which protected attribute,
 * for which constraint and bound; and what was done and met, for the manifest, the registry
 * and the card. The methods themselves live beside this file, one per algorithm.
 */
import type { ConstraintOutcome, FairnessConstraint } from './constraints.ts';
import type { IterateOnValidation } from './exponentiated-gradient.ts';
import type { ReweighingCell } from './reweighing.ts';
import type { ThresholdRule } from './threshold.ts';

/**
 * Methods training can apply: reweighing (Kamiran & Calders), the exponentiated-gradient
 * reduction (Agarwal et al.), threshold post-processing (Hardt et al.; the attribute becomes a
 * model input), and adversarial debiasing (Zhang et al.; logistic regression only).
 */
export const MITIGATION_METHODS = [
  'reweighing',
  'exponentiated-gradient',
  'threshold',
  'adversarial',
] as const;
export type MitigationMethod = (typeof MITIGATION_METHODS)[number];

/** Why `method` cannot train `algorithm`, or undefined when it can. */
export function mitigationInapplicable(
  method: MitigationMethod,
  algorithm: 'lr' | 'gbdt',
): string | undefined {
  return method === 'adversarial' && algorithm !== 'lr'
    ? `adversarial debiasing trains logistic regression only (its gradients are derived for it); algorithm is ${algorithm}`
    : undefined;
}

export interface MitigationOptions {
  readonly method: MitigationMethod;
  /** The protected attribute the method acts on: one of training's `protected`. */
  readonly attribute: string;
  readonly constraint: FairnessConstraint;
  /** @default the constraint's usual bar (0.8 for a ratio, 0.1 for a difference) */
  readonly bound?: number;
  /**
   * Exponentiated gradient: rounds of the game at most (two fits each), default 50.
   * Adversarial debiasing: full-batch steps, default 600.
   */
  readonly iterations?: number;
  /** Adversarial debiasing: α, how hard the predictor pushes against the adversary. @default 1 */
  readonly adversaryWeight?: number;
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
  /**
   * Adversarial debiasing: the steps played, α, and the adversary's loss at the start and the
   * end (its loss at chance is ln(groups): near it, the score no longer gives the group away).
   */
  readonly adversarial?: {
    readonly steps: number;
    readonly adversaryWeight: number;
    readonly groups: readonly string[];
    readonly adversaryLoss: { readonly start: number; readonly end: number; readonly chance: number };
    readonly predictorLoss: { readonly start: number; readonly end: number };
  };
  /**
   * Threshold post-processing: each group's rule on the base model's margin, chosen on the
   * validation rows, and the probability above which the shipped model's answer is a positive
   * decision (its label): the rule's decisions are made there, not at a re-optimised threshold.
   */
  readonly postprocess?: ThresholdRule & { readonly decisionThreshold: 0.5 };
  /** The constraint on the holdout, for the model that is shipped. */
  readonly holdout: ConstraintOutcome;
  /**
   * Whether the attribute is a model input: for threshold post-processing alone (each group's
   * rule needs the row's group); never for reweighing (it weighs the training rows only), the
   * reduction or the adversary (which uses it, the predictor never sees it).
   */
  readonly attributeIsInput: boolean;
}
