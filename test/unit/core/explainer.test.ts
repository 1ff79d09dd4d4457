import { beforeAll, describe, expect, it } from 'vitest';
import type { Table } from '../../../functions/core/data/table.ts';

import {
  DEFAULT_BACKGROUND_ROWS,
  type ExplainerArtifact,
  ExplainerError,
  type Instance,
  instancesOf,
  kernelExplain,
  ModelExplainer,
  logit as marginOf,
  tableOfInstances,
} from '../../../functions/core/explain/explainer.ts';
import { linearShap } from '../../../functions/core/explain/linear.ts';
import { pathDependentShap } from '../../../functions/core/explain/treeshap.ts';
import { transform } from '../../../functions/core/features/pipeline.ts';
import type { GbdtModel } from '../../../functions/core/models/gbdt.ts';
import type { LogisticModel } from '../../../functions/core/models/logistic.ts';
import { OnnxModel } from '../../../functions/core/onnx/runtime.ts';
import { readTreeEnsemble } from '../../../functions/core/onnx/trees.ts';
import { generateCredit } from '../../../functions/core/synthetic/credit.ts';
import { type TrainingResult, takeRows, train } from '../../../functions/core/training/train.ts';

const data = generateCredit({ rows: 2500, seed: 3 });
const rows = generateCredit({ rows: 30, seed: 4 });
const common = {
  label: 'default',
  protected: ['sex'],
  exclude: ['applicant_id'],
  bootstrapSamples: 20,
  dataHash: 'd'.repeat(64),
  codeVersion: 'abc1234',
};
let gbdt: TrainingResult;
let lr: TrainingResult;

beforeAll(() => {
  gbdt = train(data, { ...common, hyperparameters: { trees: 25 } });
  lr = train(data, { ...common, algorithm: 'lr' });
});

const logit = (p: number) => Math.log(p / (1 - p));

describe('buildExplainerArtifact (in train)', () => {
  it('keeps a seeded sample of 100 training rows, model inputs only, and the covers of every tree', () => {
    // Assess
    const artifact = gbdt.explainer;
    expect(artifact.method).toBe('tree');
    expect(artifact.background).toHaveLength(DEFAULT_BACKGROUND_ROWS);
    expect(Object.keys(artifact.background[0] ?? {})).toEqual(gbdt.pipeline.inputs.map((i) => i.name));
    const model = gbdt.model as GbdtModel;
    expect(artifact.covers).toHaveLength(model.trees.length);
    artifact.covers?.forEach((cover, t) => {
      expect(cover).toEqual(Array.from(model.trees[t]?.cover ?? []));
    });
    // Every background row is a training row (the label and protected column are not kept).
    const all = new Set(instancesOf(data, gbdt.pipeline.inputs).map((r) => JSON.stringify(r)));
    for (const row of artifact.background) expect(all.has(JSON.stringify(row))).toBe(true);
    // The same data and seed: the same sample.
    expect(train(data, { ...common, hyperparameters: { trees: 25 } }).explainer.background).toEqual(
      artifact.background,
    );
  });
});

describe('ModelExplainer', () => {
  it('explains the served ONNX trees: margins are onnxruntime’s log-odds, contributions add up', async () => {
    // Prepare
    const explainer = new ModelExplainer(
      gbdt.explainer,
      readTreeEnsemble(gbdt.onnx, gbdt.pipeline.features.length),
    );
    const onnx = await OnnxModel.load(gbdt.onnx);

    // Act
    const explanation = explainer.explain(rows);
    const { probabilities } = await onnx.scoreTable(rows);
    await onnx.release();

    // Assess
    expect(explanation).toMatchObject({
      method: 'tree',
      featurePerturbation: 'interventional',
      outputSpace: 'log-odds',
    });
    explanation.rows.forEach((row, i) => {
      const sum = Object.values(row.contributions).reduce((s, v) => s + v, 0);
      expect(Math.abs(explanation.baseValue + sum - row.margin)).toBeLessThan(1e-6);
      expect(Math.abs(row.margin - logit(probabilities[i] as number))).toBeLessThan(1e-4);
    });
  });

  it('attaches the covers to the ONNX trees by node id: path-dependent values equal the trained trees’', () => {
    // Prepare
    const explainer = new ModelExplainer(
      gbdt.explainer,
      readTreeEnsemble(gbdt.onnx, gbdt.pipeline.features.length),
    );
    const model = gbdt.model as GbdtModel;
    const x = transform(gbdt.pipeline, rows).matrix;

    // Act
    const explanation = explainer.explain(rows, { featurePerturbation: 'tree-path-dependent' });
    const expected = pathDependentShap(model, x);

    // Assess
    expect(explanation.baseValue).toBeCloseTo(expected.baseValue, 9);
    const names = gbdt.pipeline.features.map((f) => f.name);
    explanation.rows.forEach((row, i) => {
      names.forEach((n, j) => {
        expect(row.inputContributions?.[n]).toBeCloseTo(expected.values[i * x.cols + j] as number, 9);
      });
    });
  });

  it('explains logistic regression in closed form against the stored background’s mean', async () => {
    // Prepare
    const explainer = new ModelExplainer(lr.explainer);
    const model = lr.model as LogisticModel;
    const background = transform(
      lr.pipeline,
      tableOfInstances(lr.explainer.background, lr.pipeline.inputs),
    ).matrix;
    const x = transform(lr.pipeline, rows).matrix;
    const onnx = await OnnxModel.load(lr.onnx);

    // Act
    const explanation = explainer.explain(rows);
    const expected = linearShap(model, x, background);
    const { probabilities } = await onnx.scoreTable(rows);
    await onnx.release();

    // Assess
    expect(explanation.method).toBe('linear');
    expect(explainer.perturbations).toEqual(['interventional']);
    expect(explanation.baseValue).toBeCloseTo(expected.baseValue, 12);
    explanation.rows.forEach((row, i) => {
      expect(Math.abs(row.margin - logit(probabilities[i] as number))).toBeLessThan(1e-4);
      const sum = Object.values(row.contributions).reduce((s, v) => s + v, 0);
      expect(Math.abs(explanation.baseValue + sum - row.margin)).toBeLessThan(1e-6);
    });
  });

  it.each<[string, (a: ExplainerArtifact) => ExplainerArtifact, string]>([
    ['no background', (a) => ({ ...a, background: [] }), 'background'],
    ['covers of another model', (a) => ({ ...a, covers: a.covers?.slice(1) ?? [] }), 'covers'],
    ['an unknown format', (a) => ({ ...a, format: 'keel.explainer/v9' as never }), 'format'],
  ])('refuses an artifact with %s, naming the field', (_, change, field) => {
    // Act
    const build = () =>
      new ModelExplainer(change(gbdt.explainer), readTreeEnsemble(gbdt.onnx, gbdt.pipeline.features.length));

    // Assess
    expect(build).toThrow(ExplainerError);
    try {
      build();
    } catch (error) {
      expect((error as ExplainerError).field).toBe(field);
    }
  });

  it('refuses path-dependent explanations of a linear model, naming featurePerturbation', () => {
    // Act
    const explain = () =>
      new ModelExplainer(lr.explainer).explain(rows, { featurePerturbation: 'tree-path-dependent' });

    // Assess
    expect(explain).toThrow(/interventionally only/);
  });
});

