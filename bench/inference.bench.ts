/**
 * onnxruntime-node scoring of exported Keel models (pipeline + model in one graph): single-row
 * `run` latency and 1000-row throughput for each model kind. The baseline is the same model
 * scored in TypeScript (pipeline transform + predict) on the same rows, in the same run.
 */

import * as ort from 'onnxruntime-node';
import { cell, type Table } from '../functions/core/data/table.ts';
import { transform } from '../functions/core/features/pipeline.ts';
import { predictProba } from '../functions/core/models/model.ts';
import { exportModelOnnx, OPSETS } from '../functions/core/onnx/export.ts';
import { DataType, GraphBuilder, onnx as onnxSchema, tensorValueInfo } from '../functions/core/onnx/graph.ts';
import { OnnxModel, type RawColumn } from '../functions/core/onnx/runtime.ts';
import { generateCredit } from '../functions/core/synthetic/credit.ts';
import { asFloat32, referenceModels } from '../test/support/onnx-reference.ts';
import { type Comparison, compare } from './harness.ts';

function slice(table: Table, rows: number): Table {
  return {
    rowCount: rows,
    columns: new Map(
      [...table.columns].map(([name, c]) => [
        name,
        c.kind === 'numeric'
          ? { kind: 'numeric', values: c.values.slice(0, rows) }
          : { kind: 'categorical', codes: c.codes.slice(0, rows), dictionary: c.dictionary },
      ]),
    ),
  };
}

function rawColumns(table: Table): Map<string, RawColumn> {
  return new Map(
    [...table.columns].map(([name, c]) => [
      name,
      Array.from({ length: table.rowCount }, (_, i) => cell(c, i)),
    ]),
  );
}

/** A graph that takes the pipeline's raw inputs and does nothing with them but pass one through. */
function inputsOnlyGraph(
  inputs: readonly { readonly name: string; readonly type: 'numeric' | 'categorical' }[],
) {
  const g = new GraphBuilder();
  const declared = inputs.map(({ name, type }) => {
    g.reserve(name);
    return tensorValueInfo(name, type === 'numeric' ? DataType.FLOAT : DataType.STRING, ['N', 1]);
  });
  g.reserve('out');
  const first = inputs.find((i) => i.type === 'numeric');
  if (!first) throw new Error('no numeric input');
  g.node('Identity', [first.name], {}, { output: 'out' });
  const model = onnxSchema.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: OPSETS['ai.onnx'] }],
    graph: {
      name: 'inputs-only',
      node: g.nodes,
      initializer: g.initializers,
      input: declared,
      output: [tensorValueInfo('out', DataType.FLOAT, ['N', 1])],
    },
  });
  return onnxSchema.ModelProto.encode(model).finish();
}

export async function run(): Promise<Comparison[]> {
  const { pipeline, models } = referenceModels();
  const batch = asFloat32(generateCredit({ rows: 1000, seed: 99 }));
  const one = slice(batch, 1);
  const out: Comparison[] = [];
  for (const { name, model, bytes } of models) {
    const onnx = await OnnxModel.load(bytes);
    const oneRaw = rawColumns(one);
    const batchRaw = rawColumns(batch);
    out.push(
      await compare({
        suite: `inference ${name}`,
        baseline: {
          name: 'TypeScript pipeline + model, 1 row',
          fn: () => predictProba(model, transform(pipeline, one).matrix),
        },
        subject: { name: 'onnxruntime-node run, 1 row', fn: () => onnx.score(oneRaw, 1) },
        goal: 'single-row latency well under a millisecond',
      }),
      await compare({
        suite: `inference ${name}`,
        baseline: {
          name: 'TypeScript pipeline + model, 1000 rows',
          fn: () => predictProba(model, transform(pipeline, batch).matrix),
        },
        subject: { name: 'onnxruntime-node run, 1000 rows', fn: () => onnx.score(batchRaw, 1000) },
        goal: 'report rows/s',
      }),
    );
    // The in-graph pipeline's own cost: the shipped graph on one row's raw columns against the
    // model alone on that row's computed features, both as bare session.run with feeds built once.
    const options = { intraOpNumThreads: 1, interOpNumThreads: 1 };
    const full = await ort.InferenceSession.create(bytes, options);
    const modelOnly = await ort.InferenceSession.create(
      exportModelOnnx(model, { producerVersion: 'bench' }),
      options,
    );
    const rawFeeds = Object.fromEntries(
      pipeline.inputs.map(({ name, type }) => {
        const value = cell(one.columns.get(name) as never, 0);
        return [
          name,
          type === 'numeric'
            ? new ort.Tensor('float32', Float32Array.of((value as number | null) ?? Number.NaN), [1, 1])
            : new ort.Tensor('string', [String(value ?? '')], [1, 1]),
        ];
      }),
    );
    const features = transform(pipeline, one).matrix;
    const featureFeeds = {
      features: new ort.Tensor('float64', Float64Array.from(features.data), [1, pipeline.features.length]),
    };
    out.push(
      await compare({
        suite: `inference ${name}, in-graph pipeline (${pipeline.inputs.length} inputs → ${pipeline.features.length} features)`,
        baseline: { name: 'model-only graph, session.run, 1 row', fn: () => modelOnly.run(featureFeeds) },
        subject: { name: 'pipeline + model graph, session.run, 1 row', fn: () => full.run(rawFeeds) },
        goal: 'in-graph pipeline ≤ 2× the model-only graph',
      }),
    );
    // The floor under any graph on these feeds: the same raw inputs into one Identity node.
    // onnxruntime-node marshals each feed tensor across N-API; one per column costs more than the nodes.
    const floor = await ort.InferenceSession.create(inputsOnlyGraph(pipeline.inputs), options);
    out.push(
      await compare({
        suite: `inference ${name}, in-graph pipeline (${pipeline.inputs.length} inputs → ${pipeline.features.length} features)`,
        baseline: { name: 'model-only graph, session.run, 1 row', fn: () => modelOnly.run(featureFeeds) },
        subject: {
          name: `the raw feeds alone (${pipeline.inputs.length} tensors into one Identity), 1 row`,
          fn: () => floor.run(rawFeeds),
        },
        goal: 'explains the gap: the per-column feeds, not the pipeline nodes',
      }),
    );
    await floor.release();
    await full.release();
    await modelOnly.release();
    await onnx.release();
  }
  return out;
}
