import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  FAIRNESS_CONSTRAINT_NAMES,
  MITIGATION_METHOD_NAMES,
} from '../../../functions/contracts/config/schema.ts';
import {
  CONSTRAINTS,
  constraintOutcome,
  FAIRNESS_CONSTRAINTS,
} from '../../../functions/core/fairness/constraints.ts';
import { MITIGATION_METHODS } from '../../../functions/core/fairness/mitigation.ts';
import { reweighing } from '../../../functions/core/fairness/reweighing.ts';
import { fairness } from '../../../functions/core/metrics/fairness.ts';
import { generateCredit } from '../../../functions/core/synthetic/credit.ts';
import { train } from '../../../functions/core/training/train.ts';
import { ValidationError } from '../../../functions/kernel/errors.ts';
import { LineageStore } from '../../../functions/lineage/store.ts';
import { publishTrainingResult } from '../../../functions/registry/publish.ts';
import { ModelRegistry } from '../../../functions/registry/registry.ts';
import { MemoryBlobStore } from '../../support/memory-blob-store.ts';
import { MemoryRegistryStore } from '../../support/memory-registry-store.ts';

const fixture = JSON.parse(
  readFileSync(new URL('../../fixtures/reference/reweighing.json', import.meta.url), 'utf8'),
) as { y: number[]; groups: string[]; weights: number[] };

describe('reweighing', () => {
  it('gives each row the weight of AIF360’s port, empty cells included', () => {
    // Act
    const { weights, cells } = reweighing(fixture.y, fixture.groups);

    // Assess
    fixture.weights.forEach((w, i) => {
      expect(Math.abs((weights[i] as number) - w)).toBeLessThan(1e-12);
    });
    expect(cells.find((c) => c.group === 'c' && c.label === 1)).toBeUndefined();
    expect(cells.reduce((n, c) => n + c.rows, 0)).toBe(fixture.y.length);
  });

  it('gives each non-empty cell the weight it would have were label and group independent', () => {
    // Act
    const { weights } = reweighing(fixture.y, fixture.groups);

    // Assess: Σw over the cell (a, y) = n·P(a)·P(y); the empty cell (c, 1) gets nothing, so the
    // total falls short of n by exactly its expected share.
    const n = fixture.y.length;
    const share = (pick: (i: number) => boolean) => fixture.y.filter((_, i) => pick(i)).length / n;
    let total = 0;
    for (const g of ['a', 'b', 'c']) {
      for (const label of [0, 1]) {
        let cell = 0;
        fixture.y.forEach((y, i) => {
          if (y === label && fixture.groups[i] === g) cell += weights[i] as number;
        });
        total += cell;
        const expected = n * share((i) => fixture.groups[i] === g) * share((i) => fixture.y[i] === label);
        if (g === 'c' && label === 1) expect(cell).toBe(0);
        else expect(cell).toBeCloseTo(expected, 9);
      }
    }
    const missing = n * share((i) => fixture.groups[i] === 'c') * share((i) => fixture.y[i] === 1);
    expect(total).toBeCloseTo(n - missing, 9);
  });

  it.each([
    ['labels and groups of different lengths', [0, 1], ['a'], /2 labels but 1/],
    ['a label that is not 0 or 1', [0, 2], ['a', 'b'], /label 1 is 2/],
    ['no rows', [], [], /no rows/],
  ])('refuses %s', (_, y, groups, message) => {
    expect(() => reweighing(y, groups)).toThrow(message);
  });
});

describe('the config’s names', () => {
  it('are core’s methods and constraints, all of them', () => {
    expect([...MITIGATION_METHOD_NAMES]).toEqual([...MITIGATION_METHODS]);
    expect([...FAIRNESS_CONSTRAINT_NAMES]).toEqual([...FAIRNESS_CONSTRAINTS]);
  });
});

describe('constraintOutcome', () => {
  const y = [1, 0, 1, 0, 1, 0, 1, 0];
  const p = [0.9, 0.8, 0.7, 0.2, 0.9, 0.1, 0.2, 0.1];
  const groups = ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'b'];
  const report = fairness(y, p, groups);

  it.each(FAIRNESS_CONSTRAINTS)('judges %s by its metric and usual bar', (constraint) => {
    // Act
    const outcome = constraintOutcome(constraint, report);

    // Assess
    const { metric, direction, bound } = CONSTRAINTS[constraint];
    expect(outcome.value).toBe(report[metric]);
    expect(outcome.bound).toBe(bound);
    expect(outcome.met).toBe(direction === '≥' ? report[metric] >= bound : report[metric] <= bound);
  });

  it('refuses a ratio bound above 1 and a negative difference bound, with the value', () => {
    expect(() => constraintOutcome('demographic-parity', report, 1.2)).toThrow(/in \(0, 1\].*got 1.2/);
    expect(() => constraintOutcome('equalized-odds', report, -0.1)).toThrow(/in \[0, 1\).*got -0.1/);
  });
});

