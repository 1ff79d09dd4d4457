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
import { MISSING_GROUP } from '../evaluation/report.ts';
import type { ThresholdRule } from '../fairness/threshold.ts';
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
  /**
   * Threshold post-processing: the graph takes the rule's protected attribute as one more
   * string input and answers with the rule's adjusted margin (see `adjustedMargin`). @default none
   */
  readonly postprocess?: ThresholdRule;
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
    case 'one-hot': {
      const value = values.get(step.column);
      if (value?.kind !== 'categorical') throw new Error(`one-hot needs categorical ${step.column}`);
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
      for (const [k, category] of [...step.categories, OTHER_CATEGORY].entries()) {
        const hit = g.node('Equal', [code, g.int64([k], [1], 'code')]);
        values.set(`${step.column}=${category}`, {
          kind: 'numeric',
          tensor: g.node('Cast', [hit], { to: { int: DataType.DOUBLE } }),
        });
      }
      values.delete(step.column);
      return;
    }
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

/** Graph inputs for the pipeline's raw columns and the `[N,F]` float64 feature tensor it computes. */
function compilePipeline(g: GraphBuilder, pipeline: FittedPipeline) {
  const values = new Map<string, Value>();
  const inputs = pipeline.inputs.map(({ name, type }) => {
    g.reserve(name);
    if (type === 'numeric') {
      values.set(name, { kind: 'numeric', tensor: g.node('Cast', [name], { to: { int: DataType.DOUBLE } }) });
      return tensorValueInfo(name, DataType.FLOAT, ['N', 1]);
    }
    values.set(name, { kind: 'categorical', tensor: name });
    return tensorValueInfo(name, DataType.STRING, ['N', 1]);
  });
  for (const step of pipeline.steps) compileStep(g, values, step);
  const columns = pipeline.features.map((f) => numericValue(values, f.name));
  const x = columns.length === 1 ? (columns[0] as string) : g.node('Concat', columns, { axis: { int: 1 } });
  return { inputs, x };
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
  let z = model.kind === 'logistic' ? compileLogistic(g, x, model) : compileGbdt(g, x, model);
  const rule = options.postprocess;
  const metadata: Record<string, string> = {
    ...pipelineMetadata(pipeline, options),
    'keel.model_kind': model.kind === 'logistic' ? 'lr' : 'gbdt',
  };
  if (rule) {
    const attribute = rule.attribute;
    if (pipeline.inputs.some((i) => i.name === attribute))
      throw new Error(`${attribute} is a feature input already; post-processing declares it itself`);
    g.reserve(attribute);
    inputs.push(tensorValueInfo(attribute, DataType.STRING, ['N', 1]));
    z = compileThresholdRule(g, z, rule, attribute);
    metadata['keel.inputs'] = JSON.stringify([
      ...pipeline.inputs,
      { name: attribute, type: 'categorical', protected: true },
    ]);
    // Said plainly, for the API's metadata and the model card: this model reads the attribute.
    metadata['keel.protected_inputs'] = JSON.stringify([attribute]);
    metadata['keel.postprocess'] = JSON.stringify(rule);
  }
  const outputs = compileOutputs(g, z);
  return serialise(g, inputs, outputs, metadata, options);
}

/**
 * The rule's adjusted margin in the graph, as `adjustedMargin` computes it: the group's index
 * (a group the rule does not know gets the last, which leaves the margin as it is), its lowest
 * and highest thresholds, band and steps gathered per row, then the three cases by `Where`.
 */
