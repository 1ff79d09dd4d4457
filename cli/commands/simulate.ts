/**
 * `keel simulate [model]`: synthetic applicants sent to a running `keel up` at a steady rate,
 * with their true outcomes reported back later, and optionally a drift from some point on
 * (`--drift covariate|concept|harmless|stale --after 30s`) or a faulty candidate rolled out by canary
 * (`--bad-model`). What happens next — the drift check, retraining, the canary, a promotion or a
 * rollback — shows in `keel up`'s status panel and in `keel registry history`.
 */
import { resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig, trafficShiftOf } from '../../functions/contracts/config/load.ts';
import { cell } from '../../functions/core/data/table.ts';
import { rowPriority } from '../../functions/core/drift/profile.ts';
import { exportOnnx } from '../../functions/core/onnx/export.ts';
import { type CreditScenario, generateCredit } from '../../functions/core/synthetic/credit.ts';
import { train } from '../../functions/core/training/train.ts';
import { KeelError, ValidationError } from '../../functions/kernel/errors.ts';
import { sha256Hex } from '../../functions/lineage/store.ts';
import { publishTrainingResult } from '../../functions/registry/publish.ts';
import { runningRuntime } from '../../local/runtime.ts';
import { controlApi } from '../control-api.ts';
import type { Io } from '../output.ts';
import { openTarget } from '../target.ts';

export type DriftKind = 'covariate' | 'concept' | 'harmless' | 'stale';

/** Applicants generated per phase, cycled through. */
const POOL = 100_000;

export interface SimulateOptions {
  readonly rate: number;
  readonly batch: number;
  readonly duration?: number;
  /** One drift, or several at once (a harmless shift in a world that already drifted). */
  readonly drift?: readonly DriftKind[];
  readonly after: number;
  readonly strength?: number;
  readonly feedback: number;
  readonly feedbackDelay: number;
  readonly badModel?: boolean;
  readonly seed: number;
  readonly json?: boolean;
}

/** How strong each drift is by default: each costs the business something, or nothing (harmless). */
const DEFAULT_STRENGTH: Readonly<Record<DriftKind, number>> = {
  covariate: 0.4,
  concept: 2,
  harmless: 0.8,
  stale: 1,
};

const KNOB: Readonly<Record<DriftKind, keyof CreditScenario>> = {
  covariate: 'covariateDrift',
  concept: 'conceptDrift',
  harmless: 'harmlessDrift',
  // Employment stops predicting default: what the stale-feature review should find.
  stale: 'staleEmployment',
};

export interface SimulationReport {
  readonly requests: number;
  readonly failed: number;
  /** Why requests failed: HTTP status or network error, with counts. */
  readonly failures: Readonly<Record<string, number>>;
  readonly predictions: number;
  readonly outcomes: number;
  readonly servedBy: Readonly<Record<string, number>>;
  /**
   * Round-trip time of the successful predict calls, nearest-rank percentiles (null before any).
   * Local serving shares its one thread with pipeline steps: a training step shows here.
   */
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number } | null;
  readonly drift: readonly DriftKind[];
  readonly badModel: number | null;
}

/**
 * Registers a candidate whose every score is NaN (a logistic regression with a NaN weight: the
 * kind of model a broken export or a bad feature join produces), approves it, and rolls it out
 * with the model's configured canary. Requests do not fail: the breaker serves the fallback,
 * and the fallback-rate alarm rolls the canary back.
 */
async function deployBadModel(configFile: string, url: string, model: string, seed: number): Promise<number> {
  const config = await loadConfig(configFile);
  const m = config.models[model];
  if (!m)
    throw new ValidationError('Unknown model', [{ path: 'model', message: `${model} is not in the config` }]);
  const data = generateCredit({ rows: 2000, seed });
  const result = train(data, {
    label: m.data.label,
    protected: m.data.protectedAttributes,
    exclude: m.data.piiFields,
    algorithm: 'lr',
    seed,
    features: m.features,
    bootstrapSamples: 100,
    dataHash: sha256Hex(`simulate-bad-model-${seed}`),
    codeVersion: '0000000',
  });
  if (result.model.kind !== 'logistic') throw new KeelError('expected a logistic regression');
  const broken = { ...result.model, intercept: Number.NaN };
  const onnx = exportOnnx(result.pipeline, broken, { producerVersion: '0000000', metadata: {} });
  const faulty = {
    ...result,
    onnx,
    manifest: { ...result.manifest, hashes: { ...result.manifest.hashes, model: sha256Hex(onnx) } },
  };
  const target = await openTarget(configFile);
  let version: number;
  try {
    ({ version } = await publishTrainingResult(target.registry, target.lineage, faulty, {
      model,
      owner: m.owner,
      intendedUse: 'keel simulate --bad-model: a faulty candidate, to see the canary roll it back',
      codeVersion: '0000000',
      actor: 'keel-simulate',
      reason: 'simulated faulty candidate',
    }));
    await target.registry.approve(model, version, {
      actor: 'keel-simulate',
      reason: 'simulated faulty candidate',
    });
  } finally {
    await target.close();
  }
  await controlApi(url, '/_keel/deploy', {
    method: 'POST',
    body: JSON.stringify({
      model,
      version,
      shift: trafficShiftOf(m.serving.shift),
      actor: 'keel-simulate',
      reason: 'simulated faulty candidate',
    }),
  });
  return version;
}

