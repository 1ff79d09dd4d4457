import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cell } from '../../../functions/core/data/table.ts';
import type { Scored } from '../../../functions/core/onnx/runtime.ts';
import { OnnxModel } from '../../../functions/core/onnx/runtime.ts';
import { MemoryCaptureSink, protectPii } from '../../../functions/inference/capture.ts';
import type { Columns } from '../../../functions/inference/requests.ts';
import { onnxScorer } from '../../../functions/inference/scorers.ts';
import {
  ExplanationUnavailableError,
  InferenceService,
  type RowExplainer,
} from '../../../functions/inference/service.ts';
import type { Scorer } from '../../../functions/ports/scorer.ts';
import { referenceModels } from '../../support/onnx-reference.ts';

const reference = referenceModels();
let primary: OnnxModel;
let fallback: OnnxModel;

beforeAll(async () => {
  primary = await OnnxModel.load(reference.models[1]?.bytes as Uint8Array); // gbdt
  fallback = await OnnxModel.load(reference.models[0]?.bytes as Uint8Array); // lr
});

afterAll(async () => {
  await primary.release();
  await fallback.release();
});

function rows(n: number, offset = 0): Columns {
  return {
    rows: n,
    columns: new Map(
      primary.inputs.map((input) => {
        const column = reference.scoring.columns.get(input.name);
        if (!column) throw new Error(input.name);
        return [
          input.name,
          Array.from({ length: n }, (_, i) => cell(column, (offset + i) % reference.scoring.rowCount)),
        ];
      }),
    ),
  };
}

type Fault = 'fail' | 'hang' | 'nan' | 'ok';

/** Wraps a scorer with injected faults. */
function faulty(inner: Scorer, fault: (call: number) => Fault): Scorer {
  let calls = 0;
  return {
    ...inner,
    score: async (columns, n): Promise<Scored> => {
      const what = fault(calls++);
      if (what === 'fail') throw new Error('injected failure');
      if (what === 'hang') return new Promise<Scored>(() => {});
      const scored = await inner.score(columns, n);
      if (what === 'nan') return { ...scored, probabilities: scored.probabilities.map(() => Number.NaN) };
      return scored;
    },
  };
}

