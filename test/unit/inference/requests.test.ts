import { describe, expect, it } from 'vitest';
import type { PredictionRecord } from '../../../functions/contracts/capture.ts';
import type { ModelInput } from '../../../functions/core/onnx/runtime.ts';
import { MemoryCaptureSink } from '../../../functions/inference/capture.ts';
import {
  acceptedInterval,
  FLOAT32_MAX,
  parseFeedback,
  parseV1,
  parseV2,
  type RequestOptions,
} from '../../../functions/inference/requests.ts';
import { InferenceService } from '../../../functions/inference/service.ts';
import { ValidationError } from '../../../functions/kernel/errors.ts';
import type { Scorer } from '../../../functions/ports/scorer.ts';

const inputs: ModelInput[] = [
  { name: 'income', type: 'numeric' },
  { name: 'delta', type: 'numeric' },
  { name: 'region', type: 'categorical' },
];
const ranges = { income: { min: 300, max: 17_000 }, delta: { min: -50, max: 50 } };
const row = (patch: Record<string, unknown> = {}) => ({ income: 4000, delta: 0, region: 'north', ...patch });

function issuesOf(work: () => unknown): { path: string; message: string }[] {
  try {
    work();
  } catch (error) {
    if (error instanceof ValidationError) return [...error.issues];
    throw error;
  }
  throw new Error('expected a ValidationError');
}

const v2 = (columns: Record<string, unknown[]>) => ({
  inputs: Object.entries(columns).map(([name, data]) => ({
    name,
    shape: [data.length, 1],
    datatype: typeof data.find((v) => v !== null) === 'string' ? 'BYTES' : 'FP64',
    data,
  })),
});

describe('acceptedInterval', () => {
  it.each([
    // [range, tolerance, lower, upper]
    [{ min: 300, max: 1300 }, 1, 0, 2300], // never negative in training: not negative now
    [{ min: -50, max: 50 }, 1, -150, 150],
    [{ min: 300, max: 1300 }, 0, 300, 1300],
    [{ min: 5, max: 5 }, 2, 0, 15], // a constant column: widened by its magnitude
  ])('%j widened by %d is [%d, %d]', (range, tolerance, lower, upper) => {
    expect(acceptedInterval(range, tolerance)).toEqual({ lower, upper });
  });
});

describe('request values', () => {
  it.each([
    ['1e308', 1e308],
    ['-1e39', -1e39],
    ['just past float32', FLOAT32_MAX * 1.0000001],
  ])('refuses %s, which float32 cannot hold, on both protocols', (_, value) => {
    const v1 = issuesOf(() => parseV1({ instances: [row(), row({ delta: value })] }, inputs, 10));
    const v2Issues = issuesOf(() =>
      parseV2(v2({ income: [4000, 4000], delta: [0, value], region: ['a', 'b'] }), inputs, 10),
    );
    expect(v1).toEqual([
      { path: 'instances.1.delta', message: expect.stringMatching(/representable as float32/) },
    ]);
    expect(v2Issues).toEqual([
      { path: 'inputs.1.data.1', message: expect.stringMatching(/representable as float32/) },
    ]);
  });

  it('accepts the largest float32', () => {
    expect(parseV1({ instances: [row({ delta: FLOAT32_MAX })] }, inputs, 10).rows).toBe(1);
  });
});

