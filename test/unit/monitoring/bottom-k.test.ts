import { describe, expect, it } from 'vitest';
import { Rng } from '../../../functions/core/random.ts';
import { BottomK } from '../../../functions/monitoring/profile.ts';

describe('BottomK', () => {
  it('keeps exactly the k smallest priorities, whatever the order, and refuses what cannot be kept', () => {
    // Prepare
    const rng = new Rng(5);
    const priorities = Array.from({ length: 10_000 }, () => rng.uniform());
    const sample = new BottomK<number>(100);

    // Act
    let built = 0;
    priorities.forEach((p, i) => {
      if (sample.accepts(p)) {
        built++;
        sample.add(p, i);
      }
    });

    // Assess
    const expected = priorities
      .map((p, i) => [p, i] as const)
      .sort((a, b) => a[0] - b[0])
      .slice(0, 100)
      .map(([, i]) => i);
    expect(sample.items().map((x) => x.item)).toEqual(expected);
    // Rows that could not be kept were mostly never built (about k·ln(n/k) are).
    expect(built).toBeLessThan(1500);
  });
});
