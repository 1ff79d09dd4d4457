/**
 * Compiles a fitted feature pipeline and the model behind it into one ONNX graph, so serving
 * runs exactly the transforms training fitted. Graph inputs are the pipeline's raw columns, one
 * `[N,1]` tensor each, named as the column: float32 for numeric columns (NaN = missing) and
 * string for categorical ones ("" = missing). Outputs follow skl2onnx's classifier convention:
 * `label` (int64 `[N]`) and `probabilities` (float32 `[N,2]`, classes 0 and 1).
 *
 * Inside the graph everything is computed in float64, as the TypeScript pipeline and models do,
 * so the two agree to rounding on the same (float32-representable) inputs. Tree thresholds and
 * leaf values are float64 tensors (ai.onnx.ml v3 `*_as_tensor` attributes).
 */
import type onnxProto from 'onnx-proto';
import type { FittedPipeline, FittedStep } from '../features/pipeline.ts';
import { OTHER_CATEGORY } from '../features/pipeline.ts';
import type { GbdtModel } from '../models/gbdt.ts';
import type { LogisticModel } from '../models/logistic.ts';
import type { TrainedModel } from '../models/model.ts';
import { DataType, doubleTensor, GraphBuilder, onnx, tensorValueInfo } from './graph.ts';
import { OUTPUTS } from './outputs.ts';

/** Opsets the exported graphs use; onnxruntime 1.17+ runs them. */
export const OPSETS = { 'ai.onnx': 15, 'ai.onnx.ml': 3 } as const;

export interface ExportOptions {
  /** Producer version recorded in the model (Keel's version). */
  readonly producerVersion: string;
  /** Metadata props: Keel adds `keel.feature_names`, `keel.model_kind`; callers add hashes and ids. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Graph name. @default 'keel' */
  readonly name?: string;
}

type Value =
  | { readonly kind: 'numeric'; readonly tensor: string }
  | {
      readonly kind: 'categorical';
      readonly tensor: string;
      /** What a missing ("") value is read as, after categorical imputation. */
      readonly missingAs?: string;
    };

function numericValue(values: Map<string, Value>, column: string): string {
  const value = values.get(column);
  if (value?.kind !== 'numeric') throw new Error(`pipeline step needs numeric column ${column}`);
  return value.tensor;
}

function compileStep(g: GraphBuilder, values: Map<string, Value>, step: FittedStep): void {
  const nan = () => g.double([Number.NaN], [1], 'nan');
  switch (step.type) {
    case 'impute': {
      const x = numericValue(values, step.column);
      const out = g.node('Where', [g.node('IsNaN', [x]), g.double([step.value], [1], 'fill'), x]);
      values.set(step.column, { kind: 'numeric', tensor: out });
      return;
    }
    case 'impute-category': {
      const value = values.get(step.column);
      if (value?.kind !== 'categorical') throw new Error(`impute-category needs categorical ${step.column}`);
      // Symbolic: the one-hot encoder maps "" to the imputed category.
      values.set(step.column, { ...value, missingAs: value.missingAs ?? step.value });
      return;
    }
    case 'clip': {
      // Comparisons with NaN are false, so missing values pass through as TypeScript's Math.min/max do.
      let x = numericValue(values, step.column);
      if (step.min !== undefined) {
        const min = g.double([step.min], [1], 'min');
        x = g.node('Where', [g.node('Less', [x, min]), min, x]);
      }
      if (step.max !== undefined) {
        const max = g.double([step.max], [1], 'max');
        x = g.node('Where', [g.node('Greater', [x, max]), max, x]);
      }
      values.set(step.column, { kind: 'numeric', tensor: x });
      return;
    }
    case 'standardise': {
      const x = numericValue(values, step.column);
      const centred = g.node('Sub', [x, g.double([step.mean], [1], 'mean')]);
      values.set(step.column, {
        kind: 'numeric',
        tensor: g.node('Div', [centred, g.double([step.scale], [1], 'scale')]),
      });
      return;
    }
    case 'log': {
      const shifted = g.node('Add', [
        numericValue(values, step.column),
        g.double([step.offset], [1], 'offset'),
      ]);
      const positive = g.node('Greater', [shifted, g.double([0], [1], 'zero')]);
      values.set(step.column, {
        kind: 'numeric',
        tensor: g.node('Where', [positive, g.node('Log', [shifted]), nan()]),
      });
      return;
    }
    case 'bucketise': {
      const x = numericValue(values, step.column);
      let count: string;
      if (step.edges.length === 0) count = g.double([0], [1], 'zero');
      else {
        const below = g.node('LessOrEqual', [g.double(step.edges, [1, step.edges.length], 'edges'), x]);
        const asDouble = g.node('Cast', [below], { to: { int: DataType.DOUBLE } });
        count = g.node('ReduceSum', [asDouble, g.int64([1], [1], 'axis')], { keepdims: { int: 1 } });
      }
      values.set(step.column, {
        kind: 'numeric',
        tensor: g.node('Where', [g.node('IsNaN', [x]), nan(), count]),
      });
      return;
    }
    case 'ratio': {
      const a = numericValue(values, step.numerator);
      const b = numericValue(values, step.denominator);
      const zero = g.node('Equal', [b, g.double([0], [1], 'zero')]);
      values.set(step.name, {
        kind: 'numeric',
        tensor: g.node('Where', [zero, nan(), g.node('Div', [a, b])]),
      });
      return;
    }
    case 'one-hot':
      // Compiled as one block by compilePipeline (compileOneHot), never column by column.
      throw new Error(`one-hot of ${step.column} is compiled as a block`);
  }
}

