/**
 * A Keel GBDT's trees, read back from its exported ONNX model: the `TreeEnsembleRegressor` the
 * exporter writes (`compileGbdt` in `export.ts`), so a model directory or a registry artifact
 * can be explained without its training run. Node covers are not in ONNX; they travel beside
 * the model (path-dependent SHAP needs them, interventional does not).
 */
import { type ExplainerArtifact, ModelExplainer } from '../explain/explainer.ts';
import type { ExplainedEnsemble, ExplainedTree } from '../explain/treeshap.ts';
import { onnx } from './graph.ts';

type Attribute = ReturnType<typeof onnx.AttributeProto.decode>;

function numbers(attribute: Attribute | undefined, what: string): number[] {
  if (!attribute) throw new RangeError(`the tree ensemble has no ${what}`);
  if (attribute.t) return (attribute.t.doubleData ?? attribute.t.floatData ?? []).map(Number);
  if (attribute.ints && attribute.ints.length > 0) return attribute.ints.map(Number);
  if (attribute.floats && attribute.floats.length > 0) return attribute.floats.map(Number);
  return [];
}

/** The ensemble of a Keel GBDT's ONNX model; `features` is the model's input width. */
export function readTreeEnsemble(bytes: Uint8Array, features: number): ExplainedEnsemble {
  const model = onnx.ModelProto.decode(bytes);
  const node = model.graph?.node?.find((n) => n.opType === 'TreeEnsembleRegressor');
  if (!node) throw new RangeError('not a tree model: the graph has no TreeEnsembleRegressor');
  const attributes = new Map((node.attribute ?? []).map((a) => [a.name ?? '', a as Attribute]));
  const get = (name: string) => numbers(attributes.get(name), name);
  const treeIds = get('nodes_treeids');
  const nodeIds = get('nodes_nodeids');
  const featureIds = get('nodes_featureids');
  const thresholds = numbers(
    attributes.get('nodes_values_as_tensor') ?? attributes.get('nodes_values'),
    'nodes_values',
  );
  const trueIds = get('nodes_truenodeids');
  const falseIds = get('nodes_falsenodeids');
  const missingTrue = get('nodes_missing_value_tracks_true');
  const modes = (attributes.get('nodes_modes')?.strings ?? []).map((s) => new TextDecoder().decode(s));
  const targetTrees = get('target_treeids');
  const targetNodes = get('target_nodeids');
  const weights = numbers(
    attributes.get('target_weights_as_tensor') ?? attributes.get('target_weights'),
    'target_weights',
  );
  const base = numbers(
    attributes.get('base_values_as_tensor') ?? attributes.get('base_values'),
    'base_values',
  );
  const count = Math.max(-1, ...treeIds) + 1;
  const sizes = new Array<number>(count).fill(0);
  treeIds.forEach((t, k) => {
    sizes[t] = Math.max(sizes[t] as number, (nodeIds[k] as number) + 1);
  });
  const trees = sizes.map((size) => ({
    feature: new Int32Array(size).fill(-1),
    threshold: new Float64Array(size),
    missingLeft: new Uint8Array(size),
    left: new Int32Array(size).fill(-1),
    right: new Int32Array(size).fill(-1),
    value: new Float64Array(size),
  }));
  treeIds.forEach((t, k) => {
    const tree = trees[t] as (typeof trees)[number];
    const id = nodeIds[k] as number;
    if (modes[k] === 'LEAF') return;
    if (modes[k] !== 'BRANCH_LEQ')
      throw new RangeError(`unsupported node mode ${modes[k]} (Keel writes BRANCH_LEQ)`);
    tree.feature[id] = featureIds[k] as number;
    tree.threshold[id] = thresholds[k] as number;
    tree.missingLeft[id] = missingTrue[k] ? 1 : 0;
    tree.left[id] = trueIds[k] as number;
    tree.right[id] = falseIds[k] as number;
  });
  targetTrees.forEach((t, k) => {
    const tree = trees[t] as (typeof trees)[number];
    tree.value[targetNodes[k] as number] =
      (tree.value[targetNodes[k] as number] as number) + (weights[k] as number);
  });
  return { baseScore: base[0] ?? 0, trees: trees as ExplainedTree[], features };
}

/**
 * A stored explainer over the model it was stored with: for a tree explainer, the trees of
 * that model's own ONNX bytes (so it explains exactly what is served).
 */
export function modelExplainer(artifact: ExplainerArtifact, bytes: Uint8Array): ModelExplainer {
  return new ModelExplainer(
    artifact,
    artifact.method === 'tree' ? readTreeEnsemble(bytes, artifact.pipeline.features.length) : undefined,
  );
}
