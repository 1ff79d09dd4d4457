import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type FeedbackRecord,
  type PredictionRecord,
  parseCaptureLines,
} from '../../../functions/contracts/capture.ts';
import { cell, columnStrings } from '../../../functions/core/data/table.ts';
import { generateCredit } from '../../../functions/core/synthetic/credit.ts';
import { joinOutcomes, labelledTable } from '../../../functions/inference/capture.ts';
import { ValidationError } from '../../../functions/kernel/errors.ts';
import {
  concatTables,
  missingDataColumns,
  splitDataset,
  syntheticScenario,
} from '../../../functions/retraining/data.ts';
import { baseDataColumns } from '../../../functions/retraining/steps.ts';

const prediction = (
  id: string,
  timestamp: string,
  extra: Partial<PredictionRecord> = {},
): PredictionRecord => ({
  type: 'prediction',
  prediction_id: id,
  timestamp,
  model: 'credit',
  model_version: '1',
  served_by: 'primary',
  inputs: { income: 1000, employment: 'salaried' },
  outputs: { probability: 0.2, label: 0 },
  latency_ms: 1,
  ...extra,
});
const feedback = (id: string, outcome: 0 | 1, timestamp: string): FeedbackRecord => ({
  type: 'feedback',
  prediction_id: id,
  model: 'credit',
  outcome,
  observed_at: timestamp,
  timestamp,
});

describe('joinOutcomes', () => {
  it('joins by prediction id, skips shadows and unlabelled rows, takes the latest report, oldest first', () => {
    // Prepare
    const predictions = [
      prediction('b', '2026-11-02T00:00:00Z'),
      prediction('a', '2026-11-01T00:00:00Z'),
      prediction('a', '2026-11-01T00:00:00Z', { shadow_of: 'a', model_version: '2' }),
      prediction('c', '2026-11-03T00:00:00Z'),
    ];
    const outcomes = [
      feedback('a', 0, '2026-11-05T00:00:00Z'),
      feedback('a', 1, '2026-11-06T00:00:00Z'),
      feedback('b', 1, '2026-11-05T00:00:00Z'),
    ];

    // Act
    const joined = joinOutcomes(predictions, outcomes);

    // Assess
    expect(joined.map((j) => [j.predictionId, j.outcome])).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
  });

  it('keeps the most recent rows when limited', () => {
    const predictions = ['a', 'b', 'c'].map((id, i) => prediction(id, `2026-11-0${i + 1}T00:00:00Z`));
    const outcomes = ['a', 'b', 'c'].map((id) => feedback(id, 0, '2026-11-09T00:00:00Z'));
    expect(joinOutcomes(predictions, outcomes, 2).map((j) => j.predictionId)).toEqual(['b', 'c']);
  });
});

describe('labelledTable', () => {
  it('fills the label from the outcome, missing for absent or mistyped inputs', () => {
    // Act
    const table = labelledTable(
      [
        { predictionId: 'a', timestamp: 't', inputs: { income: 1000, employment: 'salaried' }, outcome: 1 },
        { predictionId: 'b', timestamp: 't', inputs: { income: 'lots', employment: null }, outcome: 0 },
      ],
      { income: 'numeric', employment: 'categorical', sex: 'categorical', default: 'numeric' },
      'default',
    );

    // Assess
    expect(table.rowCount).toBe(2);
    expect([0, 1].map((r) => cell(table.columns.get('income') as never, r))).toEqual([1000, null]);
    expect(columnStrings(table, 'employment')).toEqual(['salaried', null]);
    expect(columnStrings(table, 'sex')).toEqual([null, null]);
    expect([0, 1].map((r) => cell(table.columns.get('default') as never, r))).toEqual([1, 0]);
  });
});

describe('concatTables', () => {
  it('appends rows in the first table’s columns, merging category dictionaries', () => {
    const a = generateCredit({ rows: 3, seed: 1 });
    const b = labelledTable(
      [{ predictionId: 'x', timestamp: 't', inputs: { employment: 'astronaut', income: 5 }, outcome: 1 }],
      { employment: 'categorical', income: 'numeric', default: 'numeric' },
      'default',
    );
    const joined = concatTables(a, b);
    expect(joined.rowCount).toBe(4);
    expect([...joined.columns.keys()]).toEqual([...a.columns.keys()]);
    expect(columnStrings(joined, 'employment')[3]).toBe('astronaut');
    expect(columnStrings(joined, 'sex')[3]).toBeNull();
    expect(cell(joined.columns.get('income') as never, 3)).toBe(5);
  });
});