function compileLogistic(g: GraphBuilder, x: string, model: LogisticModel): string {
  const d = model.coefficients.length;
  const z = g.node('MatMul', [x, g.double(model.coefficients, [d, 1], 'coefficients')]);
  return g.node('Add', [z, g.double([model.intercept], [1], 'intercept')]);
}

function compileGbdt(g: GraphBuilder, x: string, model: GbdtModel): string {
  const a = {
    treeIds: [] as number[],
    nodeIds: [] as number[],
    features: [] as number[],
    modes: [] as string[],
    thresholds: [] as number[],
    trueIds: [] as number[],
    falseIds: [] as number[],
    missingTrue: [] as number[],
    targetTree: [] as number[],
    targetNode: [] as number[],
    weights: [] as number[],
  };
  model.trees.forEach((tree, t) => {
    for (let node = 0; node < tree.feature.length; node++) {
      const feature = tree.feature[node] as number;
      a.treeIds.push(t);
      a.nodeIds.push(node);
      if (feature < 0) {
        a.features.push(0);
        a.modes.push('LEAF');
        a.thresholds.push(0);
        a.trueIds.push(0);
        a.falseIds.push(0);
        a.missingTrue.push(0);
        a.targetTree.push(t);
        a.targetNode.push(node);
        a.weights.push(tree.value[node] as number);
      } else {
        // x <= threshold goes to the true (left) branch; NaN follows the learnt direction.
        a.features.push(feature);
        a.modes.push('BRANCH_LEQ');
        a.thresholds.push(tree.threshold[node] as number);
        a.trueIds.push(tree.left[node] as number);
        a.falseIds.push(tree.right[node] as number);
        a.missingTrue.push(tree.missingLeft[node] as number);
      }
    }
  });
  const score = g.node(
    'TreeEnsembleRegressor',
    [x],
    {
      n_targets: { int: 1 },
      aggregate_function: { string: 'SUM' },
      post_transform: { string: 'NONE' },
      base_values_as_tensor: { tensor: doubleTensor([model.baseScore], [1]) },
      nodes_treeids: { ints: a.treeIds },
      nodes_nodeids: { ints: a.nodeIds },
      nodes_featureids: { ints: a.features },
      nodes_modes: { strings: a.modes },
      nodes_values_as_tensor: { tensor: doubleTensor(a.thresholds, [a.thresholds.length]) },
      nodes_truenodeids: { ints: a.trueIds },
      nodes_falsenodeids: { ints: a.falseIds },
      nodes_missing_value_tracks_true: { ints: a.missingTrue },
      target_ids: { ints: a.targetTree.map(() => 0) },
      target_treeids: { ints: a.targetTree },
      target_nodeids: { ints: a.targetNode },
      target_weights_as_tensor: { tensor: doubleTensor(a.weights, [a.weights.length]) },
    },
    { domain: 'ai.onnx.ml' },
  );
  // The regressor's output is float32 by the operator's definition.
  return g.node('Cast', [score], { to: { int: DataType.DOUBLE } });
}

