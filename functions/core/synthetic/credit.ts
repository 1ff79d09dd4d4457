/**
 * A seeded synthetic population of consumer-loan applicants with a known ground truth, for the
 * demo, the tests and drift scenarios. The label comes from a logistic model of the applicant's
 * finances; knobs add covariate drift, concept drift, label noise, missing incomes and a bias
 * against one group, each with a known effect.
 */

import { CategoricalBuilder, type Column, NumericBuilder, type Table } from '../data/table.ts';
import { Rng } from '../random.ts';

export interface CreditScenario {
  readonly rows: number;
  readonly seed: number;
  /**
   * Shifts the finances that drive risk: incomes fall by this share and debts rise by it
   * (0.2: incomes −20 %, debts +20 %). @default 0
   */
  readonly covariateDrift?: number;
  /** Shifts a feature the label does not depend on (`region` towards "north"), in [0, 1]. @default 0 */
  readonly harmlessDrift?: number;
  /**
   * Changes how finances map to default: each late payment adds 0.9 × this to the log-odds
   * (and debt-to-income counts 0.3 × this less), so defaults rise and a model trained before
   * it ranks and decides worse until it learns the new weights. @default 0
   */
  readonly conceptDrift?: number;
  /** Share of labels flipped at random. @default 0 */
  readonly labelNoise?: number;
  /** Share of incomes missing (at random). @default 0 */
  readonly missingIncome?: number;
  /**
   * Historical bias: extra log-odds of default recorded for `sex = female` at equal risk,
   * as in labels produced by a biased past process. @default 0
   */
  readonly groupBias?: number;
  /**
   * How strongly `region` gives `sex` away, in [0, 1]: that share of women live in "north" and of
   * men in "south" (on top of the usual spread), so a model can learn a group effect through a
   * proxy without ever seeing the protected attribute. @default 0
   */
  readonly groupProxy?: number;
  /**
   * How far employment status has stopped predicting default, in [0, 1]: its risk moves towards
   * the population's average by this share (at 1, as when the application's employment field is
   * self-declared and no longer verified, it carries no risk of its own). The average stays, so
   * the default rate barely moves: only what the feature tells the model goes. @default 0
   */
  readonly staleEmployment?: number;
}

const EMPLOYMENT = ['salaried', 'self-employed', 'unemployed', 'retired'] as const;
const EMPLOYMENT_WEIGHTS = [0.62, 0.18, 0.08, 0.12];
const EMPLOYMENT_RISK: Readonly<Record<(typeof EMPLOYMENT)[number], number>> = {
  salaried: 0,
  'self-employed': 0.35,
  unemployed: 1.1,
  retired: 0.2,
};
const REGIONS = ['north', 'south', 'east', 'west'] as const;
/** Employment's average risk over the population's mix (what a stale employment field keeps). */
const EMPLOYMENT_MEAN_RISK = EMPLOYMENT.reduce(
  (sum, e, i) => sum + (EMPLOYMENT_WEIGHTS[i] as number) * EMPLOYMENT_RISK[e],
  0,
);

export function ageBand(age: number): string {
  if (age <= 25) return '18-25';
  if (age <= 40) return '26-40';
  if (age <= 60) return '41-60';
  return '60+';
}

/** The ground-truth log-odds of default, exposed so tests can check models against it. */
export function trueLogOdds(
  applicant: {
    income: number;
    debt: number;
    latePayments: number;
    historyYears: number;
    loanAmount: number;
    employment: string;
  },
  conceptDrift = 0,
  staleEmployment = 0,
): number {
  const dti = applicant.debt / applicant.income;
  const employmentRisk = EMPLOYMENT_RISK[applicant.employment as (typeof EMPLOYMENT)[number]] ?? 0;
  return (
    -3.2 +
    (1.6 - 0.3 * conceptDrift) * Math.min(dti, 5) +
    (0.45 + 0.9 * conceptDrift) * applicant.latePayments +
    0.5 * Math.log(applicant.loanAmount / applicant.income + 0.05) -
    0.04 * applicant.historyYears +
    (1 - staleEmployment) * employmentRisk +
    staleEmployment * EMPLOYMENT_MEAN_RISK
  );
}

