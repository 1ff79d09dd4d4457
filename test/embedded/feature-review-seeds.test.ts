/**
 * The stale-feature review's acceptance on the credit population, over repeated seeds: a model
 * trained where employment predicts default, then reviewed on production decisions where it has
 * stopped (`staleEmployment: 1`) and on decisions where nothing changed. The review must flag
 * employment, and only it, in the first, and nothing in the second, seed after seed.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Table } from '../../functions/core/data/table.ts';
import { importanceSummary, reviewFeatures } from '../../functions/core/explain/feature-review.ts';
import { permutationImportance } from '../../functions/core/explain/importance.ts';
import { OnnxModel } from '../../functions/core/onnx/runtime.ts';
import { generateCredit } from '../../functions/core/synthetic/credit.ts';
import { train } from '../../functions/core/training/train.ts';

const credit = JSON.parse(readFileSync('examples/credit/keel.config.json', 'utf8')).models.credit;
const PRODUCTION_ROWS = 30_000;

describe('stale-feature review on the credit population', () => {
  it.each([1, 2, 3, 4])(
    'seed %i: flags employment once it stops predicting default, and nothing while it still does',
    async (seed) => {
      // Prepare: the shipped model's configuration, trained where employment matters.
      const result = train(generateCredit({ rows: 20_000, seed }), {
        label: 'default',
        protected: credit.data.protectedAttributes,
        exclude: credit.data.piiFields,
        features: credit.features,
        costs: credit.costs,
        bootstrapSamples: 50,
        dataHash: 'c'.repeat(64),
        codeVersion: 'test',
      });
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
