/** Scorers: the in-process ONNX model. (A SageMaker endpoint scorer joins it for large models.) */
import type { OnnxModel } from '../core/onnx/runtime.ts';
import type { Scorer } from '../ports/scorer.ts';

/** Scores with an onnxruntime session in this process. */
export function onnxScorer(model: OnnxModel, version: string): Scorer {
  return {
    version,
    inputs: model.inputs,
    score: (columns, rows) => model.score(columns, rows),
  };
}