export function generateCredit(scenario: CreditScenario): Table {
  const rng = new Rng(scenario.seed);
  const covariate = scenario.covariateDrift ?? 0;
  const harmless = scenario.harmlessDrift ?? 0;
  const b = {
    id: new CategoricalBuilder(),
    age: new NumericBuilder(),
    ageBand: new CategoricalBuilder(),
    sex: new CategoricalBuilder(),
    income: new NumericBuilder(),
    debt: new NumericBuilder(),
    employment: new CategoricalBuilder(),
    history: new NumericBuilder(),
    late: new NumericBuilder(),
    loan: new NumericBuilder(),
    region: new CategoricalBuilder(),
    label: new NumericBuilder(),
  };
  for (let i = 0; i < scenario.rows; i++) {
    const age = Math.round(Math.min(80, Math.max(18, rng.normal(42, 13))));
    const sex = rng.bernoulli(0.5) ? 'female' : 'male';
    const employment = EMPLOYMENT[
      age >= 66 && rng.bernoulli(0.7) ? 3 : rng.weighted(EMPLOYMENT_WEIGHTS)
    ] as string;
    const baseIncome = Math.exp(rng.normal(8.1, 0.45)) * (employment === 'unemployed' ? 0.35 : 1);
    const income = Math.max(300, baseIncome * (1 - covariate));
    const debt = Math.max(0, Math.exp(rng.normal(7.2, 0.8)) * (1 + covariate));
    const historyYears = Math.max(0, Math.min(age - 18, rng.normal((age - 18) * 0.6, 4)));
    const latePayments = Math.min(12, Math.floor(-Math.log(1 - rng.uniform()) * (0.6 + 1.5 * covariate)));
    const loanAmount = Math.round(Math.exp(rng.normal(9.2, 0.6)));
    const regionWeights = [
      0.25 + 0.75 * harmless,
      0.25 * (1 - harmless),
      0.25 * (1 - harmless),
      0.25 * (1 - harmless),
    ];
    const drawn = REGIONS[rng.weighted(regionWeights)] as string;
    // No draw at all without a proxy, so the seeded populations of earlier releases stay the same.
    const proxied = (scenario.groupProxy ?? 0) > 0 && rng.bernoulli(scenario.groupProxy ?? 0);
    const region = proxied ? (sex === 'female' ? 'north' : 'south') : drawn;

    let logOdds = trueLogOdds(
      { income, debt, latePayments, historyYears, loanAmount, employment },
      scenario.conceptDrift ?? 0,
      scenario.staleEmployment ?? 0,
    );
    if (sex === 'female') logOdds += scenario.groupBias ?? 0;
    let label = rng.bernoulli(1 / (1 + Math.exp(-logOdds))) ? 1 : 0;
    if (rng.bernoulli(scenario.labelNoise ?? 0)) label = 1 - label;

    b.id.push(`A${String(scenario.seed).padStart(4, '0')}-${String(i).padStart(7, '0')}`);
    b.age.push(age);
    b.ageBand.push(ageBand(age));
    b.sex.push(sex);
    b.income.push(rng.bernoulli(scenario.missingIncome ?? 0) ? Number.NaN : Math.round(income));
    b.debt.push(Math.round(debt));
    b.employment.push(employment);
    b.history.push(Math.round(historyYears * 10) / 10);
    b.late.push(latePayments);
    b.loan.push(loanAmount);
    b.region.push(region);
    b.label.push(label);
  }
  return {
    rowCount: scenario.rows,
    columns: new Map<string, Column>([
      ['applicant_id', b.id.build()],
      ['age', b.age.build()],
      ['age_band', b.ageBand.build()],
      ['sex', b.sex.build()],
      ['income', b.income.build()],
      ['debt', b.debt.build()],
      ['employment', b.employment.build()],
      ['credit_history_years', b.history.build()],
      ['late_payments', b.late.build()],
      ['loan_amount', b.loan.build()],
      ['region', b.region.build()],
      ['default', b.label.build()],
    ]),
  };
}
