/**
 * Serving cost, each against the bare model in the same run:
 * - warm single-row latency of the inference handler (validation, breaker, ids, capture, the
 *   full middy + Powertools pipeline) against a bare `session.run` on the same model, per model
 *   kind (goal: p99 ≤ 1 ms);
 * - local HTTP throughput of `keel up`'s server (event conversion, alias routing, the local
 *   Lambda runtime, the handler) against a bare Node `http` server that only parses the body
 *   and runs the session, both measured with autocannon (goal: ≥ 60 %).
 * The cold start is `cold-start.bench.ts`, on the bundle CDK ships.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import * as ort from 'onnxruntime-node';
import { cell } from '../functions/core/data/table.ts';
import { type Comparison, compare, compareSamples } from './harness.ts';

// Powertools writes an EMF blob and log lines per invocation; in a benchmark loop that is noise.
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
process.env.POWERTOOLS_TRACE_ENABLED = 'false';

const context = {
  awsRequestId: 'bench',
  functionName: 'bench',
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

function event(path: string, body: string): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: {},
    requestContext: {
      http: { method: 'POST', path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'bench' },
    } as APIGatewayProxyEventV2['requestContext'],
    isBase64Encoded: false,
    body,
  };
}

async function throughput(url: string, body: string, seconds: number): Promise<number> {
  const result = await autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections: 10,
    duration: seconds,
  });
  return result.requests.average;
}

/**
 * Requests per second of each server: both warmed up first (JIT, connection pools, lazy
 * registration), then measured in alternating rounds so drift of the machine hits both alike;
 * the median round of each counts.
 */
async function compareThroughput(urls: { subject: string; baseline: string }, body: string) {
  await throughput(urls.subject, body, 2);
  await throughput(urls.baseline, body, 2);
  const subject: number[] = [];
  const baseline: number[] = [];
  for (let round = 0; round < 3; round++) {
    subject.push(await throughput(urls.subject, body, 4));
    baseline.push(await throughput(urls.baseline, body, 4));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1] as number;
  return { subjectRps: median(subject), baselineRps: median(baseline) };
}