/** Steps that act on one numeric column elementwise: a run of them on distinct columns is one matrix op. */
const ELEMENTWISE = new Set(['impute', 'standardise', 'clip', 'log']);
type ElementwiseStep = Extract<FittedStep, { type: 'impute' | 'standardise' | 'clip' | 'log' }>;

/**
 * Graph inputs for the pipeline's raw columns and the `[N,F]` float64 feature tensor it computes.
 *
 * Vectorised: the numeric inputs are concatenated into one `[N,k]` matrix first (one Cast), and
 * each run of elementwise steps (impute, standardise, clip, log) on distinct columns is one op
 * over the matrix with per-column constants that leave the other columns exactly as they are
 * (fill NaN, mean 0 and scale 1, bounds ±∞, a mask). One-hot encodes a column into one `[N,K]`
 * block (one Equal, one Cast). Steps that make a column of their own (bucketise, ratio) take
 * it out of the matrix. A final Concat and Gather put the features in order. Per-column nodes
 * made a single row cost several times the model: onnxruntime's cost is per node, not per value.
 */
function compilePipeline(g: GraphBuilder, pipeline: FittedPipeline) {
  const values = new Map<string, Value>();
  const numeric: string[] = [];
  const inputs = pipeline.inputs.map(({ name, type }) => {
    g.reserve(name);
    if (type === 'numeric') {
      numeric.push(name);
      return tensorValueInfo(name, DataType.FLOAT, ['N', 1]);
    }
    values.set(name, { kind: 'categorical', tensor: name });
    return tensorValueInfo(name, DataType.STRING, ['N', 1]);
  });
  const k = numeric.length;
  let matrix =
    k === 0
      ? undefined
      : g.node('Cast', [k === 1 ? (numeric[0] as string) : g.node('Concat', numeric, { axis: { int: 1 } })], {
          to: { int: DataType.DOUBLE },
        });
  /** Columns that live in the matrix, by their index in it. */
  const slot = new Map(numeric.map((name, index) => [name, index]));
  /** Blocks of columns made together (one-hot), and where each column of them is. */
  const blocks: { readonly tensor: string; readonly width: number }[] = [];
  const inBlock = new Map<string, { readonly block: number; readonly index: number }>();

  const column = (name: string): string => {
    const index = slot.get(name);
    if (index !== undefined && matrix)
      return g.node('Gather', [matrix, g.int64([index], [1], 'column')], { axis: { int: 1 } });
    const at = inBlock.get(name);
    if (at) {
      const block = blocks[at.block] as { tensor: string };
      return g.node('Gather', [block.tensor, g.int64([at.index], [1], 'column')], { axis: { int: 1 } });
    }
    return numericValue(values, name);
  };
  /** A column as a tensor of its own, for a step that reads it; `replace` when the step rewrites it. */
  const standalone = (name: string, replace: boolean) => {
    if (!slot.has(name) && !inBlock.has(name)) return;
    values.set(name, { kind: 'numeric', tensor: column(name) });
    if (replace) {
      slot.delete(name);
      inBlock.delete(name);
    }
  };

  const steps = pipeline.steps;
  for (let i = 0; i < steps.length; ) {
    const step = steps[i] as FittedStep;
    if (ELEMENTWISE.has(step.type) && matrix && slot.has((step as ElementwiseStep).column)) {
      // The run: the same kind of step on distinct matrix columns.
      const run: ElementwiseStep[] = [];
      const seen = new Set<string>();
      while (i < steps.length) {
        const next = steps[i] as FittedStep;
        if (next.type !== step.type) break;
        const c = (next as ElementwiseStep).column;
        if (!slot.has(c) || seen.has(c)) break;
        run.push(next as ElementwiseStep);
        seen.add(c);
        i++;
      }
      matrix = compileRun(g, matrix, k, run, (c) => slot.get(c) as number);
      continue;
    }
    i++;
    switch (step.type) {
      case 'one-hot': {
        const value = values.get(step.column);
        if (value?.kind !== 'categorical') throw new Error(`one-hot needs categorical ${step.column}`);
        const { tensor, categories } = compileOneHot(g, value, step);
        blocks.push({ tensor, width: categories.length });
        for (const [index, category] of categories.entries())
          inBlock.set(`${step.column}=${category}`, { block: blocks.length - 1, index });
        values.delete(step.column);
        continue;
      }
      case 'ratio':
        standalone(step.numerator, false);
        standalone(step.denominator, false);
        slot.delete(step.name);
        inBlock.delete(step.name);
        break;
      case 'impute-category':
        break;
      default:
        standalone(step.column, true);
    }
    compileStep(g, values, step);
  }

  // Assemble: the matrix (if a feature is in it), the blocks, the standalone columns; then order.
  const parts: { tensor: string; width: number }[] = [];
  const offsets = new Map<string, number>();
  const partOf = (tensor: string, width: number) => {
    let offset = offsets.get(tensor);
    if (offset === undefined) {
      offset = parts.reduce((n, p) => n + p.width, 0);
      offsets.set(tensor, offset);
      parts.push({ tensor, width });
    }
    return offset;
  };
  const indices = pipeline.features.map((f) => {
    const index = slot.get(f.name);
    if (index !== undefined && matrix) return partOf(matrix, k) + index;
    const at = inBlock.get(f.name);
    if (at) {
      const block = blocks[at.block] as { tensor: string; width: number };
      return partOf(block.tensor, block.width) + at.index;
    }
    return partOf(numericValue(values, f.name), 1);
  });
  const all =
    parts.length === 1
      ? (parts[0] as { tensor: string }).tensor
      : g.node(
          'Concat',
          parts.map((p) => p.tensor),
          { axis: { int: 1 } },
        );
  const width = parts.reduce((n, p) => n + p.width, 0);
  const identity = width === indices.length && indices.every((v, j) => v === j);
  const x = identity
    ? all
    : g.node('Gather', [all, g.int64(indices, [indices.length], 'features')], { axis: { int: 1 } });
  return { inputs, x };
}

