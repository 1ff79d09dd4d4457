/**
 * A registered version's explainer: its stored artifact (lineage `explainers/`, named by the
 * version's `metadata.explainer`) over the trees of the version's own ONNX bytes, so an
 * explanation can never describe another model than the one registered. Serving and the drift
 * check load it the same way.
 */
import { type ExplainerArtifact, ModelExplainer } from '../core/explain/explainer.ts';
import type { LineageStore } from '../lineage/store.ts';
import type { ModelVersion } from './registry.ts';

/**
 * The version's explainer, or undefined when it was registered without one. `model` is its
 * ONNX bytes when the caller has them (serving does); else they are read from lineage.
 */
export async function loadModelExplainer(
  lineage: Pick<LineageStore, 'getJson' | 'getBytes'>,
  version: ModelVersion,
  model?: Uint8Array,
): Promise<ModelExplainer | undefined> {
  const ref = version.metadata.explainer;
  if (!ref) return undefined;
  const artifact = await lineage.getJson<ExplainerArtifact>({ kind: 'explainers', sha256: ref.sha256 });
  if (artifact.method !== 'tree') return new ModelExplainer(artifact);
  // Reading the trees back decodes the whole ONNX graph, which scoring never needs: loaded here only.
  const [{ modelExplainer }, bytes] = await Promise.all([
    import('../core/onnx/trees.ts'),
    model ?? lineage.getBytes({ kind: 'models', sha256: version.metadata.artifact.sha256 }),
  ]);
  return modelExplainer(artifact, bytes);
}
