import { createRequire } from 'node:module';

// One cold start of a bundle, in a fresh Node process (run by cold-start.bench.ts): the
// bundle's module load, then the first request (client creation, registry lookup, artifact
// fetch + hash check, session creation, the prediction), then one warm request. Prints JSON.
const [bundle, body] = process.argv.slice(2);
const event = (b) => ({
  version: '2.0',
  rawPath: '/v1/models/credit:predict',
  headers: { 'content-type': 'application/json' },
  requestContext: { http: { method: 'POST', path: '/v1/models/credit:predict' }, requestId: 'r' },
  body: b,
  isBase64Encoded: false,
});
const context = { awsRequestId: 'cold', functionName: 'bench', getRemainingTimeInMillis: () => 30_000 };
const t0 = performance.now();
// As the Lambda runtime loads a handler: a CommonJS one by require, an ES module by import.
const { handler } = bundle.endsWith('.cjs') ? createRequire(import.meta.url)(bundle) : await import(bundle);
const t1 = performance.now();
const first = await handler(event(body), context);
const t2 = performance.now();
await handler(event(body), context);
const t3 = performance.now();
if (first.statusCode !== 200) throw new Error(`first answer ${first.statusCode}: ${first.body}`);
const marks = performance.getEntriesByType('mark').filter((m) => m.name.startsWith('keel:cold-start:'));
console.log(
  JSON.stringify({
    load: t1 - t0,
    first: t2 - t1,
    warm: t3 - t2,
    marks: marks.map((m) => [m.name.slice('keel:cold-start:'.length), m.startTime - t1]),
  }),
);