function compileThresholdRule(g: GraphBuilder, z: string, rule: ThresholdRule, attribute: string): string {
  const groups = rule.groups;
  const width = Math.max(...groups.map((r) => r.thresholds.length));
  const pad = (values: readonly number[], fill: number) => [
    ...values,
    ...Array.from({ length: width - values.length }, () => fill),
  ];
  // The unknown group: thresholds at 0 and no band, so m' = m on either side.
  const lows = [...groups.map((r) => r.thresholds[0] as number), 0];
  const highs = [...groups.map((r) => r.thresholds[r.thresholds.length - 1] as number), 0];
  const deltas = [...groups.map((r) => (r.thresholds.length > 1 ? rule.band : 0)), 0];
  const steps = [
    ...groups.flatMap((r) => pad(r.thresholds, Number.POSITIVE_INFINITY)),
    ...pad([], Number.POSITIVE_INFINITY),
  ];
  const weights = [...groups.flatMap((r) => pad(r.weights, 0)), ...pad([], 0)];
  const keys = groups.map((r) => r.group);
  const codes = keys.map((_, k) => k);
  const missing = keys.indexOf(MISSING_GROUP);
  if (missing >= 0) {
    // A missing value ("") is the group the validation rows' missing values formed.
    keys.push('');
    codes.push(missing);
  }
  const code = g.node(
    'LabelEncoder',
    [attribute],
    {
      keys_strings: { strings: keys },
      values_int64s: { ints: codes },
      default_int64: { int: groups.length },
    },
    { domain: 'ai.onnx.ml' },
  );
  const index = g.node('Reshape', [code, g.int64([-1], [1], 'flat')]);
  const column = (values: number[], hint: string) =>
    g.node('Gather', [g.double(values, [values.length, 1], hint), index], { axis: { int: 0 } });
  const lo = column(lows, 'lows');
  const hi = column(highs, 'highs');
  const delta = column(deltas, 'deltas');
  const rows = groups.length + 1;
  const thresholds = g.node('Gather', [g.double(steps, [rows, width], 'steps'), index], { axis: { int: 0 } });
  const mass = g.node('Gather', [g.double(weights, [rows, width], 'weights'), index], { axis: { int: 0 } });
  const passed = g.node('Cast', [g.node('Greater', [z, thresholds])], { to: { int: DataType.DOUBLE } });
  const p = g.node('ReduceSum', [g.node('Mul', [passed, mass]), g.int64([1], [1], 'axis')], {
    keepdims: { int: 1 },
  });
  // The coin from the margin rounded to float32, as `coin` tosses it.
  const rounded = g.node('Cast', [g.node('Cast', [z], { to: { int: DataType.FLOAT } })], {
    to: { int: DataType.DOUBLE },
  });
  const scaled = g.node('Mul', [rounded, g.double([997], [1], 'coin_scale')]);
  const u = g.node('Sub', [scaled, g.node('Floor', [scaled])]);
  const above = g.node('Add', [delta, g.node('Sub', [z, hi])]);
  const below = g.node('Sub', [g.node('Sub', [z, lo]), delta]);
  // r = (m − lo)/(hi − lo) in the band; 1 where lo = −∞; never a NaN on the other branches.
  const one = g.double([1], [1], 'one');
  const loIsInf = g.node('IsInf', [lo]);
  const finiteLo = g.node('Where', [loIsInf, z, lo]);
  const span = g.node('Sub', [hi, finiteLo]);
  const safeSpan = g.node('Where', [g.node('Greater', [span, g.double([0], [1], 'zero')]), span, one]);
  const r = g.node('Where', [loIsInf, one, g.node('Div', [g.node('Sub', [z, finiteLo]), safeSpan])]);
  const half = g.double([0.5], [1], 'half');
  const positive = g.node('Mul', [g.node('Mul', [delta, g.node('Add', [one, r])]), half]);
  const negative = g.node('Mul', [
    g.node('Mul', [delta, g.node('Sub', [r, g.double([2], [1], 'two')])]),
    half,
  ]);
  const band = g.node('Where', [g.node('Less', [u, p]), positive, negative]);
  return g.node('Where', [
    g.node('Greater', [z, hi]),
    above,
    g.node('Where', [g.node('LessOrEqual', [z, lo]), below, band]),
  ]);
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
