/**
 * The stale-feature review's acceptance on the credit population, over repeated seeds: a model
 * trained where employment predicts default, then reviewed on production decisions where it has
 * stopped (`staleEmployment: 1`) and on decisions where nothing changed. The review must flag
 * employment, and only it, in the first, and nothing in the second, seed after seed.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Table } from '../../functions/core/data/table.ts';
import { outcomeWeights } from '../../functions/core/explain/drift-attribution.ts';
import { tableOfInstances } from '../../functions/core/explain/explainer.ts';
import {
  importanceSummary,
  meanAbsShapWithError,
  outcomeShapes,
  reviewFeatures,
} from '../../functions/core/explain/feature-review.ts';
import { permutationImportance } from '../../functions/core/explain/importance.ts';
import { OnnxModel } from '../../functions/core/onnx/runtime.ts';
import { modelExplainer } from '../../functions/core/onnx/trees.ts';
import { generateCredit } from '../../functions/core/synthetic/credit.ts';
import { takeRows, train } from '../../functions/core/training/train.ts';

const credit = JSON.parse(readFileSync('examples/credit/keel.config.json', 'utf8')).models.credit;
const PRODUCTION_ROWS = 30_000;

/** The shipped model's configuration, trained on 20,000 rows of the population where employment matters. */
const trainCredit = (seed: number) =>
  train(generateCredit({ rows: 20_000, seed }), {
    label: 'default',
    protected: credit.data.protectedAttributes,
    exclude: credit.data.piiFields,
    features: credit.features,
    costs: credit.costs,
    bootstrapSamples: 50,
    dataHash: 'c'.repeat(64),
    codeVersion: 'test',
  });

describe('stale-feature review on the credit population', () => {
  it.each([1, 2, 3, 4])(
    'seed %i: flags employment once it stops predicting default, and nothing while it still does',
    async (seed) => {
      // Prepare: the shipped model's configuration, trained where employment matters.
      const result = trainCredit(seed);
      const training = result.manifest.importance;
      expect(training?.columns.map((c) => c.column)).toEqual(
        result.manifest.schema.inputs.map((i) => i.name),
      );
      const onnx = await OnnxModel.load(result.onnx);
      const score = async (t: Table) => (await onnx.scoreTable(t)).probabilities;
      const review = async (production: Table) => {
        const labels = (production.columns.get('default') as { values: Float64Array }).values;
        const r = await permutationImportance(score, production, labels, {
          repeats: 5,
          seed,
          columns: training?.columns.map((c) => c.column),
        });
        return reviewFeatures({
          training: training as NonNullable<typeof training>,
          production: importanceSummary(r, production.rowCount, 5),
        });
      };

      try {
        // Act
        const stale = await review(
          generateCredit({ rows: PRODUCTION_ROWS, seed: 1000 + seed, staleEmployment: 1 }),
        );
        const steady = await review(generateCredit({ rows: PRODUCTION_ROWS, seed: 2000 + seed }));

        // Assess
        expect(stale.stale, stale.summary).toEqual(['employment']);
        expect(stale.flagged, stale.summary).toEqual(['employment']);
        expect(steady.flagged, steady.summary).toEqual([]);
        // Region never mattered: weak, not stale.
        expect(stale.features.find((f) => f.column === 'region')?.status).toBe('weak');
      } finally {
        await onnx.release();
      }
    },
    120_000,
  );
});

describe('unstable columns on the credit population', () => {
  it.each([
    ['concept drift (late payments weigh three times as much)', { conceptDrift: 2 }, ['late_payments']],
    ['covariate drift (incomes fall, debts rise: no relationship changes)', { covariateDrift: 0.4 }, []],
  ] as const)(
    '%s',
    async (_, drift, unstable) => {
      // Prepare: the shipped model, reviewed with its explainer (mean |SHAP|, outcome weights and shapes).
      const result = trainCredit(3);
      const training = result.manifest.importance as NonNullable<typeof result.manifest.importance>;
      const onnx = await OnnxModel.load(result.onnx);
      const production = generateCredit({ rows: PRODUCTION_ROWS, seed: 3003, ...drift });
      const labels = (production.columns.get('default') as { values: Float64Array }).values;
      try {
        // Act
        const importance = await permutationImportance(
          async (t) => (await onnx.scoreTable(t)).probabilities,
          production,
          labels,
          { repeats: 5, seed: 3, columns: training.columns.map((c) => c.column) },
        );
        const explainer = modelExplainer(result.explainer, result.onnx);
        const rows = Array.from({ length: 2000 }, (_, i) => i * 15);
        const current = explainer.explain(takeRows(production, rows));
        const reference = explainer.explain(
          tableOfInstances(result.explainer.reference ?? [], result.explainer.pipeline.inputs),
        );
        const outcomes = rows.map((i) => labels[i] as number);
        const names = Object.keys(current.rows[0]?.contributions ?? {});
        const review = reviewFeatures({
          training,
          production: importanceSummary(importance, production.rowCount, 5),
          shap: { training: meanAbsShapWithError(reference), production: meanAbsShapWithError(current) },
          weights: outcomeWeights(current, outcomes, names).columns,
          shapes: outcomeShapes(current, outcomes, names),
        });

        // Assess
        expect(
          review.features.filter((f) => f.status === 'unstable').map((f) => f.column),
          review.summary,
        ).toEqual(unstable);
        expect(review.stale).toEqual([]);
      } finally {
        await onnx.release();
      }
    },
    120_000,
  );
});
