/**
 * Local serving: the inference routes over real HTTP on `PORT`, with the same handlers and API
 * Gateway v2 event shapes as in AWS. Each model has a function with published versions, each
 * version pinned to a registry model version, and an alias `live` whose weights (moved by the
 * local deployer on the deployment config's schedule) pick the version that answers, as Lambda
 * alias routing does.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { CaptureRecord } from '../functions/contracts/capture.ts';
import type { KeelConfig } from '../functions/contracts/config/schema.ts';
import {
  INFERENCE_ENV,
  inferenceFunctionName,
  LIVE_ALIAS,
  requestSettingsOf,
} from '../functions/contracts/inference.ts';
import { resolveBaselines, VersionShiftMonitor } from '../functions/inference/canary.ts';
import { type InferenceDependencies, makeInferenceHandler } from '../functions/inference/handler.ts';
import { MAX_BODY_BYTES } from '../functions/inference/routes.ts';
import { KeelError, NotFoundError } from '../functions/kernel/errors.ts';
import type { LocalDeployer } from './adapters/deployer.ts';
import type { LocalMetrics } from './adapters/metrics.ts';
import type { LocalLambdaRuntime } from './lambda-runtime.ts';

export { inferenceFunctionName, LIVE_ALIAS };

export interface LocalServingOptions {
  readonly config: KeelConfig;
  readonly lambda: LocalLambdaRuntime;
  readonly deployer: LocalDeployer;
  readonly dependencies: () => InferenceDependencies;
  /**
   * Where per-version request metrics go (errors, duration, fallback answers), and whose alarms
   * roll a local rollout back, as CloudWatch does for CodeDeploy. @default no metrics, no alarms
   */
  readonly metrics?: LocalMetrics;
  /** Multiplies alarm periods, as it does rollout intervals. @default 1 */
  readonly timeScale?: number;
  /** Handles `/_keel/...` (the local control API `keel deploy` uses). @default 404 for them */
  readonly admin?: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;
  /**
   * Other API routes served by local functions, by path prefix (e.g. `/v1/approvals` → the
   * approval API function), as further API Gateway integrations are in AWS. @default none
   */
  readonly routes?: Readonly<Record<string, string>>;
  /** @default Math.random, for the alias weights */
  readonly random?: () => number;
  /**
   * Resolves once every captured record of the answers so far is durable (the capture journal);
   * awaited before each response. A rejection answers 503. @default answers do not wait
   */
  readonly durable?: () => Promise<void>;
}

/** Converts a Node request into the API Gateway HTTP API (payload v2) event. */
export function toApiGatewayEvent(req: IncomingMessage, body: string): APIGatewayProxyEventV2 {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  // As API Gateway gives them: a repeated parameter's values joined by commas; absent if none.
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams)
    query[name] = query[name] === undefined ? value : `${query[name]},${value}`;
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    headers,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'localhost',
      http: {
        method: req.method ?? 'GET',
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
    },
    isBase64Encoded: false,
    ...(body.length > 0 ? { body } : {}),
  };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

/** Predictions per model remembered for {@link LocalServing.answeredBy}. */
const RECENT_ANSWERS = 100;

export class LocalServing {
  readonly #options: LocalServingOptions;
  readonly #shift = new VersionShiftMonitor();
  #shiftPublishedAt = 0;
  /** The version baselines being loaded, if any (one lookup round at a time). */
  #resolving: Promise<void> | undefined;
  readonly #registered = new Set<string>();
  #server: Server | undefined;

  constructor(options: LocalServingOptions) {
    this.#options = options;
  }