describe('train with reweighing', () => {
  // Labels biased against women at equal risk, and a region that gives sex away: a model that
  // never sees sex learns the bias through the proxy.
  const data = generateCredit({ rows: 12_000, seed: 5, groupBias: 1.25, groupProxy: 0.7 });
  const common = {
    label: 'default',
    protected: ['sex'],
    exclude: ['applicant_id'],
    bootstrapSamples: 20,
    dataHash: 'd'.repeat(64),
    codeVersion: 'abc1234',
  };

  it.each(['lr', 'gbdt'] as const)(
    '%s: brings the held-out demographic-parity ratio from below 0.8 to at least 0.8, at a reported AUC cost',
    (algorithm) => {
      // Prepare
      const options = {
        ...common,
        algorithm,
        ...(algorithm === 'gbdt' ? { hyperparameters: { trees: 40 } } : {}),
      };

      // Act
      const plain = train(data, options);
      const mitigated = train(data, {
        ...options,
        mitigation: { method: 'reweighing', attribute: 'sex', constraint: 'demographic-parity' },
      });

      // Assess
      expect(plain.metrics.fairness.sex?.demographicParityRatio).toBeLessThan(0.8);
      const record = mitigated.manifest.mitigation;
      expect(record?.holdout).toMatchObject({ constraint: 'demographic-parity', bound: 0.8, met: true });
      expect(record?.holdout.value).toBe(mitigated.metrics.fairness.sex?.demographicParityRatio);
      expect(record?.attributeIsInput).toBe(false);
      expect(record?.weights?.length).toBe(4);
      // Sex is still no model input; the cost in AUC is there, and small.
      expect(mitigated.pipeline.inputs.map((i) => i.name)).not.toContain('sex');
      const cost = plain.metrics.auc - mitigated.metrics.auc;
      expect(cost).toBeGreaterThan(0);
      expect(cost).toBeLessThan(0.03);
    },
    120_000,
  );

  it.each([
    // [algorithm, constraint, population, settings]
    ['lr', 'demographic-parity', { groupBias: 1.25, groupProxy: 0.7 }, {}],
    ['gbdt', 'equalized-odds', { groupBias: 2, groupProxy: 0.9 }, { iterations: 15 }],
  ] as const)(
    'exponentiated gradient, %s learner: brings %s within the usual bar on the holdout, shipping the iterate chosen on validation',
    (algorithm, constraint, population, settings) => {
      // Prepare
      const biased = generateCredit({ rows: 12_000, seed: 5, ...population });
      const options = {
        ...common,
        algorithm,
        ...(algorithm === 'gbdt' ? { hyperparameters: { trees: 30 } } : {}),
      };

      // Act
      const plain = train(biased, options);
      const mitigated = train(biased, {
        ...options,
        mitigation: { method: 'exponentiated-gradient', attribute: 'sex', constraint, ...settings },
      });

      // Assess
      const bar = CONSTRAINTS[constraint];
      const before = plain.metrics.fairness.sex?.[bar.metric] as number;
      expect(bar.direction === '≥' ? before < bar.bound : before > bar.bound).toBe(true);
      const record = mitigated.manifest.mitigation;
      expect(record?.holdout).toMatchObject({ constraint, met: true });
      const reduction = record?.reduction;
      expect(reduction?.rounds).toBeGreaterThan(5);
      const chosen = reduction?.iterates.find((it) => it.round === reduction.chosen);
      expect(chosen?.outcome.met).toBe(true);
      expect(chosen?.degenerate).toBe(false);
      // No iterate that met the constraint on validation had a lower error.
      for (const it of reduction?.iterates ?? [])
        if (it.outcome.met && !it.degenerate)
          expect(it.error).toBeGreaterThanOrEqual(chosen?.error as number);
      const cost = plain.metrics.auc - mitigated.metrics.auc;
      expect(cost).toBeLessThan(0.03);
      expect(mitigated.pipeline.inputs.map((i) => i.name)).not.toContain('sex');
    },
    180_000,
  );

  it('is recorded in the registry version beside the manifest in lineage', async () => {
    // Prepare
    const registry = new ModelRegistry({
      store: new MemoryRegistryStore(),
      eventBus: { publish: async () => {} },
    });
    const lineage = new LineageStore(new MemoryBlobStore());
    const result = train(data, {
      ...common,
      algorithm: 'lr',
      mitigation: { method: 'reweighing', attribute: 'sex', constraint: 'equal-opportunity', bound: 0.05 },
    });

    // Act
    const { version } = await publishTrainingResult(registry, lineage, result, {
      model: 'credit',
      owner: 'risk',
      intendedUse: 'tests',
      codeVersion: 'abcdef1',
      actor: 'test',
    });

    // Assess
    const stored = await registry.get('credit', version);
    const outcome = result.manifest.mitigation?.holdout;
    expect(stored.metadata.mitigation).toEqual({
      method: 'reweighing',
      attribute: 'sex',
      constraint: 'equal-opportunity',
      bound: 0.05,
      value: outcome?.value,
      met: outcome?.met,
      attributeIsInput: false,
    });
    expect(outcome?.value).toBe(result.metrics.fairness.sex?.equalOpportunityDifference);
  });

  it('names every bad field of a mitigation: method, constraint, bound and an undeclared attribute', () => {
    // Act
    const attempt = () =>
      train(data, {
        ...common,
        protected: [],
        mitigation: { method: 'magic' as never, attribute: 'sex', constraint: 'parity' as never, bound: 2 },
      });

    // Assess
    expect(attempt).toThrow(ValidationError);
    try {
      attempt();
    } catch (error) {
      const paths = (error as ValidationError).issues.map((i) => i.path);
      expect(paths).toEqual(
        expect.arrayContaining(['mitigation.method', 'mitigation.constraint', 'mitigation.attribute']),
      );
    }
    expect(() =>
      train(data, {
        ...common,
        mitigation: { method: 'reweighing', attribute: 'sex', constraint: 'equalized-odds', bound: 1.5 },
      }),
    ).toThrow(/mitigation.bound|in \[0, 1\)/);
  });
});
