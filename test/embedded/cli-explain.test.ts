import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliExplanation as Explanation } from '../../cli/commands/explain.ts';
import { creditTrainArgs, runKeel, tempProject } from '../support/cli.ts';

let dir: string;
let configFile: string;
const path = (...parts: string[]) => join(dir, ...parts);
const keel = (...args: string[]) => runKeel(configFile, ...args);

beforeAll(async () => {
  ({ dir, configFile } = await tempProject('keel-cli-explain-'));
  for (const [rows, seed, out] of [
    ['2000', '5', 'train.csv'],
    ['6', '9', 'rows.csv'],
    ['40', '10', 'background.csv'],
  ] as const)
    expect((await keel('synth', '--rows', rows, '--seed', seed, '--out', path(out))).code).toBe(0);
  for (const [kind, out] of [
    ['gbdt', 'gbdt'],
    ['lr', 'lr'],
  ] as const) {
    const trained = await keel(
      ...creditTrainArgs(
        path('train.csv'),
        path(out),
        '--model',
        kind,
        ...(kind === 'gbdt' ? ['--param', 'trees=20'] : []),
      ),
    );
    expect(trained.code, trained.err).toBe(0);
  }
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('keel explain', () => {
  it.each([
    ['gbdt', 'tree', []],
    ['gbdt', 'tree', ['--feature-perturbation', 'tree-path-dependent']],
    ['lr', 'linear', []],
    ['lr', 'kernel', ['--method', 'kernel']],
  ])(
    'explains a %s model directory by %s SHAP %j: base value + Σ contributions = log-odds on every row',
    async (model, method, extra) => {
      // Act
      const result = await keel(
        'explain',
        '--model',
        path(model),
        '--data',
        path('rows.csv'),
        '--background',
        path('background.csv'),
        ...extra,
        '--json',
      );

      // Assess
      expect(result.code, result.err).toBe(0);
      const explanation = JSON.parse(result.out) as Explanation;
      expect(explanation.method).toBe(method);
      expect(explanation.outputSpace).toBe('log-odds');
      expect(explanation.rows).toHaveLength(6);
      for (const row of explanation.rows) {
        const sum = Object.values(row.contributions).reduce((a, b) => a + b, explanation.baseValue);
        expect(Math.abs(sum - row.margin)).toBeLessThan(1e-6);
        // The probability is onnxruntime's float32 answer for the same row.
        expect(Math.abs(1 / (1 + Math.exp(-row.margin)) - row.prediction)).toBeLessThan(1e-5);
        if (method !== 'kernel') {
          const inputs = Object.values(row.inputContributions ?? {}).reduce(
            (a, b) => a + b,
            explanation.baseValue,
          );
          expect(Math.abs(inputs - row.margin)).toBeLessThan(1e-6);
        }
      }
      // Raw columns, not model inputs: no one-hot names among the contributions.
      expect(Object.keys(explanation.rows[0]?.contributions ?? {})).toContain('income');
      expect(Object.keys(explanation.rows[0]?.contributions ?? {}).some((k) => k.includes('='))).toBe(false);
    },
  );

  it('prints the top columns per row as signed bars, against the training rows stored with the model', async () => {
    const result = await keel('explain', '--model', path('gbdt'), '--data', path('rows.csv'), '--top', '3');
    expect(result.code, result.err).toBe(0);
    expect(result.out).toMatch(/: TreeSHAP \(interventional\) of the log-odds; base value -?\d/);
    expect(result.out).toMatch(/background: 100 training rows stored with /);
    expect(result.out.match(/^ {2}\S+ +[+−]\d\.\d{4} +[█▒]+$/gm)).toHaveLength(18);
  });

  it('refuses a tree explanation of a linear model, and data without the model inputs, naming them', async () => {
    const tree = await keel('explain', '--model', path('lr'), '--data', path('rows.csv'), '--method', 'tree');
    expect(tree.code).toBe(2);
    expect(tree.err).toMatch(/method.*not a tree ensemble/s);
    const path_ = await keel(
      'explain',
      '--model',
      path('lr'),
      '--data',
      path('rows.csv'),
      '--feature-perturbation',
      'tree-path-dependent',
    );
    expect(path_.code).toBe(2);
    // A directory without a stored explainer, one row: nothing to explain it against.
    await rm(path('lr', 'explainer.json'));
    await writeFile(
      path('one.csv'),
      (await readFile(path('rows.csv'), 'utf8')).split('\n').slice(0, 2).join('\n'),
    );
    const alone = await keel('explain', '--model', path('lr'), '--data', path('one.csv'));
    expect(alone.code).toBe(2);
    expect(alone.err).toMatch(/background.*has no stored background/s);
    expect(path_.err).toMatch(/feature-perturbation.*interventionally only/s);
    const bad = await keel(
      'explain',
      '--model',
      path('gbdt'),
      '--data',
      path('train.csv'),
      '--background',
      configFile,
    );
    expect(bad.code).toBe(2);
  });
});

describe('keel importance, pdp, counterfactual', () => {
  it('ranks the raw columns by AUC drop with a spread, and by mean |SHAP| from the stored explainer', async () => {
    // Act
    const result = await keel(
      'importance',
      '--model',
      path('gbdt'),
      '--data',
      path('train.csv'),
      '--repeats',
      '3',
      '--json',
    );

    // Assess
    expect(result.code, result.err).toBe(0);
    const report = JSON.parse(result.out);
    expect(report.baselineAuc).toBeGreaterThan(0.7);
    const drops = report.permutation.map((p: { aucDrop: number }) => p.aucDrop);
    expect(drops).toEqual([...drops].sort((a, b) => b - a));
    for (const p of report.permutation) expect(p.std).toBeGreaterThanOrEqual(0);
    // The label and the protected and excluded columns are not inputs, so they are not ranked.
    const ranked = report.permutation.map((p: { column: string }) => p.column);
    expect(ranked).not.toContain('default');
    expect(ranked).not.toContain('sex');
    expect(ranked.slice(0, 2).sort()).toEqual(['debt', 'income']);
    expect(report.meanAbsShap.columns[0].column).toMatch(/^(debt|income)$/);
  });

  it('gives partial dependence on a grid of a numeric column, and by category, with ICE on request', async () => {
    // Act
    const numeric = await keel(
      'pdp',
      '--model',
      path('gbdt'),
      '--data',
      path('background.csv'),
      '--column',
      'debt',
      '--resolution',
      '7',
      '--ice',
      '--json',
    );
    const both = await keel(
      'pdp',
      '--model',
      path('lr'),
      '--data',
      path('background.csv'),
      '--column',
      'debt',
      '--column',
      'employment',
      '--resolution',
      '4',
      '--json',
    );
    const bad = await keel(
      'pdp',
      '--model',
      path('gbdt'),
      '--data',
      path('background.csv'),
      '--column',
      'sex',
    );

    // Assess
    expect(numeric.code, numeric.err).toBe(0);
    const pd = JSON.parse(numeric.out);
    expect(pd.grid[0]).toHaveLength(7);
    expect(pd.individual).toHaveLength(40);
    // The average is the mean of the ICE curves, point by point.
    pd.average.forEach((a: number, k: number) => {
      const mean = pd.individual.reduce((s: number, r: number[]) => s + (r[k] as number), 0) / 40;
      expect(a).toBeCloseTo(mean, 12);
    });
    expect(both.code, both.err).toBe(0);
    const grid = JSON.parse(both.out);
    expect(grid.average).toHaveLength(4 * grid.grid[1].length);
    expect(grid.grid[1].every((c: unknown) => typeof c === 'string')).toBe(true);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/sex is not a raw input/);
  });

  it('finds diverse counterfactuals that reach the other decision, never touching immutable columns or going against a direction', async () => {
    // Act: the config lets late payments only increase; income is made immutable here.
    const result = await keel(
      'counterfactual',
      '--model',
      path('gbdt'),
      '--data',
      path('rows.csv'),
      '--row',
      '2',
      '--immutable',
      'income',
      '--json',
    );

    // Assess
    expect(result.code, result.err).toBe(0);
    const found = JSON.parse(result.out);
    expect(found.immutable).toContain('income');
    expect(found.bounds).toMatchObject({ late_payments: { direction: 'increase' }, debt: { min: 0 } });
    const wantHigh = found.desired === 1;
    expect(found.counterfactuals.length).toBeGreaterThan(0);
    for (const c of found.counterfactuals) {
      expect(wantHigh ? c.score >= 0.5 : c.score < 0.5).toBe(true);
      expect(Object.keys(c.changes)).not.toContain('income');
      const late = c.changes.late_payments;
      if (late) expect(late.to).toBeGreaterThan(late.from);
    }
    // Diverse: no answer's changed columns contain another's.
    const sets = found.counterfactuals.map((c: { changes: object }) => Object.keys(c.changes));
    sets.forEach((a: string[], i: number) => {
      sets.forEach((b: string[], j: number) => {
        if (i !== j) expect(b.every((col) => a.includes(col))).toBe(false);
      });
    });
  });
});