  /**
   * Publishes a function version pinned to `modelVersion` and shifts `live` to it with the
   * model's configured shift (or at once, when nothing served before).
   */
  async deploy(
    model: string,
    modelVersion: number,
    shift?: Parameters<LocalDeployer['startDeployment']>[0]['shift'],
  ) {
    const fn = inferenceFunctionName(this.#options.config.project, model);
    const { version } = await this.#options.deployer.publishVersion(
      fn,
      JSON.stringify({ model, modelVersion }),
      {
        [INFERENCE_ENV.modelVersion]: String(modelVersion),
      },
    );
    return this.#options.deployer.startDeployment({
      functionName: fn,
      alias: LIVE_ALIAS,
      targetVersion: version,
      shift: shift ?? { type: 'all-at-once' },
      alarms: this.rollbackAlarms(model, version),
      description: `${model}@${modelVersion}`,
    });
  }

  /**
   * Rollback alarms of one function version, mirroring the deployed stack's: error rate, p99
   * latency and the share of answers not from the primary model, over one (scaled) minute.
   */
  rollbackAlarms(model: string, functionVersion: string): string[] {
    const metrics = this.#options.metrics;
    const modelConfig = this.#options.config.models[model];
    if (!metrics || !modelConfig) return [];
    const fn = inferenceFunctionName(this.#options.config.project, model);
    const dimensions = { function: fn, version: functionVersion };
    const periodMs = Math.max(1000, 60_000 * (this.#options.timeScale ?? 1));
    const published = this.#options.deployer.versions(fn).find((v) => v.version === functionVersion);
    const modelVersion = published
      ? (JSON.parse(published.description) as { modelVersion: number }).modelVersion
      : undefined;
    // Named by what they watch: the model version (function versions count deployments, and a
    // "v2" alarm on a fault of model v4 misled); the function version keeps each name unique.
    const prefix = `${fn}-${modelVersion === undefined ? '' : `model-v${modelVersion}-`}fn${functionVersion}`;
    const alarms = [
      { suffix: 'error-rate', metric: 'Errors', statistic: 'Average' as const, threshold: 0.01 },
      {
        suffix: 'latency-p99',
        metric: 'Duration',
        statistic: 'p99' as const,
        threshold: Math.max(1000, modelConfig.serving.timeoutMs * 5),
      },
      { suffix: 'fallback-rate', metric: 'Fallback', statistic: 'Average' as const, threshold: 0.05 },
    ];
    const names = alarms.map(({ suffix, metric, statistic, threshold }) => {
      const name = `${prefix}-${suffix}`;
      metrics.defineAlarm({
        name,
        namespace: 'Keel/Local',
        metric,
        dimensions,
        statistic,
        periodMs,
        threshold,
        comparison: '>',
      });
      return name;
    });
    if (modelVersion !== undefined) {
      const name = `${prefix}-prediction-shift`;
      metrics.defineAlarm({
        name,
        namespace: 'Keel/Local',
        metric: 'PredictionShiftPsi',
        dimensions: { model, version: String(modelVersion) },
        statistic: 'Maximum',
        periodMs,
        threshold: 0.25,
        comparison: '>',
      });
      names.push(name);
    }
    return names;
  }

  /** The local function answering for `model` now, registered on first use. */
  async #target(model: string): Promise<string> {
    const modelConfig = this.#options.config.models[model];
    if (!modelConfig) throw new NotFoundError(`no model named ${model}`);
    const fn = inferenceFunctionName(this.#options.config.project, model);
    const routing = await this.#options.deployer.aliasRouting(fn, LIVE_ALIAS).catch(() => {
      throw new NotFoundError(`${model} is not deployed: no version is live`);
    });
    const extra = routing.additionalVersion;
    const version =
      extra && (this.#options.random ?? Math.random)() < extra.weight ? extra.version : routing.version;
    const name = `${fn}-v${version}`; // one local function per published version
    if (!this.#registered.has(name)) {
      const published = this.#options.deployer.versions(fn).find((v) => v.version === version);
      const { modelVersion } = JSON.parse(published?.description ?? '{}') as { modelVersion: number };
      const serving = modelConfig.serving;
      this.#options.lambda.register({
        name,
        handler: makeInferenceHandler(
          {
            modelName: model,
            modelVersion,
            safeDefault: serving.safeDefault,
            timeoutMs: serving.timeoutMs,
            maxBatch: serving.maxBatchRows,
            ...requestSettingsOf(modelConfig),
          },
          this.#options.dependencies,
        ),
      });
      this.#registered.add(name);
    }
    return name;
  }

  /**
   * Who answered each model's recent predictions (the last {@link RECENT_ANSWERS}, within the
   * last 10 s): the status panel says "degraded" when it was not the primary.
   */
  answeredBy(model: string): { readonly path: string; readonly version: string; readonly share: number }[] {
    const recent = (this.#answers.get(model) ?? [])
      .slice(-RECENT_ANSWERS)
      .filter((a) => Date.now() - a.at <= 10_000);
    const counts = new Map<string, number>();
    for (const a of recent)
      counts.set(`${a.path} ${a.version}`, (counts.get(`${a.path} ${a.version}`) ?? 0) + 1);
    return [...counts].map(([key, n]) => {
      const [path = '', version = ''] = key.split(' ');
      return { path, version, share: n / recent.length };
    });
  }

  readonly #answers = new Map<string, { path: string; version: string; at: number }[]>();

  /** Feeds captured predictions to the canary/baseline comparison, published for the shift alarms. */
  observeCapture(records: readonly CaptureRecord[]): void {
    const at = Date.now();
    for (const r of records) {
      if (r.type !== 'prediction' || r.shadow_of !== undefined) continue;
      let answers = this.#answers.get(r.model);
      if (!answers) {
        answers = [];
        this.#answers.set(r.model, answers);
      }
      answers.push({ path: r.served_by, version: r.model_version, at });
      if (answers.length > 2 * RECENT_ANSWERS) answers.splice(0, answers.length - RECENT_ANSWERS);
    }
    const metrics = this.#options.metrics;
    if (!metrics) return;
    this.#shift.observe(records);
    if (this.#resolving === undefined && this.#shift.unresolved().length > 0) {
      this.#resolving = resolveBaselines(this.#shift, this.#options.dependencies())
        .catch(() => {})
        .finally(() => {
          this.#resolving = undefined;
        });
    }
    // Comparing distributions sorts thousands of scores: at most once per (scaled) second.
    const now = Date.now();
    if (now - this.#shiftPublishedAt < Math.max(50, 1000 * (this.#options.timeScale ?? 1))) return;
    this.#shiftPublishedAt = now;
    const data = this.#shift.shifts().map((s) => ({
      name: 'PredictionShiftPsi',
      value: s.psi,
      unit: 'None' as const,
      dimensions: { model: s.model, version: s.version },
    }));
    if (data.length > 0) metrics.publish('Keel/Local', data).catch(() => {});
  }

  /** Per-version request metrics, for the rollback alarms. */
  #record(model: string, registered: string, result: APIGatewayProxyStructuredResultV2, ms: number): void {
    const metrics = this.#options.metrics;
    if (!metrics) return;
    const fn = inferenceFunctionName(this.#options.config.project, model);
    const version = registered.slice(`${fn}-v`.length);
    const dimensions = { function: fn, version };
    const status = result.statusCode ?? 200;
    const data = [
      { name: 'Errors', value: status >= 500 ? 1 : 0, unit: 'None' as const, dimensions },
      { name: 'Duration', value: ms, unit: 'Milliseconds' as const, dimensions },
    ];
    if (status === 200) {
      const servedBy = /"served_by":"(\w+)"/.exec(String(result.body ?? ''))?.[1];
      if (servedBy)
        data.push({ name: 'Fallback', value: servedBy === 'primary' ? 0 : 1, unit: 'None', dimensions });
    }
    metrics.publish('Keel/Local', data).catch(() => {});
  }

  /** Routes one event to the function of the model it names (feedback: any deployed model). */
  async handle(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
    const path = event.rawPath;
    if (path === '/v2/health/live') return { statusCode: 200, body: JSON.stringify({ live: true }) };
    if (path.startsWith('/_keel/')) {
      return this.#options.admin
        ? this.#options.admin(event)
        : { statusCode: 404, body: JSON.stringify({ error: 'NotFoundError', message: 'no control API' }) };
    }
    for (const [prefix, fn] of Object.entries(this.#options.routes ?? {})) {
      if (path === prefix || path.startsWith(`${prefix}/`)) {
        return this.#options.lambda
          .invoke<APIGatewayProxyStructuredResultV2>(fn, event)
          .catch((error: Error) => ({
            statusCode: 503,
            body: JSON.stringify({ error: error.name, message: error.message }),
          }));
      }
    }
    const named = /^\/v[12]\/models\/([^/:]+)/.exec(path)?.[1];
    const models = Object.keys(this.#options.config.models);
    const candidates = named ? [decodeURIComponentSafe(named)] : models;
    for (const [k, model] of candidates.entries()) {
      try {
        const fn = await this.#target(model);
        const started = performance.now();
        const result = await this.#options.lambda.invoke<APIGatewayProxyStructuredResultV2>(fn, event);
        this.#record(model, fn, result, performance.now() - started);
        return result;
      } catch (error) {
        if (!(error instanceof NotFoundError) || k === candidates.length - 1) {
          const status = error instanceof NotFoundError ? 404 : 503;
          return {
            statusCode: status,
            body: JSON.stringify({
              error: error instanceof Error ? error.name : 'Error',
              message: String((error as Error).message),
            }),
          };
        }
      }
    }
    return {
      statusCode: 404,
      body: JSON.stringify({ error: 'NotFoundError', message: 'no model is deployed' }),
    };
  }

  /** Serves HTTP on `port` (0: any free port) on the loopback interface. */
  async listen(port: number, host = '127.0.0.1'): Promise<string> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let refused = false;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES && !refused) {
          refused = true;
          send(
            res,
            413,
            { error: 'PayloadTooLarge', message: `the body exceeds ${MAX_BODY_BYTES} bytes` },
            { connection: 'close' },
          );
          req.resume();
        } else if (!refused) chunks.push(chunk);
      });
      req.on('end', () => {
        if (refused) return;
        this.handle(toApiGatewayEvent(req, Buffer.concat(chunks).toString('utf8')))
          .then(async (result) => {
            // An answer leaves only once what it captured is journaled (a group commit).
            await this.#options.durable?.();
            send(res, result.statusCode ?? 200, result.body ?? '', result.headers as Record<string, string>);
          })
          .catch((error: Error) => send(res, 503, { error: 'ServiceUnavailable', message: error.message }));
      });
    });
    // Longer than clients keep idle sockets (undici: 4 s), and long enough that a stall of this
    // process (a training step computes on the same thread) does not let the idle timer, which
    // runs before pending I/O is read, close a socket a request is already waiting on.
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'EADDRINUSE'
            ? new PortInUseError(
                `Port ${port} on ${host} is already in use (another keel up?). Stop what holds it, or pick another with PORT=<port> or --port <port>.`,
                { cause: error },
              )
            : error,
        ),
      );
      server.listen(port, host, () => resolve());
    });
    this.#server = server;
    const address = server.address() as AddressInfo;
    return `http://${host}:${address.port}`;
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    // A baseline lookup in flight reads the emulators, which the runtime closes next.
    await this.#resolving;
  }
}

/** The API's port is taken. */
export class PortInUseError extends KeelError {}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