/** One run of an elementwise step over the `[N,k]` matrix; columns outside the run are unchanged, bit for bit. */
function compileRun(
  g: GraphBuilder,
  matrix: string,
  k: number,
  run: readonly ElementwiseStep[],
  indexOf: (column: string) => number,
): string {
  const vector = (fill: number, set: (step: ElementwiseStep) => number) => {
    const v = new Array<number>(k).fill(fill);
    for (const step of run) v[indexOf(step.column)] = set(step);
    return v;
  };
  const type = run[0]?.type;
  switch (type) {
    case 'impute': {
      // A NaN fill leaves another column's NaN as it was.
      const fill = vector(Number.NaN, (s) => (s as Extract<ElementwiseStep, { type: 'impute' }>).value);
      return g.node('Where', [g.node('IsNaN', [matrix]), g.double(fill, [1, k], 'fill'), matrix]);
    }
    case 'standardise': {
      const mean = vector(0, (s) => (s as Extract<ElementwiseStep, { type: 'standardise' }>).mean);
      const scale = vector(1, (s) => (s as Extract<ElementwiseStep, { type: 'standardise' }>).scale);
      const centred = g.node('Sub', [matrix, g.double(mean, [1, k], 'mean')]);
      return g.node('Div', [centred, g.double(scale, [1, k], 'scale')]);
    }
    case 'clip': {
      // Comparisons with NaN are false, so missing values pass through as TypeScript's Math.min/max do.
      const clips = run as readonly Extract<ElementwiseStep, { type: 'clip' }>[];
      let x = matrix;
      if (clips.some((s) => s.min !== undefined)) {
        const min = g.double(
          vector(
            Number.NEGATIVE_INFINITY,
            (s) => (s as (typeof clips)[number]).min ?? Number.NEGATIVE_INFINITY,
          ),
          [1, k],
          'min',
        );
        x = g.node('Where', [g.node('Less', [x, min]), min, x]);
      }
      if (clips.some((s) => s.max !== undefined)) {
        const max = g.double(
          vector(
            Number.POSITIVE_INFINITY,
            (s) => (s as (typeof clips)[number]).max ?? Number.POSITIVE_INFINITY,
          ),
          [1, k],
          'max',
        );
        x = g.node('Where', [g.node('Greater', [x, max]), max, x]);
      }
      return x;
    }
    case 'log': {
      const offset = vector(0, (s) => (s as Extract<ElementwiseStep, { type: 'log' }>).offset);
      const shifted = g.node('Add', [matrix, g.double(offset, [1, k], 'offset')]);
      const logged = g.node('Where', [
        g.node('Greater', [shifted, g.double([0], [1], 'zero')]),
        g.node('Log', [shifted]),
        g.double([Number.NaN], [1], 'nan'),
      ]);
      // Only the run's columns take the log; a mask picks them.
      const mask = g.node('Greater', [
        g.double(
          vector(0, () => 1),
          [1, k],
          'mask',
        ),
        g.double([0], [1], 'zero'),
      ]);
      return g.node('Where', [mask, logged, matrix]);
    }
    default:
      throw new Error(`not an elementwise step: ${String(type)}`);
  }
}

