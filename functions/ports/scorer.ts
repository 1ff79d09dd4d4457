import type { ModelInput, Scored } from '../core/onnx/runtime.ts';

/** The columns a scorer is given, by model input name. */
export type ScoringColumns = ReadonlyMap<string, readonly (number | string | null)[]>;

/** A model that scores columns: in-process ONNX, or a SageMaker endpoint. */
export interface Scorer {
  /** Registry version (or endpoint variant) answering, for `model_version`. */
  readonly version: string;
  readonly inputs: readonly ModelInput[];
  score(columns: ScoringColumns, rows: number): Promise<Scored>;
}
