// The cold-start baseline, in a fresh Node process: load onnxruntime-node, create the same
// session from the model's bytes and run one row. Prints JSON.
import { readFileSync } from 'node:fs';

const [modelPath, feedsPath] = process.argv.slice(2);
const t0 = performance.now();
const ort = await import('onnxruntime-node');
const t1 = performance.now();
const session = await ort.InferenceSession.create(readFileSync(modelPath), {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
});
const spec = JSON.parse(readFileSync(feedsPath, 'utf8'));
const feeds = Object.fromEntries(
  spec.map(([name, type, value]) => [
    name,
    type === 'numeric'
      ? new ort.Tensor('float32', Float32Array.of(value ?? Number.NaN), [1, 1])
      : new ort.Tensor('string', [String(value ?? '')], [1, 1]),
  ]),
);
await session.run(feeds);
const t2 = performance.now();
console.log(JSON.stringify({ load: t1 - t0, first: t2 - t1 }));
