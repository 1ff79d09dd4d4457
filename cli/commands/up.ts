import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../../functions/contracts/config/load.ts';
import { KeelError, ValidationError } from '../../functions/kernel/errors.ts';
import { bootstrapModels } from '../../local/bootstrap.ts';
import { LocalRuntime, type RuntimeDescription, runningRuntime } from '../../local/runtime.ts';
import { renderStatus, runtimeStatus, whyOf } from '../../local/status.ts';
import type { Io } from '../output.ts';

export interface UpOptions {
  readonly config: string;
  readonly stateDir?: string;
  readonly ephemeral?: boolean;
  readonly timeScale?: number;
  readonly json?: boolean;
  /** Port of the inference API. @default PORT, else the config's local.port */
  readonly port?: number;
  /** Train, register and deploy each model without a production version. @default true */
  readonly bootstrap?: boolean;
  /** How often the status panel is refreshed, in ms. @default 1000 */
  readonly statusEveryMs?: number;
}

export function describeRuntime(d: RuntimeDescription): string {
  const lines = [
    'Keel is up (local runtime).',
    `  AWS (${d.aws.mode})`,
    `    DynamoDB  ${d.aws.dynamodb}   table  ${d.resources.table}`,
    `    S3        ${d.aws.s3}   buckets ${d.resources.lineageBucket}, ${d.resources.captureBucket}`,
    `  State       ${d.stateDir ?? '(ephemeral: discarded on exit)'}`,
    `  Time scale  ${d.timeScale}`,
    `  API         ${d.url ?? '(not served)'}${Object.keys(d.serving).length > 0 ? `   live: ${Object.values(d.serving).join(', ')}` : '   (no model in production yet)'}`,
    `  Functions   ${d.functions.length > 0 ? d.functions.join(', ') : '(none registered yet)'}`,
    `  Pipelines   ${d.pipelines.length > 0 ? d.pipelines.join(', ') : '(none registered yet)'}`,
    'Press Ctrl-C to stop.',
  ];
  return lines.join('\n');
}

/**
 * Boots the local runtime and runs until SIGINT/SIGTERM (or `signal` aborts), then stops it
 * cleanly. Resolves once everything is stopped.
 */