/** A categorical column one-hot encoded into one `[N,K]` float64 block, the other bucket last. */
function compileOneHot(
  g: GraphBuilder,
  value: Extract<Value, { kind: 'categorical' }>,
  step: Extract<FittedStep, { type: 'one-hot' }>,
): { tensor: string; categories: string[] } {
  const keys = [...step.categories];
  const codes = step.categories.map((_, k) => k);
  const missing = value.missingAs === undefined ? -1 : step.categories.indexOf(value.missingAs);
  if (missing >= 0) {
    keys.push('');
    codes.push(missing);
  }
  // Unknown categories and missing values fall to the default code: the other bucket.
  const other = step.categories.length;
  const code = g.node(
    'LabelEncoder',
    [value.tensor],
    { keys_strings: { strings: keys }, values_int64s: { ints: codes }, default_int64: { int: other } },
    { domain: 'ai.onnx.ml' },
  );
  const categories = [...step.categories, OTHER_CATEGORY];
  const range = g.int64(
    categories.map((_, k) => k),
    [1, categories.length],
    'codes',
  );
  const hits = g.node('Equal', [code, range]);
  return { tensor: g.node('Cast', [hits], { to: { int: DataType.DOUBLE } }), categories };
}

function serialise(
  g: GraphBuilder,
  inputs: onnxProto.onnx.IValueInfoProto[],
  outputs: onnxProto.onnx.IValueInfoProto[],
  metadata: Record<string, string>,
  options: ExportOptions,
): Uint8Array {
  const proto = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'keel',
    producerVersion: options.producerVersion,
    domain: 'dev.keel',
    modelVersion: 1,
    opsetImport: Object.entries(OPSETS).map(([domain, version]) => ({
      domain: domain === 'ai.onnx' ? '' : domain,
      version,
    })),
    metadataProps: Object.entries(metadata)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, value]) => ({ key, value })),
    graph: {
      name: options.name ?? 'keel',
      node: g.nodes,
      initializer: g.initializers,
      input: inputs,
      output: outputs,
    },
  });
  return onnx.ModelProto.encode(proto).finish();
}

