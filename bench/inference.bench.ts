/**
 * onnxruntime-node scoring of exported Keel models (pipeline + model in one graph): single-row
 * `run` latency and 1000-row throughput for each model kind. The baseline is the same model
 * scored in TypeScript (pipeline transform + predict) on the same rows, in the same run.
 */
import { cell, type Table } from '../functions/core/data/table.ts';
import { transform } from '../functions/core/features/pipeline.ts';
import { predictProba } from '../functions/core/models/model.ts';
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
    await onnx.release();
  }
  return out;
}
