import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FAIRNESS_CONSTRAINTS } from '../../../functions/core/fairness/constraints.ts';
import {
  type BestResponse,
  exponentiatedGradient,
  momentCoefficients,
} from '../../../functions/core/fairness/exponentiated-gradient.ts';
import { matrix } from '../../../functions/core/linalg.ts';
import { fitLogistic, type LogisticModel, predictLogistic } from '../../../functions/core/models/logistic.ts';

interface Step {
  multipliers: number[];
  error: number;
  moments: number[];
  gap: number;
}
const fixture = JSON.parse(
  readFileSync(new URL('../../fixtures/reference/exponentiated_gradient.json', import.meta.url), 'utf8'),
) as {
  X: number[][];
  y: number[];
  groups: string[];
  cases: Record<string, { momentNames: string[]; steps: Step[]; converged: boolean }>;
};
const n = fixture.y.length;
const d = fixture.X[0]?.length ?? 0;
const x = matrix(n, d, Float64Array.from(fixture.X.flat()));

/** scikit-learn's learner in the fixture: LogisticRegression(C=1), decisions at 0.5. */
const logistic: BestResponse<LogisticModel> = (labels, weights) => {
  const model = fitLogistic(x, labels, { C: 1, sampleWeight: weights });
  return { model, decisions: Uint8Array.from(predictLogistic(model, x), (p) => (p >= 0.5 ? 1 : 0)) };
};

describe('exponentiatedGradient', () => {
  it.each(FAIRNESS_CONSTRAINTS)(
    '%s: replays the numpy/scikit-learn reduction round by round',
    (constraint) => {
      // Prepare
      const expected = fixture.cases[constraint] as (typeof fixture.cases)[string];

      // Act
      const result = exponentiatedGradient(fixture.y, fixture.groups, logistic, { constraint });

      // Assess
      expect(result.momentNames).toEqual(expected.momentNames);
      expect(result.converged).toBe(expected.converged);
      expect(result.steps).toHaveLength(expected.steps.length);
      result.steps.forEach((step, t) => {
        const want = expected.steps[t] as Step;
        want.multipliers.forEach((l, j) => {
          expect(Math.abs((step.multipliers[j] as number) - l)).toBeLessThan(1e-6 * Math.max(1, Math.abs(l)));
        });
        expect(Math.abs(step.error - want.error)).toBeLessThan(1e-12);
        want.moments.forEach((m, k) => {
          expect(Math.abs((step.moments[k] as number) - m)).toBeLessThan(1e-9);
        });
        expect(Math.abs(step.gap - want.gap)).toBeLessThan(1e-6);
      });
      // The auditor pushed the moments down: the last round's worst is a fraction of the first's.
      const worst = (s: { moments: ArrayLike<number> } | undefined) =>
        Math.max(...Array.from(s?.moments ?? [], Math.abs));
      expect(worst(result.steps.at(-1))).toBeLessThan(0.6 * worst(result.steps[0]));
    },
    60_000,
  );

  it('gives demographic parity one moment per group, and equalised odds one per group and label, summing to zero', () => {
    // Act
    const dp = momentCoefficients('demographic-parity', fixture.y, fixture.groups);
    const eo = momentCoefficients('equalized-odds', fixture.y, fixture.groups);

    // Assess: the all-ones classifier satisfies every moment exactly.
    expect(dp.names).toEqual(['f', 'm']);
    expect(eo.names).toEqual(['f|0', 'm|0', 'f|1', 'm|1']);
    for (const { names, g } of [dp, eo])
      names.forEach((_, k) => {
        const sum = g.subarray(k * n, (k + 1) * n).reduce((a, b) => a + b, 0);
        expect(Math.abs(sum)).toBeLessThan(1e-12);
      });
  });

  it('refuses bad settings, naming them', () => {
    expect(() =>
      exponentiatedGradient([0, 1], ['a'], logistic, { constraint: 'demographic-parity' }),
    ).toThrow(/2 labels but 1/);
    expect(() =>
      exponentiatedGradient(fixture.y, fixture.groups, logistic, { constraint: 'equalized-odds', slack: 0 }),
    ).toThrow(/slack.*got 0/);
    expect(() =>
      exponentiatedGradient(fixture.y, fixture.groups, logistic, {
        constraint: 'equalized-odds',
        maxIterations: 0,
      }),
    ).toThrow(/T 0/);
  });
});