export async function run(): Promise<Comparison[]> {
  const { referenceModels } = await import('../test/support/onnx-reference.ts');
  const { OnnxModel } = await import('../functions/core/onnx/runtime.ts');
  const { InferenceService } = await import('../functions/inference/service.ts');
  const { onnxScorer } = await import('../functions/inference/scorers.ts');
  const { handleHttp } = await import('../functions/inference/routes.ts');
  const { keelHandler } = await import('../functions/commons/middleware.ts');
  const { MemoryCaptureSink } = await import('../functions/inference/capture.ts');
  const reference = referenceModels();
  const row = Object.fromEntries(
    reference.pipeline.inputs.map((i) => [i.name, cell(reference.scoring.columns.get(i.name) as never, 0)]),
  );
  const body = JSON.stringify({ instances: [row] });
  const out: Comparison[] = [];

  for (const { name, bytes } of reference.models) {
    const model = await OnnxModel.load(bytes);
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    const feeds = Object.fromEntries(
      reference.pipeline.inputs.map((i) => [
        i.name,
        i.type === 'numeric'
          ? new ort.Tensor('float32', Float32Array.of(row[i.name] as number), [1, 1])
          : new ort.Tensor('string', [String(row[i.name] ?? '')], [1, 1]),
      ]),
    );
    // A capture sink that discards, so the benchmark does not grow an array without bound.
    const capture = new (class extends MemoryCaptureSink {
      override write() {}
    })();
    const { metrics } = await import('../functions/commons/powertools.ts');
    const service = new InferenceService({
      modelName: 'credit',
      primary: onnxScorer(model, '1'),
      safeDefault: { probability: 1, label: 1 },
      capture,
      // As the Lambda handler does: a count per path and the latency, published by Powertools.
      onServed: (servedBy, rows, latencyMs) => {
        metrics.addMetric('Predictions', 'Count', rows);
        metrics.addMetric(`ServedBy${servedBy}`, 'Count', 1);
        metrics.addMetric('InferenceLatency', 'Milliseconds', latencyMs);
      },
    });
    const routed = (e: APIGatewayProxyEventV2) => handleHttp(e, { service, capture });
    const handler = keelHandler((e: APIGatewayProxyEventV2) => routed(e), { http: true });
    out.push(
      await compare({
        suite: `serving ${name}`,
        baseline: { name: 'bare session.run, 1 row', fn: () => session.run(feeds) },
        subject: {
          name: 'inference handler (middy + Powertools), 1 row',
          fn: () => handler(event('/v1/models/credit:predict', body), context),
        },
        goal: 'p99 ≤ 1 ms',
      }),
      await compare({
        suite: `serving ${name}`,
        baseline: { name: 'bare session.run, 1 row', fn: () => session.run(feeds) },
        subject: {
          name: 'routes + service (no middy), 1 row',
          fn: () => routed(event('/v1/models/credit:predict', body)),
        },
      }),
    );
    await session.release();
    await model.release();
  }

  // Local HTTP: keel up's server with the GBDT model live, against a bare server on the same model.
  const { LocalRuntime } = await import('../local/runtime.ts');
  const { parseConfig } = await import('../functions/contracts/config/load.ts');
  const { createLineageStore, createRegistry } = await import('../functions/composition/aws.ts');
  const { registerReferenceGbdt } = await import('./reference-model.ts');
  const config = parseConfig(JSON.parse(readFileSync('keel.config.json', 'utf8')));
  const gbdt = reference.models.find((m) => m.name === 'gbdt');
  if (!gbdt) throw new Error('no gbdt reference model');
  /** A runtime serving the GBDT reference model as credit@production. */
  const served = async (options: Parameters<typeof LocalRuntime.start>[0]) => {
    const runtime = await LocalRuntime.start(options);
    await registerReferenceGbdt(createRegistry(), createLineageStore());
    await runtime.syncServing();
    return runtime;
  };
  const session = await ort.InferenceSession.create(gbdt.bytes, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
  const bare = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const instance = (
        JSON.parse(Buffer.concat(chunks).toString('utf8')) as { instances: Record<string, unknown>[] }
      ).instances[0] as Record<string, number | string | null>;
      const feeds = Object.fromEntries(
        reference.pipeline.inputs.map((i) => [
          i.name,
          i.type === 'numeric'
            ? new ort.Tensor(
                'float32',
                Float32Array.of((instance[i.name] as number | null) ?? Number.NaN),
                [1, 1],
              )
            : new ort.Tensor('string', [String(instance[i.name] ?? '')], [1, 1]),
        ]),
      );
      session.run(feeds).then((r) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ probability: (r.probabilities?.data as Float32Array | undefined)?.[1] }));
      });
    });
  });
  await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
  const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/`;
  // The ephemeral runtime keeps no journal (nothing to recover); `keel up` on a state directory
  // journals every answer's captures before the answer leaves (fsync by default, or write).
  const variants = [
    { name: 'keel up server, ephemeral (no capture journal)', durability: undefined },
    { name: 'keel up server, capture journal fsync', durability: 'fsync' as const },
    { name: 'keel up server, capture journal write', durability: 'write' as const },
  ];
  try {
    for (const variant of variants) {
      const stateDir = variant.durability ? await mkdtemp(join(tmpdir(), 'keel-bench-journal-')) : undefined;
      const runtime = await served({
        config: variant.durability
          ? { ...config, local: { ...config.local, captureDurability: variant.durability } }
          : config,
        ...(stateDir ? { stateDir, announce: false } : { ephemeral: true }),
        port: 0,
      });
      try {
        const { subjectRps: keelRps, baselineRps: bareRps } = await compareThroughput(
          { subject: `${runtime.url}/v1/models/credit:predict`, baseline: bareUrl },
          body,
        );
        // Throughput as time per request, so the ratio reads like the others (lower is better).
        out.push(
          compareSamples({
            suite: 'local HTTP, autocannon 10 connections, median of 3 × 4 s',
            subject: `${variant.name} (${Math.round(keelRps)} req/s)`,
            baseline: `bare node http + session.run (${Math.round(bareRps)} req/s)`,
            subjectMs: [1000 / keelRps],
            baselineMs: [1000 / bareRps],
            goal: 'throughput ≥ 60 % of bare: ratio ≤ 1.67',
          }),
        );
      } finally {
        await runtime.stop();
        if (stateDir) await rm(stateDir, { recursive: true, force: true });
      }
    }
  } finally {
    bare.close();
    await session.release();
  }

  return out;
}