describe('splitDataset', () => {
  const base = generateCredit({ rows: 1000, seed: 2 });
  const production = generateCredit({ rows: 300, seed: 3 });
  const options = {
    label: 'default',
    holdout: 0.2,
    productionEvaluationShare: 0.5,
    minProductionRows: 100,
    seed: 42,
  };

  it('holds out a stratified share of the base and the most recent production rows', () => {
    // Act
    const split = splitDataset(base, production, options);

    // Assess
    expect(split.holdout.rowCount).toBeCloseTo(200, -1);
    expect(split.production?.rowCount).toBe(150);
    expect(split.train.rowCount).toBe(1000 - split.holdout.rowCount + 150);
    // The evaluation rows are the last ones, never trained on.
    expect(columnStrings(split.production as never, 'applicant_id')).toEqual(
      columnStrings(production, 'applicant_id').slice(150),
    );
  });

  it('trains on too few production rows rather than judging on them', () => {
    const split = splitDataset(base, production, { ...options, minProductionRows: 200 });
    expect(split.production).toBeUndefined();
    expect(split.train.rowCount).toBe(1000 - split.holdout.rowCount + 300);
  });

  it('names a missing label', () => {
    expect(() => splitDataset(base, production, { ...options, label: 'nope' })).toThrow(ValidationError);
  });
});

describe('syntheticScenario', () => {
  it('reads the knobs with defaults', () => {
    expect(syntheticScenario('synthetic:credit?rows=500&groupBias=1.5')).toEqual({
      rows: 500,
      seed: 42,
      groupBias: 1.5,
    });
    expect(syntheticScenario('synthetic:credit')).toEqual({ rows: 5000, seed: 42 });
  });

  it('lists every bad knob', () => {
    try {
      syntheticScenario('synthetic:credit?rows=x&colour=red');
      expect.unreachable();
    } catch (error) {
      expect((error as ValidationError).issues.map((i) => i.path)).toEqual([
        'data.source.rows',
        'data.source.colour',
      ]);
    }
  });

  it('refuses another population', () => {
    expect(() => syntheticScenario('synthetic:housing')).toThrow(/expected synthetic:credit/);
  });
});

describe('parseCaptureLines', () => {
  it('drops the capture marker and skips blank and broken lines', () => {
    const text =
      '{"keel_capture":1,"type":"prediction","prediction_id":"a"}\n\n{"type":"feedb\n{"type":"feedback","prediction_id":"a"}\n';
    expect(parseCaptureLines(text)).toEqual([
      { type: 'prediction', prediction_id: 'a' },
      { type: 'feedback', prediction_id: 'a' },
    ]);
  });
});

describe('generateCredit groupProxy', () => {
  it('leaves seeded populations unchanged at 0 and ties region to sex when set', () => {
    const plain = generateCredit({ rows: 500, seed: 9 });
    const zero = generateCredit({ rows: 500, seed: 9, groupProxy: 0 });
    expect(columnStrings(zero, 'region')).toEqual(columnStrings(plain, 'region'));
    const proxied = generateCredit({ rows: 2000, seed: 9, groupProxy: 1 });
    const sex = columnStrings(proxied, 'sex');
    const region = columnStrings(proxied, 'region');
    expect(region.every((r, i) => r === (sex[i] === 'female' ? 'north' : 'south'))).toBe(true);
  });
});

describe('missingDataColumns', () => {
  it('names each configured column the data lacks, with the columns it has', () => {
    // Act
    const error = missingDataColumns(['income', 'default', 'sex'], {
      label: 'defualt',
      protectedAttributes: ['sex', 'age_band'],
      piiFields: [],
    });

    // Assess
    expect(error).toBeInstanceOf(ValidationError);
    expect(error?.issues).toEqual([
      { path: 'data.label', message: 'no column "defualt"; the data has: income, default, sex' },
      {
        path: 'data.protectedAttributes.1',
        message: 'no column "age_band"; the data has: income, default, sex',
      },
    ]);
  });

  it('accepts data that has every named column', () => {
    expect(
      missingDataColumns(['income', 'default', 'sex'], {
        label: 'default',
        protectedAttributes: ['sex'],
        piiFields: [],
      }),
    ).toBeUndefined();
  });
});

describe('baseDataColumns', () => {
  const deps = {
    readObject: async () => new Uint8Array(),
    lineage: {} as Parameters<typeof baseDataColumns>[1]['lineage'],
  };

  it('reads a CSV file header only', async () => {
    // Prepare: a header and a row that would not parse as the header's types.
    const dir = await mkdtemp(join(tmpdir(), 'keel-columns-'));
    const file = join(dir, 'data.csv');
    await writeFile(file, '\ufeffincome,"loan, amount",default\n1,x,"unterminated\n');

    // Act
    const columns = await baseDataColumns(file, deps);

    // Assess
    expect(columns).toEqual(['income', 'loan, amount', 'default']);
  });

  it('knows the synthetic population columns without generating it', async () => {
    const columns = await baseDataColumns('synthetic:credit?rows=20000&seed=3', deps);
    expect(columns).toEqual([...generateCredit({ rows: 5, seed: 1 }).columns.keys()]);
  });

  it('names a file it cannot read as a bad data.source', async () => {
    await expect(baseDataColumns('/nonexistent/keel.csv', deps)).rejects.toMatchObject({
      name: 'ValidationError',
      issues: [{ path: 'data.source' }],
    });
  });
});
