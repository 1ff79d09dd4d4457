/**
 * A Keel GBDT's trees, read back from its exported ONNX model: the `TreeEnsembleRegressor` the
 * exporter writes (`compileGbdt` in `export.ts`), so a model directory or a registry artifact
 * can be explained without its training run. Node covers are not in ONNX; they travel beside
 * the model (path-dependent SHAP needs them, interventional does not).
 */
import { type ExplainerArtifact, ModelExplainer } from '../explain/explainer.ts';
import type { ExplainedEnsemble, ExplainedTree } from '../explain/treeshap.ts';
import { WireReader } from './wire.ts';

/** What an ONNX attribute holds, as far as a tree ensemble uses: numbers (ints, floats, a tensor's) and strings. */
interface Attribute {
  readonly numbers: number[];
  readonly strings: string[];
}

// Field numbers of onnx.proto: ModelProto.graph, GraphProto.node, NodeProto.{op_type, attribute},
// AttributeProto.{name, f, i, t, floats, ints, strings}, TensorProto.{data_type, float_data, raw_data, double_data}.
const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const NODE_OP_TYPE = 4;
const NODE_ATTRIBUTE = 5;
const ATTR = { name: 1, f: 2, i: 3, t: 5, floats: 7, ints: 8, strings: 9 } as const;
const TENSOR = { dataType: 2, floatData: 4, rawData: 9, doubleData: 10 } as const;
const FLOAT = 1;
const DOUBLE = 11;

/** The fields of a message, as (field, wire type, reader positioned at the value) callbacks. */
function fields(bytes: Uint8Array, visit: (field: number, wire: number, reader: WireReader) => void): void {
  const reader = new WireReader(bytes);
  while (!reader.done) {
    const tag = reader.varint();
    const before = reader.pos;
    visit(Math.floor(tag / 8), tag % 8, reader);
    if (reader.pos === before) reader.skip(tag % 8); // not consumed: not wanted
  }
}

/** A repeated scalar field's values, packed (wire type 2) or one per tag. */
function scalars(wire: number, reader: WireReader, read: (r: WireReader) => number, out: number[]): void {
  if (wire !== 2) {
    out.push(read(reader));
    return;
  }
  const packed = new WireReader(reader.take(reader.varint()));
  while (!packed.done) out.push(read(packed));
}

function tensorNumbers(bytes: Uint8Array, out: number[]): void {
  let dataType = 0;
  let raw: Uint8Array | undefined;
  fields(bytes, (field, wire, r) => {
    if (field === TENSOR.dataType) dataType = r.varint();
    else if (field === TENSOR.doubleData) scalars(wire, r, (x) => x.double(), out);
    else if (field === TENSOR.floatData) scalars(wire, r, (x) => x.float(), out);
    else if (field === TENSOR.rawData) raw = r.take(r.varint());
  });
  if (raw) {
    const copy = raw.slice(); // aligned for the typed array
    const view =
      dataType === DOUBLE
        ? new Float64Array(copy.buffer)
        : dataType === FLOAT
          ? new Float32Array(copy.buffer)
          : undefined;
    if (!view) throw new RangeError(`unsupported tensor data type ${dataType}`);
    out.push(...view);
  }
}

function attribute(bytes: Uint8Array): [string, Attribute] {
  let name = '';
  const numbers: number[] = [];
  const strings: string[] = [];
  fields(bytes, (field, wire, r) => {
    if (field === ATTR.name) name = r.string();
    else if (field === ATTR.f) numbers.push(r.float());
    else if (field === ATTR.i) numbers.push(r.varint());
    else if (field === ATTR.t) tensorNumbers(r.take(r.varint()), numbers);
    else if (field === ATTR.floats) scalars(wire, r, (x) => x.float(), numbers);
    else if (field === ATTR.ints) scalars(wire, r, (x) => x.varint(), numbers);
    else if (field === ATTR.strings) strings.push(r.string());
  });
  return [name, { numbers, strings }];
}

/** The attributes of the graph's TreeEnsembleRegressor node, by name. */
function treeEnsembleAttributes(bytes: Uint8Array): Map<string, Attribute> {
  let found: Map<string, Attribute> | undefined;
  fields(bytes, (field, _wire, r) => {
    if (field !== MODEL_GRAPH) return;
    fields(r.take(r.varint()), (graphField, _w, g) => {
      if (graphField !== GRAPH_NODE || found) return;
      let op = '';
      const attributes = new Map<string, Attribute>();
      fields(g.take(g.varint()), (nodeField, _n, n) => {
        if (nodeField === NODE_OP_TYPE) op = n.string();
        else if (nodeField === NODE_ATTRIBUTE) attributes.set(...attribute(n.take(n.varint())));
      });
      if (op === 'TreeEnsembleRegressor') found = attributes;
    });
  });
  if (!found) throw new RangeError('not a tree model: the graph has no TreeEnsembleRegressor');
  return found;
}

/** The ensemble of a Keel GBDT's ONNX model; `features` is the model's input width. */
export function readTreeEnsemble(bytes: Uint8Array, features: number): ExplainedEnsemble {
  const attributes = treeEnsembleAttributes(bytes);
  const get = (name: string, alternative?: string) => {
    const a = attributes.get(name) ?? (alternative ? attributes.get(alternative) : undefined);
    if (!a) throw new RangeError(`the tree ensemble has no ${alternative ?? name}`);
    return a.numbers;
  };
  const treeIds = get('nodes_treeids');
  const nodeIds = get('nodes_nodeids');
  const featureIds = get('nodes_featureids');
  const thresholds = get('nodes_values_as_tensor', 'nodes_values');
  const trueIds = get('nodes_truenodeids');
  const falseIds = get('nodes_falsenodeids');
  const missingTrue = get('nodes_missing_value_tracks_true');
  const modes = attributes.get('nodes_modes')?.strings ?? [];
  const targetTrees = get('target_treeids');
  const targetNodes = get('target_nodeids');
  const weights = get('target_weights_as_tensor', 'target_weights');
  const base = get('base_values_as_tensor', 'base_values');
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
