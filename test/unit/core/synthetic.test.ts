import { describe, expect, it } from 'vitest';
import type { CategoricalColumn, NumericColumn, Table } from '../../../functions/core/data/table.ts';
import { toCsv } from '../../../functions/core/data/table.ts';
import { auc } from '../../../functions/core/metrics/classification.ts';
import { generateCredit, trueLogOdds } from '../../../functions/core/synthetic/credit.ts';

const numeric = (t: Table, name: string) => (t.columns.get(name) as NumericColumn).values;
const categorical = (t: Table, name: string) => t.columns.get(name) as CategoricalColumn;
const mean = (xs: ArrayLike<number>) =>
  Array.from(xs)
    .filter((x) => !Number.isNaN(x))
    .reduce((a, b) => a + b, 0) / xs.length;
const share = (c: CategoricalColumn, value: string) => {
  const code = c.dictionary.indexOf(value);
  return Array.from(c.codes).filter((x) => x === code).length / c.codes.length;
};

/** Scores rows with the generator's own ground truth. */
function oracleScores(t: Table, conceptDrift = 0): number[] {
  const employment = categorical(t, 'employment');
  return Array.from({ length: t.rowCount }, (_, i) =>
    trueLogOdds(
      {
        income: numeric(t, 'income')[i] as number,
        debt: numeric(t, 'debt')[i] as number,
        latePayments: numeric(t, 'late_payments')[i] as number,
        historyYears: numeric(t, 'credit_history_years')[i] as number,
        loanAmount: numeric(t, 'loan_amount')[i] as number,
        employment: employment.dictionary[employment.codes[i] as number] as string,
      },
      conceptDrift,
    ),
  ).map((z) => 1 / (1 + Math.exp(-z)));
}

describe('generateCredit', () => {
  const base = generateCredit({ rows: 20_000, seed: 1 });

  it('is deterministic for a seed and differs across seeds', () => {
    expect(toCsv(generateCredit({ rows: 200, seed: 9 }))).toBe(toCsv(generateCredit({ rows: 200, seed: 9 })));
    expect(toCsv(generateCredit({ rows: 200, seed: 9 }))).not.toBe(
      toCsv(generateCredit({ rows: 200, seed: 10 })),
    );
  });

  it('has a realistic default rate and a learnable ground truth', () => {
    const y = numeric(base, 'default');
    expect(mean(y)).toBeGreaterThan(0.08);
    expect(mean(y)).toBeLessThan(0.3);
    expect(auc(y, oracleScores(base))).toBeGreaterThan(0.75);
  });

  it('covariate drift lowers incomes and raises debts and defaults', () => {
    const drifted = generateCredit({ rows: 20_000, seed: 1, covariateDrift: 0.3 });
    expect(mean(numeric(drifted, 'income')) / mean(numeric(base, 'income'))).toBeCloseTo(0.7, 1);
    expect(mean(numeric(drifted, 'default'))).toBeGreaterThan(mean(numeric(base, 'default')) + 0.03);
  });

  it('harmless drift moves only the region mix, not the default rate', () => {
    const drifted = generateCredit({ rows: 20_000, seed: 1, harmlessDrift: 0.6 });
    expect(share(categorical(drifted, 'region'), 'north')).toBeGreaterThan(0.6);
    expect(Math.abs(mean(numeric(drifted, 'default')) - mean(numeric(base, 'default')))).toBeLessThan(0.01);
  });

  it('concept drift makes the old ground truth a worse ranker', () => {
    const drifted = generateCredit({ rows: 20_000, seed: 1, conceptDrift: 1 });
    const y = numeric(drifted, 'default');
    expect(auc(y, oracleScores(drifted, 1))).toBeGreaterThan(auc(y, oracleScores(drifted, 0)) + 0.01);
  });

  it('group bias raises recorded defaults for one group only', () => {
    const biased = generateCredit({ rows: 20_000, seed: 1, groupBias: 1.2 });
    const y = numeric(biased, 'default');
    const sex = categorical(biased, 'sex');
    const rate = (value: string) => {
      const code = sex.dictionary.indexOf(value);
      const idx = Array.from(sex.codes.keys()).filter((i) => sex.codes[i] === code);
      return idx.reduce((s, i) => s + (y[i] as number), 0) / idx.length;
    };
    expect(rate('female') - rate('male')).toBeGreaterThan(0.08);
  });

  it('label noise and missingness hit the requested shares', () => {
    const noisy = generateCredit({ rows: 20_000, seed: 1, labelNoise: 0.1, missingIncome: 0.15 });
    const missing = Array.from(numeric(noisy, 'income')).filter(Number.isNaN).length / noisy.rowCount;
    expect(missing).toBeCloseTo(0.15, 1);
    const flipped =
      Array.from(numeric(noisy, 'default')).filter((v, i) => v !== numeric(base, 'default')[i]).length /
      noisy.rowCount;
    expect(flipped).toBeGreaterThan(0.05);
  });
});
