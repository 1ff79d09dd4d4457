/**
 * `npm run soak -- --minutes 30 --story concept [--seed 1] [--port 3100] [--json]`: the local
 * loop as a user runs it, for real minutes. A fresh project (the shipped config, its own state
 * directory and port), `keel up` and `keel simulate` in their own processes, then checks:
 * - every scheduled drift check ran and none failed;
 * - the story's outcome happened: `concept` alert → drift retraining → canary → promotion;
 *   `covariate` drift retraining decided at the performance gate on evidence (rejected with its
 *   reason, or promoted only on a gain beyond noise on later production rows); `harmless` warnings and no drift
 *   retraining; `bad-model` the faulty canary rolled back;
 * - no request failed, and every answered prediction is in the capture, once;
 * - memory and open files stayed bounded (peak RSS and descriptors of `keel up`, sampled).
 * Prints one result line (JSON with `--json`) and exits 1 when a check fails. Not part of
 * `npm test`: it takes the minutes it is given.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { capturedPredictionIds } from '../test/support/capture.ts';

type Story = 'concept' | 'covariate' | 'harmless' | 'bad-model';
const STORIES: readonly Story[] = ['concept', 'covariate', 'harmless', 'bad-model'];

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    story: { type: 'string', default: 'concept' },
    seed: { type: 'string', default: '1' },
    port: { type: 'string', default: '0' },
    rate: { type: 'string', default: '25' },
    batch: { type: 'string', default: '20' },
    keep: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const story = values.story as Story;
if (!STORIES.includes(story)) throw new Error(`--story must be one of ${STORIES.join(', ')}, got ${story}`);
const minutes = Number(values.minutes);
const seed = Number(values.seed);
if (!(minutes > 0) || !Number.isInteger(seed))
  throw new Error('--minutes must be positive, --seed an integer');

const dir = await mkdtemp(join(tmpdir(), `keel-soak-${story}-${seed}-`));
const config = JSON.parse(await readFile('keel.config.json', 'utf8'));
config.local.stateDir = join(dir, 'state');
config.models.credit.data.source = config.models.credit.data.source.replace(/seed=\d+/, `seed=${seed}`);
const configFile = join(dir, 'keel.config.json');
await writeFile(configFile, JSON.stringify(config, null, 2));
const log = (text: string) => {
  if (!values.json) process.stderr.write(`[soak ${story} seed ${seed}] ${text}\n`);
};

function keel(args: string[]): ChildProcess {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_ENDPOINT_URL')),
  );
  return spawn(process.execPath, ['bin/keel.js', '--config', configFile, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** RSS (MB) and open descriptors of a process, from /proc. */
async function usage(pid: number): Promise<{ rssMb: number; fds: number } | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) / 1024;
    return { rssMb: rss, fds: (await readdir(`/proc/${pid}/fd`)).length };
  } catch {
    return undefined;
  }
}

const started = Date.now();
const up = keel(['up', '--json', '--port', values.port as string]);
let upErr = '';
up.stderr?.on('data', (d) => {
  upErr = (upErr + d).slice(-20_000);
});
const events = createInterface({ input: up.stdout as NodeJS.ReadableStream });
const checks: { at: string; status?: string; error?: string; reason?: string }[] = [];
let url = '';
let bootstrapped = false;
const ready = new Promise<void>((resolve, reject) => {
  up.once('exit', (code) =>
    reject(new Error(`keel up exited ${code} before it was ready: ${upErr.slice(-2000)}`)),
  );
  events.on('line', (line) => {
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if (event.status === 'up') url = String(event.url);
    if (event.event === 'bootstrap' && event.step === 'fallback' && event.status !== 'started') {
      bootstrapped = true;
      resolve();
    }
    if (event.event === 'schedule' && String(event.name).endsWith(':drift-check')) {
      const check = event.check as { status?: string; reasons?: string[] } | undefined;
      checks.push({
        at: String(event.finishedAt),
        ...(check?.status ? { status: check.status } : {}),
        ...(event.error ? { error: String(event.error) } : {}),
        ...(check?.reasons?.[0] ? { reason: check.reasons[0] } : {}),
      });
    }
  });
});
await ready;
log(`keel up on ${url}, bootstrapped in ${((Date.now() - started) / 1000).toFixed(0)} s`);

let peak = { rssMb: 0, fds: 0 };
const samples: { rssMb: number; fds: number }[] = [];
const sampler = setInterval(() => {
  usage(up.pid as number).then((u) => {
    if (!u) return;
    samples.push(u);
    peak = { rssMb: Math.max(peak.rssMb, u.rssMb), fds: Math.max(peak.fds, u.fds) };
  });
}, 10_000);

const simulateArgs = [
  'simulate',
  '--rate',
  values.rate as string,
  '--batch',
  values.batch as string,
  '--seed',
  String(seed),
  '--duration',
  `${minutes}m`,
  '--json',
  ...(story === 'bad-model' ? ['--bad-model'] : ['--drift', story === 'harmless' ? 'harmless' : story]),
];
const simulate = keel(simulateArgs);
let simOut = '';
let simErr = '';
simulate.stdout?.on('data', (d) => {
  simOut += d;
});
simulate.stderr?.on('data', (d) => {
  simErr = (simErr + d).slice(-20_000);
});
const [simCode] = await once(simulate, 'exit');
const traffic = JSON.parse(simOut.trim().split('\n').at(-1) || '{}') as {
  requests?: number;
  failed?: number;
  failures?: Record<string, number>;
  predictions?: number;
  latencyMs?: { p50: number; p99: number; max: number } | null;
};
log(`simulate exited ${simCode}: ${traffic.requests} requests, ${traffic.failed} failed`);