export async function simulate(
  configFile: string,
  modelArg: string | undefined,
  options: SimulateOptions,
  io: Io,
  signal?: AbortSignal,
): Promise<SimulationReport> {
  const config = await loadConfig(configFile);
  const models = Object.keys(config.models);
  const model = modelArg ?? (models.length === 1 ? (models[0] as string) : undefined);
  if (!model || !config.models[model])
    throw new ValidationError('Which model?', [
      { path: 'model', message: `name one of ${models.join(', ')}` },
    ]);
  const running = await runningRuntime(resolve(config.local.stateDir));
  if (!running?.url)
    throw new KeelError('No running keel up serves this project: start it with `npm start` first');
  const url = running.url;
  const metadata = await fetch(`${url}/v2/models/${model}`);
  if (metadata.status !== 200)
    throw new KeelError(`${model} is not served yet (${metadata.status}); wait for keel up to deploy it`);
  const inputs = ((await metadata.json()) as { inputs: { name: string }[] }).inputs.map((i) => i.name);
  // Callers send the protected attributes beside the inputs, as the config declares them: the
  // model never sees them; retraining and fairness on production rows need them.
  const fields = [...new Set([...inputs, ...(config.models[model]?.data.protectedAttributes ?? [])])];

  const badModel = options.badModel ? await deployBadModel(configFile, url, model, options.seed) : null;
  if (badModel !== null && !options.json) io.err(`keel simulate: rolling out faulty ${model}@${badModel}`);

  // One long seeded stream per phase: applicants drawn batch by batch from fresh seeds would not
  // be one population (consecutive seeds' first draws are correlated).
  const pool = generateCredit({ rows: POOL, seed: options.seed });
  const drifts = options.drift ?? [];
  if (drifts.length === 1 && drifts[0] === 'stale' && (options.strength ?? 1) > 1)
    throw new ValidationError('Invalid strength', [
      {
        path: 'strength',
        message: `a stale feature's strength is a share from 0 to 1, got ${options.strength}`,
      },
    ]);
  const driftedPool =
    drifts.length > 0
      ? generateCredit({
          rows: POOL,
          seed: options.seed + 1,
          ...Object.fromEntries(
            drifts.map((kind) => [
              KNOB[kind],
              (drifts.length === 1 ? options.strength : undefined) ?? DEFAULT_STRENGTH[kind],
            ]),
          ),
        } as CreditScenario)
      : pool;
  const started = Date.now();
  const servedBy: Record<string, number> = {};
  let requests = 0;
  let failed = 0;
  const failures: Record<string, number> = {};
  let predictions = 0;
  let outcomes = 0;
  const latencies: number[] = [];
  const pending = new Set<Promise<void>>();
  const interval = 1000 / options.rate;
  let drifting = false;
  // On a terminal, one progress line rewritten in place every second.
  const progress =
    io.errIsTty && !options.json
      ? setInterval(() => {
          io.errRaw?.(
            `\r  ${requests} requests · ${failed} failed · ${predictions} predictions · ${outcomes} outcomes · ${((Date.now() - started) / 1000).toFixed(0)} s `,
          );
        }, 1000)
      : undefined;
  for (let k = 0; ; k++) {
    const now = Date.now();
    if (signal?.aborted || (options.duration !== undefined && now - started >= options.duration)) break;
    const due = started + k * interval;
    if (due > now) await new Promise((r) => setTimeout(r, due - now));
    const drifted = drifts.length > 0 && Date.now() - started >= options.after;
    if (drifted && !drifting && !options.json) {
      if (progress) io.errRaw?.('\r\x1b[K'); // over the progress line, which the next tick redraws
      io.err(`keel simulate: ${drifts.join(' + ')} drift from now on`);
    }
    drifting = drifted;
    const rows = drifted ? driftedPool : pool;
    const first = (k * options.batch) % POOL;
    const indices = Array.from({ length: options.batch }, (_, i) => (first + i) % POOL);
    const instances = indices.map((r) =>
      Object.fromEntries(
        fields.flatMap((name) => {
          const column = rows.columns.get(name);
          return column ? [[name, cell(column, r)]] : [];
        }),
      ),
    );
    requests++;
    const sent = performance.now();
    const response = await fetch(`${url}/v1/models/${model}:predict`, {
      method: 'POST',
      body: JSON.stringify({ instances }),
    }).catch((error: Error) => error);
    if (response instanceof Error || response.status !== 200) {
      failed++;
      const why =
        response instanceof Error
          ? `${response.message}${response.cause instanceof Error ? `: ${response.cause.message}` : ''}`
          : `${response.status} ${(await response.text()).slice(0, 200)}`;
      failures[why] = (failures[why] ?? 0) + 1;
      continue;
    }
    const body = (await response.json()) as { predictions: { prediction_id: string }[]; served_by: string };
    latencies.push(performance.now() - sent);
    servedBy[body.served_by] = (servedBy[body.served_by] ?? 0) + 1;
    predictions += body.predictions.length;
    const labels = (
      rows.columns.get(config.models[model]?.data.label ?? 'default') as { values: Float64Array }
    ).values;
    body.predictions.forEach((p, i) => {
      const r = indices[i] as number;
      // Outcomes come back later, and not all of them (a delayed label is pending, not negative).
      if (rowPriority(p.prediction_id) >= options.feedback) return;
      const report = new Promise<void>((done) =>
        setTimeout(() => {
          fetch(`${url}/v1/models/${model}/feedback`, {
            method: 'POST',
            body: JSON.stringify({ prediction_id: p.prediction_id, outcome: labels[r] }),
          })
            .then((answer) => {
              if (answer.status === 202) outcomes++;
            })
            .catch(() => {})
            .finally(() => {
              pending.delete(report);
              done();
            });
        }, options.feedbackDelay),
      );
      pending.add(report);
    });
  }
  await Promise.all([...pending]);
  if (progress) {
    clearInterval(progress);
    io.errRaw?.('\n');
  }
  const report: SimulationReport = {
    requests,
    failed,
    failures,
    predictions,
    outcomes,
    servedBy,
    latencyMs: latencySummary(latencies),
    drift: drifts,
    badModel,
  };
  io.out(
    options.json
      ? JSON.stringify(report)
      : `keel simulate: ${requests} requests (${failed} failed), ${predictions} predictions, ${outcomes} outcomes reported; served by ${Object.entries(
          servedBy,
        )
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}${
          report.latencyMs
            ? `; latency p50 ${report.latencyMs.p50.toFixed(1)} ms, p99 ${report.latencyMs.p99.toFixed(1)} ms, max ${report.latencyMs.max.toFixed(0)} ms`
            : ''
        }`,
  );
  return report;
}