describe('kernelExplain', () => {
  /** Shapley values of the raw-column game, each v(S) built row by row from instances. */
  async function enumerated(
    margins: (t: Table) => Promise<ArrayLike<number>>,
    x: Instance,
    background: readonly Instance[],
    inputs: TrainingResult['pipeline']['inputs'],
  ): Promise<number[]> {
    const M = inputs.length;
    const v = new Float64Array(2 ** M);
    for (let bits = 0; bits < 2 ** M; bits++) {
      const rows = background.map((b) =>
        Object.fromEntries(inputs.map(({ name }, j) => [name, bits & (1 << j) ? x[name] : b[name]])),
      ) as Instance[];
      const scored = await margins(tableOfInstances(rows, inputs));
      v[bits] = Array.from(scored).reduce((a, b) => a + b, 0) / rows.length;
    }
    const factorial = (n: number): number => (n <= 1 ? 1 : n * factorial(n - 1));
    return inputs.map((_, j) => {
      let phi = 0;
      for (let bits = 0; bits < 2 ** M; bits++) {
        if (bits & (1 << j)) continue;
        let size = 0;
        for (let k = 0; k < M; k++) if (bits & (1 << k)) size++;
        const weight = (factorial(size) * factorial(M - size - 1)) / factorial(M);
        phi += weight * ((v[bits | (1 << j)] as number) - (v[bits] as number));
      }
      return phi;
    });
  }

  it('with every coalition equals the Shapley values enumerated by hand, rows explained together or alone', async () => {
    // Prepare: a background without some of the rows' categories, and rows with missing values.
    const onnx = await OnnxModel.load(lr.onnx);
    const margins = async (t: Table) => (await onnx.scoreTable(t)).probabilities.map(marginOf);
    const inputs = lr.pipeline.inputs;
    const players = inputs.map((i) => i.name);
    const background = tableOfInstances(lr.explainer.background.slice(0, 12), inputs);
    const picked = instancesOf(takeRows(rows, [0, 1, 2]), inputs);
    const x = tableOfInstances(
      [
        picked[0] as Instance,
        { ...(picked[1] as Instance), income: null, region: 'atlantis' },
        picked[2] as Instance,
      ],
      inputs,
    );
    const all = 2 ** players.length;

    // Act
    const together = await kernelExplain(margins, x, background, players, { samples: all });
    const alone = await kernelExplain(margins, takeRows(x, [1]), background, players, { samples: all });
    const expected = await Promise.all(
      instancesOf(x, inputs).map((row) => enumerated(margins, row, instancesOf(background, inputs), inputs)),
    );
    await onnx.release();

    // Assess
    expect(together.method).toBe('kernel');
    together.rows.forEach((row, i) => {
      players.forEach((name, j) => {
        expect(Math.abs((row.contributions[name] as number) - (expected[i]?.[j] as number))).toBeLessThan(
          1e-6,
        );
      });
      const sum = Object.values(row.contributions).reduce((a, b) => a + b, together.baseValue);
      expect(Math.abs(sum - row.margin)).toBeLessThan(1e-9);
    });
    // The coalition table is reused between rows: the second row's values are the same alone.
    players.forEach((name) => {
      expect(
        Math.abs(
          (alone.rows[0]?.contributions[name] as number) - (together.rows[1]?.contributions[name] as number),
        ),
      ).toBeLessThan(1e-9);
    });
    expect(Math.abs(together.rows[1]?.contributions.region as number)).toBeGreaterThan(0);
  });

  it('refuses an empty background and a scorer that answers for other rows, naming them', async () => {
    const players = lr.pipeline.inputs.map((i) => i.name);
    const background = tableOfInstances(lr.explainer.background.slice(0, 3), lr.pipeline.inputs);
    const empty = tableOfInstances([], lr.pipeline.inputs);
    await expect(
      kernelExplain(async (t) => new Float64Array(t.rowCount), rows, empty, players),
    ).rejects.toMatchObject({ field: 'background' });
    await expect(
      kernelExplain(async () => new Float64Array(1), takeRows(rows, [0]), background, players, {
        samples: 64,
      }),
    ).rejects.toMatchObject({ field: 'scorer' });
  });
});
