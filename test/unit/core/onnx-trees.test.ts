import { describe, expect, it } from 'vitest';
import { interventionalShap } from '../../../functions/core/explain/treeshap.ts';
import { transform } from '../../../functions/core/features/pipeline.ts';
import type { GbdtModel } from '../../../functions/core/models/gbdt.ts';
import { readTreeEnsemble } from '../../../functions/core/onnx/trees.ts';
import { referenceModels } from '../../support/onnx-reference.ts';

describe('readTreeEnsemble', () => {
  const reference = referenceModels();
  const gbdt = reference.models.find((m) => m.name === 'gbdt');
  if (!gbdt) throw new Error('no gbdt reference model');
  const trained = gbdt.model as GbdtModel;

  it('reads back, from the exported ONNX, exactly the trees Keel trained', () => {
    // Act
    const read = readTreeEnsemble(gbdt.bytes, trained.features);

    // Assess
    expect(read.baseScore).toBe(trained.baseScore);
    expect(read.trees).toHaveLength(trained.trees.length);
    read.trees.forEach((tree, t) => {
      const original = trained.trees[t];
      expect(Array.from(tree.feature)).toEqual(Array.from(original?.feature ?? []));
      expect(Array.from(tree.left)).toEqual(
        Array.from(original?.left ?? []).map((v, k) => ((original?.feature[k] ?? -1) < 0 ? -1 : v)),
      );
      expect(Array.from(tree.missingLeft)).toEqual(
        Array.from(original?.missingLeft ?? []).map((v, k) => ((original?.feature[k] ?? -1) < 0 ? 0 : v)),
      );
      tree.feature.forEach((f, k) => {
        if (f >= 0) expect(tree.threshold[k]).toBe(original?.threshold[k]);
        else expect(tree.value[k]).toBe(original?.value[k]);
      });
    });
  });

  it('explains the served model as the trained one is explained', () => {
    const { matrix } = transform(reference.pipeline, reference.scoring);
    const rows = { rows: 20, cols: matrix.cols, data: matrix.data.slice(0, 20 * matrix.cols) };
    const background = {
      rows: 10,
      cols: matrix.cols,
      data: matrix.data.slice(100 * matrix.cols, 110 * matrix.cols),
    };
    const fromOnnx = interventionalShap(readTreeEnsemble(gbdt.bytes, trained.features), rows, background);
    const fromModel = interventionalShap(trained, rows, background);
    expect(Array.from(fromOnnx.values)).toEqual(Array.from(fromModel.values));
  });

  it('refuses a model with no tree ensemble', () => {
    const lr = reference.models.find((m) => m.name === 'lr');
    expect(() => readTreeEnsemble(lr?.bytes as Uint8Array, 3)).toThrow(/no TreeEnsembleRegressor/);
  });
});