// The pipeline runs and the registry's story, read while keel up still runs.
const executions = (await (await fetch(`${url}/_keel/executions`)).json()) as {
  input?: { trigger?: { type?: string } };
  description: { status: string; error?: string; executionId: string; output?: unknown };
}[];
const history = await new Promise<
  { type: string; alias?: string; to?: unknown; details?: Record<string, unknown> }[]
>((resolve) => {
  const child = keel(['registry', 'history', 'credit', '--json']);
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.on('exit', () => resolve(JSON.parse(out || '[]')));
});
clearInterval(sampler);
up.kill('SIGINT');
const [upCode] = await once(up, 'exit');

// Every answered prediction in the capture, once.
const captured = await capturedPredictionIds(configFile, config.project);

const drift = executions.filter((e) => e.input?.trigger?.type === 'drift');
const rolledBack = history.filter(
  (e) =>
    e.type === 'DeploymentRecorded' &&
    (e.details as { status?: string } | undefined)?.status === 'RolledBack',
);
const expected: Record<Story, () => { ok: boolean; what: string }> = {
  concept: () => {
    const promoted = drift.find((e) => e.description.status === 'SUCCEEDED');
    return {
      ok: promoted !== undefined,
      what: promoted
        ? `promoted by drift retraining (${drift.length} drift run(s))`
        : `no drift retraining promoted: ${drift.map((e) => e.description.error ?? e.description.status).join(', ') || 'none ran'}`,
    };
  },
  covariate: () => {
    // Covariate shift leaves P(y | x) alone, but a misspecified model can still learn something
    // from the shifted population (seen with seed 2: +0.0074 AUC on later production rows, 95 %
    // CI 0.0052 to 0.0094). So the story is that every drift retraining is decided at the
    // performance gate on evidence: rejected there with its reason, or promoted only with a gain
    // on later, unseen production rows whose interval lies above 0.
    const decided = drift.map((e) => {
      if (e.description.error === 'Keel.PerformanceGateFailed')
        return { ok: true, what: 'rejected at the performance gate' };
      if (e.description.status !== 'SUCCEEDED')
        return { ok: false, what: e.description.error ?? e.description.status };
      const output = e.description.output;
      const gain = (
        (typeof output === 'string' ? JSON.parse(output) : output) as {
          evaluation?: { table?: { check: string; passed: boolean; candidate: number }[] };
        }
      )?.evaluation?.table?.find((r) => r.check.startsWith('AUC gain on'));
      return gain?.passed
        ? {
            ok: true,
            what: `promoted on a gain beyond noise: ${gain.check.replace(/^AUC gain on /, '')}, +${gain.candidate.toFixed(4)}`,
          }
        : { ok: false, what: 'promoted with no drift gain recorded' };
    });
    return {
      ok: drift.length > 0 && decided.every((d) => d.ok),
      what: drift.length > 0 ? decided.map((d) => d.what).join('; ') : 'no drift retraining ran',
    };
  },
  harmless: () => ({
    ok:
      drift.length === 0 &&
      checks.some((c) => c.status === 'warning') &&
      !checks.some((c) => c.status === 'alert'),
    what: `${checks.filter((c) => c.status === 'warning').length} warning(s), ${drift.length} drift run(s)`,
  }),
  'bad-model': () => ({
    ok: rolledBack.length > 0,
    what: `${rolledBack.length} rollout(s) rolled back`,
  }),
};
const outcome = expected[story]();
const failedChecks = checks.filter((c) => c.error);
const duplicates = [...captured.values()].filter((n) => n > 1).length;
const missing = Math.max(0, (traffic.predictions ?? 0) - captured.size);
const result = {
  story,
  seed,
  minutes,
  ok:
    outcome.ok &&
    simCode === 0 &&
    upCode === 0 &&
    failedChecks.length === 0 &&
    checks.length > 0 &&
    (traffic.failed ?? 1) === 0 &&
    missing === 0 &&
    duplicates === 0,
  outcome: outcome.what,
  checks: {
    ran: checks.length,
    failed: failedChecks.length,
    statuses: countBy(checks.map((c) => c.status ?? '?')),
  },
  pipelineRuns: executions.map((e) => ({
    trigger: e.input?.trigger?.type ?? 'manual',
    status: e.description.status,
    ...(e.description.error ? { error: e.description.error } : {}),
  })),
  requests: traffic.requests,
  failedRequests: traffic.failed,
  failures: traffic.failures,
  answered: traffic.predictions,
  captured: captured.size,
  missing,
  duplicates,
  latencyMs: traffic.latencyMs,
  rss: {
    firstMb: Math.round(samples[0]?.rssMb ?? Number.NaN),
    lastMb: Math.round(samples.at(-1)?.rssMb ?? Number.NaN),
    peakMb: Math.round(peak.rssMb),
    // One sample a minute: a leak climbs, a warm cache plateaus.
    perMinuteMb: samples.filter((_, i) => i % 6 === 0).map((u) => Math.round(u.rssMb)),
  },
  fds: { first: samples[0]?.fds, last: samples.at(-1)?.fds, peak: peak.fds },
  exit: { up: upCode, simulate: simCode },
  ...(failedChecks.length > 0 ? { checkErrors: failedChecks.slice(0, 5) } : {}),
  ...(simCode !== 0 ? { simulateErr: simErr.slice(-2000) } : {}),
  bootstrapped,
  wallSeconds: Math.round((Date.now() - started) / 1000),
  dir: values.keep ? dir : undefined,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
if (!values.keep) await rm(dir, { recursive: true, force: true });
process.exit(result.ok ? 0 : 1);

function countBy(items: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[item] = (counts[item] ?? 0) + 1;
  return counts;
}