describe('input ranges', () => {
  const reject: RequestOptions = { ranges, rangePolicy: { action: 'reject', tolerance: 1 } };

  it('rejects every value outside its accepted range, naming the field, the value and the range', () => {
    // Act
    const v1 = issuesOf(() =>
      parseV1(
        { instances: [row(), row({ income: -5 }), row({ delta: 200, income: 60_000 })] },
        inputs,
        10,
        reject,
      ),
    );
    const v2Issues = issuesOf(() =>
      parseV2(v2({ income: [4000, -5], delta: [0, 0], region: ['a', 'b'] }), inputs, 10, reject),
    );

    // Assess
    expect(v1.map((i) => i.path)).toEqual(['instances.1.income', 'instances.2.income', 'instances.2.delta']);
    expect(v1[0]?.message).toBe('-5 is outside the accepted range [0, 33700] (training saw 300 to 17000)');
    expect(v2Issues.map((i) => i.path)).toEqual(['inputs.0.data.1']);
  });

  it('names range problems beside schema problems in one 400', () => {
    const issues = issuesOf(() =>
      parseV1({ instances: [row({ income: 1e308 }), row({ income: -5 })] }, inputs, 10, reject),
    );
    expect(issues.map((i) => i.path)).toEqual(['instances.0.income', 'instances.1.income']);
  });

  it('clips into range and says which fields it clipped, per row', () => {
    const parsed = parseV1({ instances: [row(), row({ income: -5, delta: 500 })] }, inputs, 10, {
      ranges,
      rangePolicy: { action: 'clip', tolerance: 1 },
    });
    expect(parsed.columns.get('income')).toEqual([4000, 0]);
    expect(parsed.columns.get('delta')).toEqual([0, 150]);
    expect(parsed.outOfRange).toEqual([[], ['income', 'delta']]);
  });

  it('flags without changing the value', () => {
    const parsed = parseV1({ instances: [row({ income: 90_000 })] }, inputs, 10, {
      ranges,
      rangePolicy: { action: 'flag', tolerance: 1 },
    });
    expect(parsed.columns.get('income')).toEqual([90_000]);
    expect(parsed.outOfRange).toEqual([['income']]);
  });

  it('leaves missing values and inputs without a range alone', () => {
    const parsed = parseV1({ instances: [row({ income: null })] }, inputs, 10, {
      ...reject,
      ranges: { delta: ranges.delta },
    });
    expect(parsed.columns.get('income')).toEqual([null]);
    expect(parsed.outOfRange).toBeUndefined();
  });
});

describe('declared extra fields', () => {
  const options: RequestOptions = { extraFields: ['sex', 'age_band', 'applicant_id'] };

  it('are accepted beside the inputs on both protocols, kept apart from what is scored', () => {
    // Act
    const v1 = parseV1(
      { instances: [row({ sex: 'female', age_band: '25-34' }), row({ sex: null })] },
      inputs,
      10,
      options,
    );
    const v2Parsed = parseV2(
      v2({ income: [1], delta: [1], region: ['a'], sex: ['male'] }),
      inputs,
      10,
      options,
    );

    // Assess
    expect([...v1.columns.keys()]).toEqual(['income', 'delta', 'region']);
    expect(v1.extras?.get('sex')).toEqual(['female', null]);
    expect(v1.extras?.get('age_band')).toEqual(['25-34', null]);
    expect(v1.extras?.has('applicant_id')).toBe(false);
    expect([...v2Parsed.columns.keys()]).toEqual(['income', 'delta', 'region']);
    expect(v2Parsed.extras?.get('sex')).toEqual(['male']);
  });

  it('are still refused when not declared', () => {
    expect(
      issuesOf(() => parseV1({ instances: [row({ sex: 'female' })] }, inputs, 10)).map((i) => i.path),
    ).toEqual(['instances.0']);
    expect(
      issuesOf(() => parseV2(v2({ income: [1], delta: [1], region: ['a'], sex: ['m'] }), inputs, 10)),
    ).toEqual([{ path: 'inputs.3.name', message: 'the model has no input sex' }]);
  });

  it('are captured under the PII policy and never reach the model', async () => {
    // Prepare
    const seen: string[][] = [];
    const scorer: Scorer = {
      version: '1',
      inputs,
      score: async (columns, rows) => {
        seen.push([...columns.keys()]);
        return { probabilities: new Float64Array(rows).fill(0.2), labels: new Int32Array(rows) };
      },
    };
    const capture = new MemoryCaptureSink();
    const service = new InferenceService({
      modelName: 'credit',
      primary: scorer,
      safeDefault: { probability: 0.5, label: 0 },
      capture,
      pii: { fields: ['applicant_id'], salt: 's3cret' },
      request: { ...options, ranges, rangePolicy: { action: 'flag', tolerance: 0 } },
    });
    const request = parseV1(
      { instances: [row({ sex: 'female', applicant_id: 'A-17', income: 20_000 })] },
      service.inputs,
      10,
      service.requestOptions,
    );

    // Act
    await service.predict(request);

    // Assess
    expect(seen).toEqual([['income', 'delta', 'region']]);
    const [record] = capture.records as PredictionRecord[];
    expect(record?.inputs).toMatchObject({ income: 20_000, region: 'north', sex: 'female' });
    expect(record?.inputs.applicant_id).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(record?.out_of_range).toEqual(['income']);
  });
});

describe('feedback', () => {
  it('names the allowed outcomes', () => {
    expect(issuesOf(() => parseFeedback({ prediction_id: 'p1', outcome: 'yes' }))).toEqual([
      { path: 'outcome', message: 'expected 0 or 1 (1: the outcome the model predicts happened)' },
    ]);
  });
});