function pipelineMetadata(pipeline: FittedPipeline, options: ExportOptions): Record<string, string> {
  return {
    ...options.metadata,
    'keel.feature_names': JSON.stringify(pipeline.features.map((f) => f.name)),
    'keel.inputs': JSON.stringify(pipeline.inputs),
  };
}

/**
 * The pipeline alone, with one output `features` (float64 `[N,F]`): for checking a pipeline's
 * ONNX execution against TypeScript's, and for inspecting what a model sees.
 */
export function exportPipelineOnnx(pipeline: FittedPipeline, options: ExportOptions): Uint8Array {
  const g = new GraphBuilder();
  g.reserve('features');
  const { inputs, x } = compilePipeline(g, pipeline);
  g.node('Identity', [x], {}, { output: 'features' });
  const outputs = [tensorValueInfo('features', DataType.DOUBLE, ['N', pipeline.features.length])];
  return serialise(g, inputs, outputs, pipelineMetadata(pipeline, options), options);
}

/** The skl2onnx-style outputs from the logit `z`: `probabilities` [N,2] float32 and `label` [N] int64. */
function compileOutputs(g: GraphBuilder, z: string) {
  const p1 = g.node('Sigmoid', [z]);
  const p0 = g.node('Sub', [g.double([1], [1], 'one'), p1]);
  const both = g.node('Concat', [p0, p1], { axis: { int: 1 } });
  g.node('Cast', [both], { to: { int: DataType.FLOAT } }, { output: OUTPUTS.probabilities });
  // Class 1 only when strictly more likely, as argmax breaks ties towards class 0.
  const positive = g.node('Cast', [g.node('Greater', [p1, g.double([0.5], [1], 'half')])], {
    to: { int: DataType.INT64 },
  });
  g.node('Reshape', [positive, g.int64([-1], [1], 'flat')], {}, { output: OUTPUTS.label });
  return [
    tensorValueInfo(OUTPUTS.label, DataType.INT64, ['N']),
    tensorValueInfo(OUTPUTS.probabilities, DataType.FLOAT, ['N', 2]),
  ];
}

/** The serialised ONNX model: pipeline, model and skl2onnx-style outputs in one graph. */
export function exportOnnx(
  pipeline: FittedPipeline,
  model: TrainedModel,
  options: ExportOptions,
): Uint8Array {
  const expected = model.kind === 'logistic' ? model.coefficients.length : model.features;
  if (expected !== pipeline.features.length)
    throw new Error(`model takes ${expected} features, pipeline makes ${pipeline.features.length}`);

  const g = new GraphBuilder();
  for (const name of Object.values(OUTPUTS)) g.reserve(name);
  const { inputs, x } = compilePipeline(g, pipeline);
  const z = model.kind === 'logistic' ? compileLogistic(g, x, model) : compileGbdt(g, x, model);
  const outputs = compileOutputs(g, z);
  const metadata = {
    ...pipelineMetadata(pipeline, options),
    'keel.model_kind': model.kind === 'logistic' ? 'lr' : 'gbdt',
  };
  return serialise(g, inputs, outputs, metadata, options);
}

/**
 * The model alone over a computed `features` [N,F] float64 input, with the same outputs: the
 * baseline the in-graph pipeline is measured against (`npm run bench -- inference`).
 */
export function exportModelOnnx(model: TrainedModel, options: ExportOptions): Uint8Array {
  const width = model.kind === 'logistic' ? model.coefficients.length : model.features;
  const g = new GraphBuilder();
  for (const name of [...Object.values(OUTPUTS), 'features']) g.reserve(name);
  const z =
    model.kind === 'logistic' ? compileLogistic(g, 'features', model) : compileGbdt(g, 'features', model);
  const outputs = compileOutputs(g, z);
  const inputs = [tensorValueInfo('features', DataType.DOUBLE, ['N', width])];
  return serialise(g, inputs, outputs, { ...(options.metadata ?? {}), 'keel.inputs': '[]' }, options);
}

export { OUTPUTS };