/** Nearest-rank percentiles: a report of at most a few hundred thousand values needs no sketch. */
export function latencySummary(values: readonly number[]): SimulationReport['latencyMs'] {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  const rank = (p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] as number;
  return { p50: rank(0.5), p99: rank(0.99), max: sorted[sorted.length - 1] as number };
}

export function parseDuration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`expected a duration like 500ms, 30s, 2m or 1h, got "${value}"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}

const positive = (what: string) => (value: string) => {
  const n = Number(value);
  if (!(n > 0)) throw new InvalidArgumentError(`${what} must be a positive number, got "${value}"`);
  return n;
};

const share = (value: string) => {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError(`expected a share in [0, 1], got "${value}"`);
  return n;
};

export function registerSimulate(program: Command, io: Io): void {
  program
    .command('simulate')
    .description('Send synthetic traffic (and its outcomes, later) to a running keel up')
    .argument('[model]', 'the model to call (default: the only one)')
    .option('--rate <n>', 'requests per second', positive('rate'), 20)
    .option('--batch <n>', 'applicants per request', (v) => Math.round(positive('batch')(v)), 10)
    .option('--duration <time>', 'stop after this long (default: at Ctrl-C)', parseDuration)
    .option(
      '--drift <kinds>',
      'concept (costly; retraining learns it), covariate (costly; nothing to learn), harmless, stale (employment stops predicting default); several with commas',
      (v) => {
        const kinds = v.split(',').map((k) => k.trim());
        for (const k of kinds)
          if (k !== 'covariate' && k !== 'concept' && k !== 'harmless' && k !== 'stale')
            throw new InvalidArgumentError(`expected covariate, concept, harmless or stale, got "${k}"`);
        return kinds;
      },
    )
    // Durations print as typed: a default shown as "5000" would read as 5000 s (a bare number is seconds).
    .addOption(
      new Option('--after <time>', 'start the drift after this long (a bare number is seconds)')
        .argParser(parseDuration)
        .default(0, '0s'),
    )
    .option(
      '--strength <x>',
      'drift strength (covariate 0.4, concept 2, harmless 0.8, stale 1)',
      positive('strength'),
    )
    .option('--feedback <share>', 'share of outcomes reported back', share, 1)
    .addOption(
      new Option('--feedback-delay <time>', 'how long after a prediction its outcome comes back')
        .argParser(parseDuration)
        .default(5000, '5s'),
    )
    .option('--bad-model', 'first roll out a faulty candidate (its canary should be rolled back)')
    .option('--seed <n>', 'seed of the synthetic applicants', (v) => Math.round(positive('seed')(v)), 7)
    .option('--json', 'print the summary as JSON')
    .action(async (model: string | undefined, options: SimulateOptions, command: Command) => {
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      try {
        await simulate(command.optsWithGlobals().config as string, model, options, io, stop.signal);
      } finally {
        process.off('SIGINT', onSignal);
      }
    });
}
