/**
 * One cold start of the inference handler, in a fresh process (run by serving.bench.ts): the
 * module load (handler, onnxruntime-node, SDK clients), fetching the artifact from lineage with
 * its hash check, and creating the session. The fetch reads from memory, so S3's network time
 * (tens of ms for a few MB, in-region) is not in it. Prints the phases as JSON, in ms.
 */
const t0 = performance.now();
const { OnnxModel } = await import('../functions/core/onnx/runtime.ts');
await import('../functions/inference/handler.ts');
const { LineageStore } = await import('../functions/lineage/store.ts');
const t1 = performance.now();

const { referenceModels } = await import('../test/support/onnx-reference.ts');
const gbdt = referenceModels().models.find((m) => m.name === 'gbdt');
if (!gbdt) throw new Error('no gbdt reference model');
const objects = new Map<string, Uint8Array>();
const lineage = new LineageStore({
  head: async (key) =>
    objects.has(key) ? { size: objects.get(key)?.byteLength ?? 0, metadata: {} } : undefined,
  putIfAbsent: async (key, body) => {
    if (objects.has(key)) return 'exists';
    objects.set(key, body);
    return 'created';
  },
  putFile: async () => {
    throw new Error('unused');
  },
  get: async (key) => objects.get(key),
  getStream: async () => undefined,
  uri: (key) => `memory://${key}`,
  keyOf: (uri) => uri.replace('memory://', ''),
});
const ref = await lineage.putBytes('models', gbdt.bytes);

const t2 = performance.now();
const bytes = await lineage.getBytes(ref);
const t3 = performance.now();
const model = await OnnxModel.load(bytes);
const t4 = performance.now();
await model.release();
console.log(
  JSON.stringify({
    'module load': t1 - t0,
    [`model fetch + SHA-256 check (${(bytes.byteLength / 1024).toFixed(0)} KiB, from memory)`]: t3 - t2,
    'session create': t4 - t3,
  }),
);