describe('InferenceService', () => {
  it('serves the primary with one id per prediction and captures every row', async () => {
    // Prepare
    const capture = new MemoryCaptureSink();
    const service = new InferenceService({
      modelName: 'credit',
      primary: onnxScorer(primary, '7'),
      safeDefault: { probability: 1, label: 1 },
      capture,
      pii: { fields: ['region'], salt: 'pepper' },
    });

    // Act
    const result = await service.predict(rows(5), { traceId: 'Root=1-abc', requestId: 'req-1' });

    // Assess
    expect(result.servedBy).toBe('primary');
    expect(result.modelVersion).toBe('7');
    expect(new Set(result.predictionIds).size).toBe(5);
    const direct = await primary.score(rows(5).columns, 5);
    expect(Array.from(result.probabilities)).toEqual(Array.from(direct.probabilities));
    expect(capture.records).toHaveLength(5);
    expect(capture.records[0]).toMatchObject({
      type: 'prediction',
      prediction_id: result.predictionIds[0],
      model: 'credit',
      model_version: '7',
      served_by: 'primary',
      trace_id: 'Root=1-abc',
      request_id: 'req-1',
      outputs: { probability: result.probabilities[0], label: result.labels[0] },
    });
    expect(String(capture.records[0]?.type === 'prediction' && capture.records[0].inputs.region)).toMatch(
      /^hmac-sha256:[0-9a-f]{64}$/,
    );
  });

  it.each<[string, (call: number) => Fault]>([
    ['fails 30 % of requests', (call) => (call % 10 < 3 ? 'fail' : 'ok')],
    ['returns NaN', () => 'nan'],
    ['hangs', () => 'hang'],
  ])('answers every request when the primary %s', async (_, fault) => {
    // Prepare
    const served: string[] = [];
    const service = new InferenceService({
      modelName: 'credit',
      primary: faulty(onnxScorer(primary, '7'), fault),
      fallback: onnxScorer(fallback, '6'),
      safeDefault: { probability: 1, label: 1 },
      timeoutMs: 20,
      breakerFailures: 3,
      halfOpenAfterMs: 60_000,
      onServed: (by) => served.push(by),
    });

    // Act
    const results = [];
    for (let k = 0; k < 40; k++) results.push(await service.predict(rows(3, k)));

    // Assess: every request answered by a model, never by an error.
    expect(results).toHaveLength(40);
    for (const r of results) {
      expect(r.probabilities.every((p) => p >= 0 && p <= 1)).toBe(true);
      expect(r.servedBy).not.toBe('default');
    }
    expect(served).toContain('fallback');
  });

  it('opens the circuit after consecutive failures and stops calling the primary', async () => {
    // Prepare
    let calls = 0;
    const broken: Scorer = {
      ...onnxScorer(primary, '7'),
      score: async () => {
        calls++;
        throw new Error('down');
      },
    };
    const service = new InferenceService({
      modelName: 'credit',
      primary: broken,
      fallback: onnxScorer(fallback, '6'),
      safeDefault: { probability: 1, label: 1 },
      breakerFailures: 3,
      halfOpenAfterMs: 60_000,
    });

    // Act
    for (let k = 0; k < 10; k++) await service.predict(rows(1));

    // Assess
    expect(calls).toBe(3);
    expect(service.circuit).toBe('open');
  });

  it('serves the safe default when the fallback fails too', async () => {
    // Prepare
    const down = (inner: Scorer) => faulty(inner, () => 'fail');
    const service = new InferenceService({
      modelName: 'credit',
      primary: down(onnxScorer(primary, '7')),
      fallback: down(onnxScorer(fallback, '6')),
      safeDefault: { probability: 0.9, label: 1 },
    });

    // Act
    const result = await service.predict(rows(2));

    // Assess
    expect(result.servedBy).toBe('default');
    expect(result.modelVersion).toBe('safe-default');
    expect(Array.from(result.probabilities)).toEqual([0.9, 0.9]);
    expect(Array.from(result.labels)).toEqual([1, 1]);
  });

  it('lets a request the primary fails wait for a fallback that is still loading', async () => {
    // Prepare: the fallback's load finishes only when the test says so.
    let finish: (loaded: { scorer: Scorer }) => void = () => undefined;
    const service = new InferenceService({
      modelName: 'credit',
      primary: faulty(onnxScorer(primary, '7'), () => 'fail'),
      pendingFallback: new Promise((resolve) => {
        finish = resolve;
      }),
      safeDefault: { probability: 0.9, label: 1 },
    });
    expect(service.fallback).toBeUndefined();

    // Act
    const answer = service.predict(rows(2));
    finish({ scorer: onnxScorer(fallback, '6') });
    const result = await answer;

    // Assess
    expect(result.servedBy).toBe('fallback');
    expect(result.modelVersion).toBe('6');
    expect(service.fallback?.version).toBe('6');
    expect(service.health()).toMatchObject({ servedBy: 'fallback', answeringVersion: '6', degraded: true });
  });

  it.each([
    ['fails to load', () => Promise.reject(new Error('registry down'))],
    [
      'is unavailable',
      () =>
        Promise.resolve({ scorer: faulty(onnxScorer(fallback, '6'), () => 'fail'), unavailable: 'corrupt' }),
    ],
  ])('serves the safe default when a pending fallback %s', async (_, pending) => {
    // Prepare
    const service = new InferenceService({
      modelName: 'credit',
      primary: faulty(onnxScorer(primary, '7'), () => 'fail'),
      pendingFallback: pending(),
      safeDefault: { probability: 0.9, label: 1 },
    });

    // Act
    const result = await service.predict(rows(1));

    // Assess
    expect(result.servedBy).toBe('default');
    expect(service.health().servedBy).toBe('default');
  });

  it('answers from a healthy primary without waiting for the fallback to load', async () => {
    // Prepare: a fallback load that never finishes.
    const service = new InferenceService({
      modelName: 'credit',
      primary: onnxScorer(primary, '7'),
      pendingFallback: new Promise(() => {}),
      safeDefault: { probability: 0.9, label: 1 },
    });

    // Act
    const result = await service.predict(rows(3));

    // Assess
    expect(result.servedBy).toBe('primary');
    expect(result.probabilities).toHaveLength(3);
  });

  describe('explanations', () => {
    /** An explainer that says which version explained, row by row. */
    const stub = (version: string, calls: string[]): RowExplainer => ({
      perturbations: ['interventional'],
      explain: (_, n) => {
        calls.push(version);
        return {
          method: 'tree',
          featurePerturbation: 'interventional',
          outputSpace: 'log-odds',
          baseValue: Number(version),
          derived: [],
          rows: Array.from({ length: n }, () => ({
            prediction: 0.5,
            margin: 0,
            contributions: { income: 0 },
          })),
        };
      },
    });

    it('explains by the version that answered, and says why not when that one has none', async () => {
      // Prepare: the primary fails; the fallback was registered without an explainer.
      const calls: string[] = [];
      const sink = new MemoryCaptureSink();
      const service = new InferenceService({
        modelName: 'credit',
        primary: faulty(onnxScorer(primary, '7'), () => 'fail'),
        fallback: onnxScorer(fallback, '6'),
        safeDefault: { probability: 0.9, label: 1 },
        capture: sink,
        explainer: async (version) => {
          if (version === '7') return stub('7', calls);
          throw new ExplanationUnavailableError(`v${version} has no explainer`);
        },
      });

      // Act
      const result = await service.predict(rows(2), {}, { explain: true });

      // Assess: answered, not failed; nothing explained, and why.
      expect(result.servedBy).toBe('fallback');
      expect(result.explanation).toEqual({ unavailable: 'v6 has no explainer' });
      expect(result.explanations).toBeUndefined();
      expect(sink.records.every((r) => r.type === 'prediction' && r.explanation === undefined)).toBe(true);
      expect(calls).toEqual([]);
    });

    it('refuses a perturbation the primary cannot do with a 400-style error before scoring', async () => {
      // Prepare
      const sink = new MemoryCaptureSink();
      const calls: string[] = [];
      const service = new InferenceService({
        modelName: 'credit',
        primary: onnxScorer(primary, '7'),
        safeDefault: { probability: 0.9, label: 1 },
        capture: sink,
        explainer: async () => stub('7', calls),
      });

      // Act
      const attempt = service.predict(
        rows(1),
        {},
        { explain: true, featurePerturbation: 'tree-path-dependent' },
      );

      // Assess
      await expect(attempt).rejects.toMatchObject({
        name: 'ValidationError',
        issues: [
          { path: 'parameters.feature_perturbation', message: expect.stringMatching(/interventional/) },
        ],
      });
      expect(sink.records).toHaveLength(0);
    });

    it('captures the sampled share of ordinary predictions with their explanation, once the explainer is loaded', async () => {
      // Prepare: every other draw is under the rate.
      const sink = new MemoryCaptureSink();
      const calls: string[] = [];
      let draw = 0;
      const service = new InferenceService({
        modelName: 'credit',
        primary: onnxScorer(primary, '7'),
        safeDefault: { probability: 0.9, label: 1 },
        capture: sink,
        explainer: async () => stub('7', calls),
        explanationSampleRate: 0.5,
        random: () => (draw++ % 2 === 0 ? 0.1 : 0.9),
      });
      await service.explainerFor('7');

      // Act
      const result = await service.predict(rows(4));

      // Assess: the answer carries none; the capture holds rows 0 and 2's.
      expect(result.explanations).toBeUndefined();
      const explained = sink.records.map((r) => r.type === 'prediction' && r.explanation !== undefined);
      expect(explained).toEqual([true, false, true, false]);
      expect(calls).toEqual(['7']);
    });

    it('tries a failed explainer load again, but not one that has no explainer', async () => {
      // Prepare
      let loads = 0;
      const service = new InferenceService({
        modelName: 'credit',
        primary: onnxScorer(primary, '7'),
        safeDefault: { probability: 0.9, label: 1 },
        explainer: async (version) => {
          loads++;
          if (version === '7') throw new ExplanationUnavailableError('lineage timed out', { status: 503 });
          throw new ExplanationUnavailableError('none');
        },
      });

      // Act
      for (let i = 0; i < 2; i++) {
        await service.explainerFor('7').catch(() => undefined);
        await service.explainerFor('5').catch(() => undefined);
      }

      // Assess: 7 loaded twice (503: transient), 5 once (501: permanent).
      expect(loads).toBe(3);
    });
  });

  it('refuses a safe default outside [0, 1]', () => {
    expect(
      () =>
        new InferenceService({
          modelName: 'm',
          primary: onnxScorer(primary, '1'),
          safeDefault: { probability: 2, label: 1 },
        }),
    ).toThrow(RangeError);
  });
});

describe('protectPii', () => {
  it('hashes PII fields with the salt, drops them without one, and keeps other fields', () => {
    // Act
    const hashed = protectPii({ name: 'Ana', income: 1 }, { fields: ['name'], salt: 's' });
    const dropped = protectPii({ name: 'Ana', income: 1 }, { fields: ['name'] });
    const other = protectPii({ name: 'Ana', income: 1 }, { fields: ['name'], salt: 't' });

    // Assess
    expect(hashed.income).toBe(1);
    expect(hashed.name).toMatch(/^hmac-sha256:/);
    expect(other.name).not.toBe(hashed.name);
    expect(dropped).toEqual({ income: 1 });
  });
});
