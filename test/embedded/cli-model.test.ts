import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTarget } from '../../cli/target.ts';
import { readCsv } from '../../functions/core/data/csv.ts';
import { OnnxModel } from '../../functions/core/onnx/runtime.ts';
import { canonicalJson } from '../../functions/kernel/canonical-json.ts';
import { creditTrainArgs, runKeel, tempProject } from '../support/cli.ts';

let dir: string;
let configFile: string;
const path = (...parts: string[]) => join(dir, ...parts);

const keel = (...args: string[]) => runKeel(configFile, ...args);

beforeAll(async () => {
  ({ dir, configFile } = await tempProject('keel-cli-model-'));
  expect(
    (
      await keel(
        'synth',
        '--rows',
        '3000',
        '--seed',
        '5',
        '--missing-income',
        '0.1',
        '--out',
        path('train.csv'),
      )
    ).code,
  ).toBe(0);
  expect(
    (
      await keel(
        'synth',
        '--rows',
        '1500',
        '--seed',
        '6',
        '--covariate-drift',
        '0.5',
        '--out',
        path('current.csv'),
      )
    ).code,
  ).toBe(0);
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const baseArgs = (out: string) => creditTrainArgs(path('train.csv'), out, '--bootstrap', '50');
const trainArgs = (out: string, ...extra: string[]) => [...baseArgs(out), '--param', 'trees=30', ...extra];

describe('keel train', () => {
  it('writes model.onnx, manifest.json, pipeline.json, metrics.json, audit.json and explainer.json', async () => {
    // Act
    const result = await keel(...trainArgs(path('m1'), '--json'));

    // Assess
    expect(result.code).toBe(0);
    expect((await readdir(path('m1'))).sort()).toEqual(
      ['audit.json', 'explainer.json', 'manifest.json', 'metrics.json', 'model.onnx', 'pipeline.json'].sort(),
    );
    const printed = JSON.parse(result.out) as { manifest: Record<string, unknown>; metrics: { auc: number } };
    const manifest = JSON.parse(await readFile(path('m1', 'manifest.json'), 'utf8'));
    expect(manifest).toEqual(printed.manifest);
    expect(manifest).toMatchObject({
      format: 'keel.model/v1',
      algorithm: 'gbdt',
      seed: 42,
      label: 'default',
      protected: ['sex'],
      hyperparameters: { trees: 30 },
      codeVersion: expect.stringMatching(/^keel@/),
      hashes: {
        model: expect.stringMatching(/^[0-9a-f]{64}$/),
        pipeline: expect.stringMatching(/^[0-9a-f]{64}$/),
        trainingData: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
    });
    expect(printed.metrics.auc).toBeGreaterThan(0.7);
    const model = await OnnxModel.load(await readFile(path('m1', 'model.onnx')));
    expect(model.metadata['keel.training_data_hash']).toBe(manifest.hashes.trainingData);
    await model.release();
  });

  it('trains logistic regression with --model lr and is deterministic for a seed', async () => {
    // Act
    const a = await keel(...baseArgs(path('lr-a')), '--model', 'lr', '--seed', '9', '--param', 'C=0.5');
    const b = await keel(...baseArgs(path('lr-b')), '--model', 'lr', '--seed', '9', '--param', 'C=0.5');
    const wrong = await keel(...baseArgs(path('lr-c')), '--model', 'lr', '--param', 'trees=30');

    // Assess
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(wrong.code).toBe(2);
    expect(wrong.err).toMatch(/hyperparameters.trees: unknown for lr/);
    expect(a.out).toMatch(/trained lr-[0-9a-f]{12}/);
    expect(await readFile(path('lr-a', 'model.onnx'))).toEqual(await readFile(path('lr-b', 'model.onnx')));
  });

  it('refuses an output directory holding a model unless --force, and replaces it whole with --force', async () => {
    // Prepare
    await keel(...trainArgs(path('m2')));
    const before = await readFile(path('m2', 'manifest.json'), 'utf8');

    // Act
    const refused = await keel(...trainArgs(path('m2'), '--seed', '7'));
    const forced = await keel(...trainArgs(path('m2'), '--seed', '7', '--force'));

    // Assess
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/already holds a model; use --force/);
    expect(forced.code).toBe(0);
    const after = JSON.parse(await readFile(path('m2', 'manifest.json'), 'utf8'));
    expect(after.seed).toBe(7);
    expect(after.id).not.toBe(JSON.parse(before).id);
    expect((await readdir(dir)).filter((f) => f.includes('.partial-') || f.includes('.old-'))).toEqual([]);
  });

  it('refuses a non-empty directory that is not a model, even with --force', async () => {
    // Prepare
    await mkdir(path('notes'));
    await writeFile(path('notes', 'todo.txt'), 'keep me');

    // Act
    const result = await keel(...trainArgs(path('notes'), '--force'));

    // Assess
    expect(result.code).toBe(2);
    expect(await readFile(path('notes', 'todo.txt'), 'utf8')).toBe('keep me');
  });

  it('stores model, pipeline, metrics and audit in lineage with --lineage', async () => {
    // Act
    const result = await keel(...trainArgs(path('m3'), '--lineage'));

    // Assess
    expect(result.code).toBe(0);
    const manifest = JSON.parse(await readFile(path('m3', 'manifest.json'), 'utf8'));
    expect(manifest.lineage.model.sha256).toBe(manifest.hashes.model);
    const target = await openTarget(configFile);
    try {
      const audit = await target.lineage.getJson(manifest.lineage.audit);
      expect(canonicalJson(audit)).toBe(
        canonicalJson(JSON.parse(await readFile(path('m3', 'audit.json'), 'utf8'))),
      );
      expect((await target.lineage.getBytes(manifest.lineage.model)).byteLength).toBe(
        (await readFile(path('m3', 'model.onnx'))).byteLength,
      );
    } finally {
      await target.close();
    }
  }, 60_000);

  it('draws a progress bar on a terminal', async () => {
    // Prepare: pretend stderr is a TTY and capture what the bar draws.
    const stderr = process.stderr as NodeJS.WriteStream & { isTTY: boolean };
    const wasTTY = stderr.isTTY;
    const write = stderr.write;
    let drawn = '';
    stderr.isTTY = true;
    stderr.write = ((chunk: string | Uint8Array) => {
      drawn += chunk.toString();
      return true;
    }) as typeof stderr.write;

    // Act
    let result: Awaited<ReturnType<typeof keel>>;
    try {
      result = await keel(...trainArgs(path('m4')));
    } finally {
      stderr.isTTY = wasTTY;
      stderr.write = write;
    }

    // Assess
    expect(result.code).toBe(0);
    expect(drawn).toMatch(/training\s*\[/);
    expect(drawn).toMatch(/\d+\/30/);
  });
});

describe('keel train refuses bad input and leaves no model behind', () => {
  const cases: [string, () => Promise<string>, string[], RegExp][] = [
    ['an empty file', async () => writeCsv('empty.csv', ''), [], /empty/],
    ['a missing label column', async () => path('train.csv'), ['--label', 'outcome'], /outcome/],
    [
      'a label that is not binary',
      async () => writeCsv('ternary.csv', 'x,default\n1,0\n2,1\n3,2\n4,0\n'),
      [],
      /label must be 0 or 1/,
    ],
    ['a missing protected column', async () => path('train.csv'), ['--protected', 'race'], /race/],
    [
      'an all-missing column',
      async () =>
        writeCsv(
          'nan.csv',
          `x,empty,default\n${Array.from({ length: 40 }, (_, i) => `${i},,${i % 2}`).join('\n')}\n`,
        ),
      [],
      /empty: every value is missing/,
    ],
    ['a seed that is not an integer', async () => path('train.csv'), ['--seed', '1.5'], /integer/],
  ];

  async function writeCsv(name: string, text: string): Promise<string> {
    await writeFile(path(name), text);
    return path(name);
  }

  it.each(cases)('%s', async (_, data, extra, message) => {
    // Prepare
    const out = path(`bad-${Math.random().toString(36).slice(2)}`);
    const file = await data();

    // Act
    const result = await keel('train', '--data', file, '--label', 'default', '--out', out, ...extra);

    // Assess
    expect(result.code).toBe(2);
    expect(result.err).toMatch(message);
    expect(existsSync(out)).toBe(false);
    expect((await readdir(dir)).filter((f) => f.includes('.partial-'))).toEqual([]);
  });
});

describe('keel evaluate, predict and audit', () => {
  beforeAll(async () => {
    if (!existsSync(path('m1'))) await keel(...trainArgs(path('m1')));
  }, 60_000);

  it('evaluate --json prints the metrics with camelCase keys, fairness per attribute and costs', async () => {
    // Act
    const result = await keel(
      'evaluate',
      '--model',
      path('m1'),
      '--data',
      path('current.csv'),
      '--label',
      'default',
      '--protected',
      'sex',
      '--protected',
      'age_band',
      '--segment',
      'region',
      '--cost-fp',
      '150',
      '--cost-fn',
      '2500',
      '--bootstrap',
      '100',
      '--json',
    );

    // Assess
    expect(result.code).toBe(0);
    const report = JSON.parse(result.out);
    for (const key of ['auc', 'logLoss', 'brier', 'ece', 'accuracy', 'precision', 'recall', 'f1'])
      expect(typeof report[key]).toBe('number');
    expect(report.rows).toBe(1500);
    expect(report.confusion.tp + report.confusion.fp + report.confusion.tn + report.confusion.fn).toBe(1500);
    expect(typeof report.fairness.sex.demographicParityRatio).toBe('number');
    expect(typeof report.fairness.age_band.equalizedOddsDifference).toBe('number');
    expect(Object.keys(report.segments.region).sort()).toEqual(['east', 'north', 'south', 'west']);
    expect(report.cost.optimalPer1000).toBeLessThanOrEqual(report.cost.per1000);
    expect(report.intervals.auc.lower).toBeLessThan(report.auc);
  });

  it('predict --json prints one probability per row, as onnxruntime scores them', async () => {
    // Act
    const result = await keel('predict', '--model', path('m1'), '--data', path('current.csv'), '--json');

    // Assess
    expect(result.code).toBe(0);
    const probabilities = JSON.parse(result.out) as number[];
    expect(probabilities).toHaveLength(1500);
    const model = await OnnxModel.load(await readFile(path('m1', 'model.onnx')));
    const expected = await model.scoreTable(await readCsv(path('current.csv')));
    await model.release();
    probabilities.forEach((p, i) => {
      expect(p).toBeCloseTo(expected.probabilities[i] as number, 12);
    });
  });

  it('audit --json reports the shift against --reference and --fail-on makes it exit 1', async () => {
    // Act
    const report = await keel(
      'audit',
      '--data',
      path('current.csv'),
      '--label',
      'default',
      '--reference',
      path('train.csv'),
      '--exclude',
      'applicant_id',
      '--json',
    );
    const strict = await keel(
      'audit',
      '--data',
      path('current.csv'),
      '--label',
      'default',
      '--reference',
      path('train.csv'),
      '--exclude',
      'applicant_id',
      '--fail-on',
      'critical',
    );
    const clean = await keel(
      'audit',
      '--data',
      path('train.csv'),
      '--label',
      'default',
      '--exclude',
      'applicant_id',
      '--fail-on',
      'critical',
    );

    // Assess
    expect(report.code).toBe(0);
    const parsed = JSON.parse(report.out);
    expect(parsed.passed).toBe(false);
    expect(parsed.shift.income.psi).toBeGreaterThan(0.25);
    expect(parsed.findings).toContainEqual(
      expect.objectContaining({ check: 'shift', column: 'income', severity: 'critical' }),
    );
    expect(strict.code).toBe(1);
    expect(strict.err).toMatch(/audit failed/);
    expect(clean.code).toBe(0);
  });

  it('audit --lineage stores the report under its content address', async () => {
    // Act
    const result = await keel(
      'audit',
      '--data',
      path('train.csv'),
      '--label',
      'default',
      '--lineage',
      '--json',
    );

    // Assess
    expect(result.code).toBe(0);
    const { lineage, ...report } = JSON.parse(result.out);
    const target = await openTarget(configFile);
    try {
      expect(canonicalJson(await target.lineage.getJson(lineage))).toBe(canonicalJson(report));
    } finally {
      await target.close();
    }
  }, 60_000);
});

describe('keel synth refuses bad values', () => {
  it.each([['-5'], ['0'], ['1.5'], ['abc']])(
    '--rows %s is a usage error, and nothing is written',
    async (rows) => {
      // Act
      const result = await keel('synth', '--rows', rows, '--out', path(`bad-${rows}.csv`));

      // Assess
      expect(result.code).toBe(2);
      expect(result.err).toMatch(/--rows/);
      expect(existsSync(path(`bad-${rows}.csv`))).toBe(false);
    },
  );
});

describe('keel train --mitigate', () => {
  it('reweighs for demographic parity on a biased population, records the outcome, and keel evaluate reports it', async () => {
    // Prepare: labels biased against women, and a region that gives sex away. 12,000 rows: with
    // 8,000 the holdout's ratio itself spread 0.74–0.82 over seeds.
    const synth = await keel(
      'synth',
      '--rows',
      '12000',
      '--seed',
      '5',
      '--group-bias',
      '1.25',
      '--group-proxy',
      '0.7',
      '--out',
      path('biased.csv'),
    );
    expect(synth.code, synth.err).toBe(0);
    const args = (out: string, ...extra: string[]) =>
      creditTrainArgs(path('biased.csv'), path(out), '--model', 'lr', '--bootstrap', '20', ...extra);

    // Act
    const plain = await keel(...args('plain'), '--json');
    const mitigated = await keel(
      ...args('mitigated'),
      '--mitigate',
      'reweighing',
      '--fairness',
      'demographic-parity',
    );
    const reduced = await keel(
      ...args('reduced'),
      '--mitigate',
      'exponentiated-gradient',
      '--fairness',
      'demographic-parity',
      '--mitigation-iterations',
      '12',
      '--json',
    );
    const adversarial = await keel(
      ...args('adversarial'),
      '--mitigate',
      'adversarial',
      '--fairness',
      'demographic-parity',
      '--adversary-weight',
      '1',
      '--json',
    );
    const thresholded = await keel(
      ...args('thresholded'),
      '--mitigate',
      'threshold',
      '--fairness',
      'equal-opportunity',
    );
    const evaluated = await keel(
      'evaluate',
      '--model',
      path('mitigated'),
      '--data',
      path('biased.csv'),
      '--bootstrap',
      '0',
      '--json',
    );

    // Assess
    expect(plain.code, plain.err).toBe(0);
    expect(mitigated.code, mitigated.err).toBe(0);
    expect(mitigated.out).toMatch(
      /mitigation: reweighing for demographic-parity on sex: holdout demographicParityRatio 0\.\d{3} ≥ 0\.8: met/,
    );
    const manifest = JSON.parse(await readFile(path('mitigated', 'manifest.json'), 'utf8'));
    expect(manifest.mitigation).toMatchObject({
      method: 'reweighing',
      attribute: 'sex',
      attributeIsInput: false,
    });
    expect(JSON.parse(plain.out).metrics.fairness.sex.demographicParityRatio).toBeLessThan(0.8);
    expect(evaluated.code, evaluated.err).toBe(0);
    const report = JSON.parse(evaluated.out);
    expect(report.constraint).toMatchObject({
      attribute: 'sex',
      constraint: 'demographic-parity',
      bound: 0.8,
    });
    expect(report.constraint.value).toBe(report.fairness.sex.demographicParityRatio);
    expect(reduced.code, reduced.err).toBe(0);
    const reduction = JSON.parse(reduced.out).manifest.mitigation;
    expect(reduction).toMatchObject({ method: 'exponentiated-gradient', holdout: { met: true } });
    expect(reduction.reduction.rounds).toBeLessThanOrEqual(12);
    expect(adversarial.code, adversarial.err).toBe(0);
    const game = JSON.parse(adversarial.out).manifest.mitigation;
    expect(game).toMatchObject({
      method: 'adversarial',
      holdout: { met: true },
      adversarial: { steps: 600, adversaryWeight: 1, groups: ['female', 'male'] },
    });
    expect(thresholded.code, thresholded.err).toBe(0);
    expect(thresholded.out).toMatch(/note: sex is now a model input/);
    const thresholds = JSON.parse(await readFile(path('thresholded', 'manifest.json'), 'utf8'));
    expect(thresholds.mitigation).toMatchObject({ method: 'threshold', attributeIsInput: true });
    expect(thresholds.schema.inputs).toContainEqual({ name: 'sex', type: 'categorical' });
    // The model keel evaluate scores reads sex from the data like any input.
    const evaluatedThreshold = await keel(
      'evaluate',
      '--model',
      path('thresholded'),
      '--data',
      path('biased.csv'),
      '--bootstrap',
      '0',
      '--json',
    );
    expect(evaluatedThreshold.code, evaluatedThreshold.err).toBe(0);
    expect(JSON.parse(evaluatedThreshold.out).constraint).toMatchObject({ constraint: 'equal-opportunity' });
  }, 180_000);

  it.each([
    [['--mitigate', 'reweighing'], /fairness.*needs a constraint/s],
    [
      ['--mitigate', 'reweighing', '--fairness', 'demographic-parity', '--fairness-bound', '1.5'],
      /fairness-bound.*got 1.5/s,
    ],
    [['--mitigate', 'magic', '--fairness', 'demographic-parity'], /--mitigate.*magic/s],
    [['--fairness-attribute', 'sex'], /fairness-attribute.*give --mitigate/s],
    [['--fairness', 'equalized-odds'], /fairness.*give --mitigate/s],
    [['--mitigation-iterations', '0', '--mitigate', 'exponentiated-gradient'], /--mitigation-iterations/],
    [['--adversary-weight', '2'], /adversary-weight.*give --mitigate/s],
    [
      ['--adversary-weight', '2', '--mitigate', 'reweighing', '--fairness', 'demographic-parity'],
      /adversary-weight.*adversarial only/s,
    ],
    [
      ['--mitigate', 'adversarial', '--fairness', 'demographic-parity'],
      /logistic regression only.*algorithm is gbdt/s,
    ],
  ])('refuses %j as a usage error, naming the flag, and writes no model', async (extra, message) => {
    // Act
    const result = await keel(
      'train',
      '--data',
      path('train.csv'),
      '--label',
      'default',
      '--protected',
      'sex',
      '--out',
      path('refused'),
      ...extra,
    );

    // Assess
    expect(result.code).toBe(2);
    expect(result.err).toMatch(message);
    expect(existsSync(path('refused'))).toBe(false);
  });
});
