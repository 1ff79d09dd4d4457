/**
 * A served version's explainer (`registry/explainers.ts`) over the very ONNX bytes that serve
 * it, as the serving port wants it. Loaded on a version's first explanation, never at cold
 * start.
 */
import { type Instance, type ModelExplainer, tableOfInstances } from '../core/explain/explainer.ts';
import type { LineageStore } from '../lineage/store.ts';
import type { ScoringColumns } from '../ports/scorer.ts';
import { loadModelExplainer } from '../registry/explainers.ts';
import type { ModelVersion } from '../registry/registry.ts';
import { ExplanationUnavailableError, type RowExplainer } from './service.ts';

/** Adapts a model explainer to the columns serving scores. */
export function rowExplainer(explainer: ModelExplainer): RowExplainer {
  // A post-processed model's explanation needs the row's group too.
  const rule = explainer.artifact.postprocess;
  const inputs = rule
    ? [...explainer.artifact.pipeline.inputs, { name: rule.attribute, type: 'categorical' as const }]
    : explainer.artifact.pipeline.inputs;
  return {
    perturbations: explainer.perturbations,
    explain: (columns: ScoringColumns, rows: number, options = {}) => {
      const instances: Instance[] = Array.from({ length: rows }, (_, r) =>
        Object.fromEntries(inputs.map(({ name }) => [name, columns.get(name)?.[r] ?? null])),
      );
      return explainer.explain(tableOfInstances(instances, inputs), options);
    },
  };
}

/** Loads the explainer of `version`, whose ONNX bytes are `model`, as serving needs it. */
export async function loadExplainer(
  lineage: Pick<LineageStore, 'getJson' | 'getBytes'>,
  version: ModelVersion,
  model: Uint8Array,
): Promise<RowExplainer> {
  const label = `${version.model}@${version.version}`;
  let explainer: ModelExplainer | undefined;
  try {
    explainer = await loadModelExplainer(lineage, version, model);
  } catch (cause) {
    throw new ExplanationUnavailableError(
      `the explainer of ${label} could not be loaded: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause, status: 503 },
    );
  }
  if (!explainer)
    throw new ExplanationUnavailableError(
      `${label} was registered without an explainer (trained before explanations, or elsewhere): retrain it with Keel, or explain offline with keel explain --method kernel`,
    );
  return rowExplainer(explainer);
}
