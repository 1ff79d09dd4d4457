import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../functions/contracts/config/load.ts';
import { retrainingSettings } from '../../../functions/contracts/retraining.ts';
import { Rng } from '../../../functions/core/random.ts';
import {
  compareDatasets,
  type DatasetScores,
  decisionThreshold,
  judgeCandidate,
  monotoneConstraints,
} from '../../../functions/retraining/evaluation.ts';

const settings = retrainingSettings(
  parseConfig(JSON.parse(readFileSync('keel.config.json', 'utf8'))),
  'credit',
  {
    codeVersion: 'abc1234',
  },
);

/** Labels and two models' scores: `strong` separates the classes better than `weak`. */
function dataset(
  name: DatasetScores['name'],
  rows: number,
  seed: number,
  withProduction = true,
): DatasetScores {
  const rng = new Rng(seed);
  const random = () => rng.uniform();
  const y = new Float64Array(rows);
  const strong: number[] = [];
  const weak: number[] = [];
  const group: string[] = [];
  for (let i = 0; i < rows; i++) {
    y[i] = random() < 0.3 ? 1 : 0;
    strong.push(Math.min(1, Math.max(0, 0.3 + 0.4 * (y[i] as number) + 0.25 * (random() - 0.5))));
    weak.push(Math.min(1, Math.max(0, 0.4 + 0.1 * (y[i] as number) + 0.5 * (random() - 0.5))));
    group.push(random() < 0.5 ? 'a' : 'b');
  }
  return {
    name,
    y,
    groups: { sex: group },
    candidate: strong,
    ...(withProduction ? { production: weak } : {}),
  };
}

describe('compareDatasets', () => {
  it('judges both models on every dataset at thresholds fixed on the holdout', () => {
    // Act
    const compared = compareDatasets([dataset('holdout', 800, 1), dataset('production', 600, 2)], settings);

    // Assess
    expect(compared.comparisons.map((c) => c.dataset)).toEqual(['holdout', 'production']);
    const holdout = compared.comparisons[0];
    expect(holdout?.candidateAuc).toBeGreaterThan(holdout?.productionAuc ?? 1);
    expect(holdout?.paired?.difference).toBeGreaterThan(0);
    const first = dataset('holdout', 800, 1);
    expect(compared.thresholds.candidate).toBeCloseTo(
      decisionThreshold(first.y, first.candidate, settings.costs),
      12,
    );
    expect(compared.fairness.map((f) => `${f.dataset}:${f.attribute}`)).toEqual([
      'holdout:sex',
      'production:sex',
    ]);
  });

  it('compares nothing pairwise when nothing is in production, and NaN scores fail the candidate’s AUC', () => {
    // Prepare
    const broken = {
      ...dataset('holdout', 300, 3, false),
      candidate: Array.from({ length: 300 }, () => Number.NaN),
    };

    // Act
    const compared = compareDatasets([broken], settings);

    // Assess
    expect(compared.comparisons[0]?.paired).toBeNull();
    expect(compared.comparisons[0]?.productionAuc).toBeNull();
    expect(compared.comparisons[0]?.candidateAuc).toBeNaN();
    expect(compared.thresholds.production).toBeUndefined();
  });
});

describe('monotoneConstraints', () => {
  it.each([
    [
      'configured relations win over trained ones',
      { income: -1 as const },
      { 'monotone.income': 1 },
      { income: -1 },
    ],
    [
      'trained ones of numeric columns are added',
      {},
      { 'monotone.income': 1, 'monotone.age': -1 },
      { income: 1, age: -1 },
    ],
    [
      'categorical columns and other values are ignored',
      {},
      { 'monotone.region': 1, 'monotone.age': 0, depth: 6 },
      {},
    ],
  ])('%s', (_, configured, hyperparameters, expected) => {
    const schema = { income: 'numeric', age: 'numeric', region: 'categorical' } as const;
    expect(monotoneConstraints(configured, hyperparameters, schema)).toEqual(expected);
  });
});

describe('judgeCandidate', () => {
  it('passes a better candidate and puts every gate’s rows in one table', () => {
    // Prepare
    const compared = compareDatasets([dataset('holdout', 800, 4)], settings);

    // Act
    const gates = judgeCandidate(
      compared,
      [{ check: 'finite', value: 1, threshold: '= 1', passed: true, detail: 'ok' }],
      settings.gates,
      false,
    );

    // Assess
    expect(gates.performance.passed).toBe(true);
    expect(gates.safety.passed).toBe(true);
    expect(new Set(gates.table.map((r) => r.gate))).toEqual(new Set(['performance', 'fairness', 'safety']));
  });
});