export async function up(options: UpOptions, io: Io, signal?: AbortSignal): Promise<void> {
  const config = await loadConfig(options.config);
  // Handlers first: a Ctrl-C that arrives while starting, or just after the "up" line is
  // printed (a busy machine may not run this process again for a while), must stop cleanly,
  // not kill it with the default action. A second one during the stop forces the exit.
  const stop = new AbortController();
  const onSignal = () => {
    if (stop.signal.aborted) process.exit(130);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  signal?.addEventListener('abort', onSignal, { once: true });
  try {
    const runtime = await LocalRuntime.start({
      config,
      ...(options.stateDir ? { stateDir: options.stateDir } : {}),
      // Announced in the state directory all the same: `keel simulate` must find it.
      ...(options.ephemeral ? { ephemeral: true, announce: true } : {}),
      ...(options.timeScale ? { timeScale: options.timeScale } : {}),
      port: options.port ?? portFromEnvironment(process.env.PORT) ?? config.local.port,
    });
    try {
      const description = runtime.describe();
      io.out(options.json ? JSON.stringify({ status: 'up', ...description }) : describeRuntime(description));
      if (options.bootstrap !== false) {
        const bootstrapped = bootstrapModels(runtime, (event) => {
          if (options.json) io.out(JSON.stringify({ event: 'bootstrap', ...event }));
          else if (event.status !== 'skipped')
            io.out(
              `  ${event.model}: ${event.step === 'pipeline' ? 'retraining pipeline' : 'fallback model'} ${event.status}${event.detail ? ` (${event.detail})` : ''}`,
            );
        });
        // A Ctrl-C during the first training stops it (the runtime's stop aborts the pipeline).
        bootstrapped.catch(() => {});
        await Promise.race([bootstrapped, once(stop.signal, 'abort')]);
        if (stop.signal.aborted) return;
      }
      // Lines printed after the panel: a redraw in place would overwrite them.
      let linesSincePanel = 0;
      const onWarning = () => {
        linesSincePanel++;
      };
      process.on('warning', onWarning);
      // The config's schedules run as EventBridge runs them in AWS: each check's outcome is one line.
      const schedules = runtime.startSchedules((run) => {
        const [model, job] = run.name.split(':');
        const check = job === 'drift-check' ? runtime.lastChecks.get(model as string) : undefined;
        linesSincePanel++;
        if (options.json) io.out(JSON.stringify({ event: 'schedule', ...run, ...(check ? { check } : {}) }));
        else if (run.error) io.err(`${run.finishedAt.toISOString()}  ${run.name} failed: ${run.error}`);
        else if (check)
          io.out(
            `${run.finishedAt.toISOString()}  ${model} drift check: ${check.status}; ${[check.reasons[0] ?? '', whyOf(check.reasons)].filter(Boolean).join('; ')}`,
          );
        else io.out(`${run.finishedAt.toISOString()}  ${run.name} started`);
      });
      if (!options.json)
        for (const [name, at] of Object.entries(schedules.next))
          io.out(`  Next ${name} at ${at.toISOString()}`);
      // The status panel, printed again whenever it changes; on a terminal it is redrawn in
      // place while nothing else was printed after it.
      let shown = '';
      let drawnLines = 0;
      const refresh = async () => {
        const status = await runtimeStatus(runtime);
        const text = renderStatus(status);
        if (text === shown) return;
        shown = text;
        if (options.json) io.out(JSON.stringify({ event: 'status', ...status }));
        else if (io.outIsTty && drawnLines > 0 && linesSincePanel === 0) {
          io.out(`\x1b[${drawnLines}F\x1b[J${text}`);
          drawnLines = text.split('\n').length;
        } else {
          io.out(`\n${text}`);
          drawnLines = text.split('\n').length;
        }
        linesSincePanel = 0;
      };
      await refresh().catch(() => {});
      const timer = setInterval(() => {
        refresh().catch(() => {});
      }, options.statusEveryMs ?? 1000);
      try {
        if (!stop.signal.aborted) await once(stop.signal, 'abort');
      } finally {
        clearInterval(timer);
        process.off('warning', onWarning);
      }
    } finally {
      await runtime.stop();
      io.out(options.json ? JSON.stringify({ status: 'stopped' }) : 'Keel stopped.');
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    signal?.removeEventListener('abort', onSignal);
  }
}

export function registerUp(program: Command, io: Io): void {
  program
    .command('reset')
    .description(
      'Delete the local state (.keel/): models, captures, lineage; the next keel up bootstraps again',
    )
    .action(async (_options: unknown, command: Command) => {
      await reset(command.optsWithGlobals().config as string, io);
    });
  program
    .command('up')
    .description('Start the local runtime: embedded AWS, local Lambda and Step Functions, until Ctrl-C')
    .option('--state-dir <dir>', 'where local state persists (default: local.stateDir of the config)')
    .option('--ephemeral', 'keep no state: DynamoDB in memory, S3 in a temp dir')
    .option(
      '--time-scale <factor>',
      'multiply bake times, schedules and waits (0 < factor <= 1)',
      parseTimeScale,
    )
    .option('--port <port>', 'port of the inference API (default: PORT, else local.port)', parsePort)
    .option('--no-bootstrap', 'do not train and deploy models that have no production version')
    .option('--json', 'print the runtime description as JSON')
    .action(async (options: Omit<UpOptions, 'config'>, command: Command) => {
      await up({ ...options, config: command.optsWithGlobals().config as string }, io);
    });
}

/** `keel reset`: deletes the project's local state (refused while a keel up holds it). */
export async function reset(configFile: string, io: Io): Promise<void> {
  const config = await loadConfig(configFile);
  const stateDir = resolve(config.local.stateDir);
  const running = await runningRuntime(stateDir);
  if (running) throw new KeelError(`keel up (pid ${running.pid}) is using ${stateDir}; stop it first`);
  await rm(stateDir, { recursive: true, force: true });
  io.out(`Removed ${stateDir}: the next keel up starts from scratch.`);
}

/** A TCP port number (0: any free one), or undefined when `value` is not one. */
function portOf(value: string): number | undefined {
  const port = Number(value);
  return Number.isInteger(port) && port >= 0 && port <= 65_535 ? port : undefined;
}

/** `PORT` from the environment, refused with a usage error (not a stack trace) when it is no port. */
export function portFromEnvironment(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const port = portOf(value);
  if (port === undefined)
    throw new ValidationError('Invalid environment', [
      { path: 'PORT', message: `expected a port number from 0 to 65535, got "${value}"` },
    ]);
  return port;
}

function parsePort(value: string): number {
  const port = portOf(value);
  if (port === undefined) throw new InvalidArgumentError(`expected a port number, got "${value}"`);
  return port;
}

function parseTimeScale(value: string): number {
  const factor = Number(value);
  if (!(factor > 0 && factor <= 1)) {
    throw new InvalidArgumentError(`expected a number in (0, 1], got "${value}"`);
  }
  return factor;
}
