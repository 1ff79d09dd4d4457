/**
 * The fairness constraints a user can ask a model to meet, each tied to one of the group
 * metrics of `metrics/fairness.ts` (fairlearn's definitions) and a bound: demographic parity as
 * the four-fifths ratio of selection rates, equalised odds and equal opportunity as differences
 * of error rates. One place, so training, the gates and the reports judge a constraint alike.
 */
import type { FairnessReport } from '../metrics/fairness.ts';

export const FAIRNESS_CONSTRAINTS = ['demographic-parity', 'equalized-odds', 'equal-opportunity'] as const;
export type FairnessConstraint = (typeof FAIRNESS_CONSTRAINTS)[number];

interface ConstraintDefinition {
  readonly metric: 'demographicParityRatio' | 'equalizedOddsDifference' | 'equalOpportunityDifference';
  /** `≥`: the metric must reach the bound (a ratio); `≤`: stay within it (a difference). */
  readonly direction: '≥' | '≤';
  /** The usual bar: the four-fifths rule, and a 0.1 gap in error rates. */
  readonly bound: number;
}

export const CONSTRAINTS: Readonly<Record<FairnessConstraint, ConstraintDefinition>> = {
  'demographic-parity': { metric: 'demographicParityRatio', direction: '≥', bound: 0.8 },
  'equalized-odds': { metric: 'equalizedOddsDifference', direction: '≤', bound: 0.1 },
  'equal-opportunity': { metric: 'equalOpportunityDifference', direction: '≤', bound: 0.1 },
};

/** A constraint judged on one fairness report. */
export interface ConstraintOutcome {
  readonly constraint: FairnessConstraint;
  readonly metric: ConstraintDefinition['metric'];
  readonly value: number;
  readonly direction: ConstraintDefinition['direction'];
  readonly bound: number;
  readonly met: boolean;
}

/** Checks a bound for a constraint: a ratio's in (0, 1], a difference's in [0, 1). */
export function checkBound(constraint: FairnessConstraint, bound: number): void {
  const { direction } = CONSTRAINTS[constraint];
  const ok = direction === '≥' ? bound > 0 && bound <= 1 : bound >= 0 && bound < 1;
  if (!Number.isFinite(bound) || !ok)
    throw new RangeError(
      `a ${constraint} bound must be ${direction === '≥' ? 'in (0, 1] (a ratio)' : 'in [0, 1) (a difference)'}, got ${bound}`,
    );
}

export function constraintOutcome(
  constraint: FairnessConstraint,
  report: FairnessReport,
  bound: number = CONSTRAINTS[constraint].bound,
): ConstraintOutcome {
  checkBound(constraint, bound);
  const { metric, direction } = CONSTRAINTS[constraint];
  const value = report[metric];
  return {
    constraint,
    metric,
    value,
    direction,
    bound,
    met: direction === '≥' ? value >= bound : value <= bound,
  };
}
