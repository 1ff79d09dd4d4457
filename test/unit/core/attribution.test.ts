import { describe, expect, it } from 'vitest';
import { attributeToColumns } from '../../../functions/core/explain/attribution.ts';

const features = [
  { name: 'income_log', sources: ['income'] },
  { name: 'employment=salaried', sources: ['employment'] },
  { name: 'debt_to_income', sources: ['debt', 'income'] },
  { name: 'employment=retired', sources: ['employment'] },
  { name: 'late_payments', sources: ['late_payments'] },
];

describe('attributeToColumns', () => {
  it('sums inputs of one column under it, reports a multi-column feature under its own name, and keeps each row’s sum', () => {
    // Prepare: two rows of per-input contributions.
    const values = Float64Array.of(0.5, -0.2, 0.3, 0.1, 1.0, -1, 0.25, 0, 0.5, 2);

    // Act
    const out = attributeToColumns(values, 2, features);

    // Assess
    expect(out.names).toEqual(['income', 'employment', 'late_payments', 'debt_to_income']);
    expect(out.derived).toEqual([{ name: 'debt_to_income', sources: ['debt', 'income'] }]);
    expect(Array.from(out.values.subarray(0, 4))).toEqual([0.5, -0.1, 1.0, 0.3]);
    expect(Array.from(out.values.subarray(4, 8))).toEqual([-1, 0.75, 2, 0]);
    for (let i = 0; i < 2; i++) {
      const before = values.subarray(i * 5, i * 5 + 5).reduce((a, b) => a + b, 0);
      const after = out.values.subarray(i * 4, i * 4 + 4).reduce((a, b) => a + b, 0);
      expect(after).toBeCloseTo(before, 12);
    }
  });

  it('refuses a derived feature named like a column, and a shape mismatch', () => {
    expect(() =>
      attributeToColumns(new Float64Array(2), 1, [
        { name: 'income', sources: ['income'] },
        { name: 'income', sources: ['income', 'debt'] },
      ]),
    ).toThrow(/hide/);
    expect(() => attributeToColumns(new Float64Array(3), 1, features)).toThrow(
      /3 contributions for 1 rows × 5/,
    );
  });
});
