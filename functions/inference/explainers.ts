/**
 * A served version's explainer: its stored artifact (lineage `explainers/`, named in the registry
 * version) over the trees of the very ONNX bytes that serve it. Loaded on a version's first
 * explanation, never at cold start: reading the trees back decodes the whole ONNX graph, which
 * the scoring path does not need.
 */
import {
  type ExplainerArtifact,
  type Instance,
  ModelExplainer,
  tableOfInstances,
} from '../core/explain/explainer.ts';
import type { LineageStore } from '../lineage/store.ts';
import type { ScoringColumns } from '../ports/scorer.ts';
import type { ModelVersion } from '../registry/registry.ts';
import { ExplanationUnavailableError, type RowExplainer } from './service.ts';

/** Adapts a model explainer to the columns serving scores. */
export function rowExplainer(explainer: ModelExplainer): RowExplainer {
  const inputs = explainer.artifact.pipeline.inputs;
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

/** Loads the explainer of `version`, whose ONNX bytes are `model`. */
export async function loadExplainer(
  lineage: Pick<LineageStore, 'getJson'>,
  version: ModelVersion,
  model: Uint8Array,
): Promise<RowExplainer> {
  const label = `${version.model}@${version.version}`;
  const ref = version.metadata.explainer;
  if (!ref)
    throw new ExplanationUnavailableError(
      `${label} was registered without an explainer (trained before explanations, or elsewhere): retrain it with Keel, or explain offline with keel explain --method kernel`,
    );
  try {
    const artifact = await lineage.getJson<ExplainerArtifact>({ kind: 'explainers', sha256: ref.sha256 });
    const trees =
      artifact.method === 'tree'
        ? (await import('../core/onnx/trees.ts')).readTreeEnsemble(model, artifact.pipeline.features.length)
        : undefined;
    return rowExplainer(new ModelExplainer(artifact, trees));
  } catch (cause) {
    throw new ExplanationUnavailableError(
      `the explainer of ${label} could not be loaded: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause, status: 503 },
    );
  }
}
