/**
 * `keel monitor run [model…]`: run the scheduled drift check once, now (or as of a time), and
 * print each model's status, why, money at risk and where the reports are.
 *
 * Where it runs: the deployed check when `KEEL_TABLE_NAME` is set (the function, or the
 * Distributed Map state machine for a model whose check is distributed); else the running
 * `keel up`, through its control API; else a local runtime started for the run on the project's
 * state.
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { createLineageStore, ports } from '../../functions/composition/aws.ts';
import { loadConfig } from '../../functions/contracts/config/load.ts';
import type { KeelConfig } from '../../functions/contracts/config/schema.ts';
import {
  driftCheckFunctionName,
  driftCheckPipelineName,
  monitoringSettings,
} from '../../functions/contracts/monitoring.ts';
import { RESOURCE_ENV } from '../../functions/contracts/resources.ts';
import { KeelError, ValidationError } from '../../functions/kernel/errors.ts';
import type { ArtifactRef } from '../../functions/lineage/store.ts';
import type { CheckStatus, CheckSummary } from '../../functions/monitoring/check.ts';
import { LocalRuntime, runningRuntime } from '../../local/runtime.ts';
import { controlApi } from '../control-api.ts';
import type { Io } from '../output.ts';
import { openTarget } from '../target.ts';

interface MonitorOptions {
  readonly asOf?: string;
  readonly json?: boolean;
  readonly html?: string;
  readonly failOn?: 'alert' | 'warning';
}

interface CheckDriver {
  readonly where: string;
  check(model: string, asOf?: string): Promise<CheckSummary>;
  /** A stored report's bytes, from the lineage of wherever the check ran. */
  readReport(ref: ArtifactRef): Promise<Uint8Array>;
  close(): Promise<void>;
}

async function openDriver(config: KeelConfig, configFile: string): Promise<CheckDriver> {
  if (process.env[RESOURCE_ENV.table]) {
    const p = ports();
    return {
      where: 'AWS',
      check: async (model, asOf) => {
        const request = asOf ? { asOf } : {};
        if (!config.models[model]?.monitoring.distributed)
          return p.functionInvoker.invoke<CheckSummary>(driftCheckFunctionName(config.project), {
            settings: monitoringSettings(config, model),
            ...request,
          });
        const { executionId } = await p.pipelineRunner.start(
          driftCheckPipelineName(config.project, model),
          request,
        );
        for (;;) {
          const d = await p.pipelineRunner.describe(executionId);
          if (d.status === 'SUCCEEDED') return d.output as CheckSummary;
          if (d.status !== 'RUNNING')
            throw new KeelError(`drift check ${executionId} ${d.status}: ${d.cause ?? ''}`);
          await new Promise((r) => setTimeout(r, 2000));
        }
      },
      readReport: (ref) => createLineageStore().getBytes(ref),
      close: async () => {},
    };
  }
  const stateDir = resolve(config.local.stateDir);
  const running = await runningRuntime(stateDir);
  if (running?.url) {
    const url = running.url;
    return {
      where: `keel up (pid ${running.pid})`,
      check: (model, asOf) =>
        controlApi<CheckSummary>(url, '/_keel/monitor', {
          method: 'POST',
          body: JSON.stringify({ model, ...(asOf ? { asOf } : {}) }),
        }),
      // The report is in the running runtime's lineage, reached through the emulators it announces.
      readReport: async (ref) => {
        const target = await openTarget(configFile);
        try {
          return await target.lineage.getBytes(ref);
        } finally {
          await target.close();
        }
      },
      close: async () => {},
    };
  }
  if (running)
    throw new KeelError(
      `keel up (pid ${running.pid}) holds ${stateDir} but serves no HTTP; stop it or give it a port`,
    );
  const runtime = await LocalRuntime.start({ config, stateDir });
  return {
    where: `the local state in ${stateDir}`,
    check: (model, asOf) => runtime.runDriftCheck(model, asOf ? { asOf } : {}),
    readReport: (ref) => createLineageStore().getBytes(ref),
    close: () => runtime.stop(),
  };
}

const STATUS_LABEL: Readonly<Record<CheckStatus, string>> = {
  ok: 'OK',
  warning: 'WARNING',
  alert: 'ALERT',
  'no-data': 'NO DATA',
  'no-model': 'NO MODEL',
};

function describe(summary: CheckSummary): string {
  const lines = [
    `${summary.model}${summary.version === null ? '' : ` v${summary.version}`}  ${STATUS_LABEL[summary.status]}  (${summary.predictions.toLocaleString('en-US')} predictions)`,
    ...summary.reasons.map((r) => `  ${r}`),
  ];
  if (summary.report) lines.push(`  report  ${summary.report.uri}`);
  if (summary.html) lines.push(`  html    ${summary.html.uri}`);
  if (summary.retrainingRequested) lines.push('  → retraining requested (keel.drift.detected)');
  return lines.join('\n');
}

const SEVERITY: Readonly<Record<CheckStatus, number>> = {
  ok: 0,
  'no-data': 0,
  'no-model': 0,
  warning: 1,
  alert: 2,
};

export async function monitorRun(
  configFile: string,
  models: readonly string[],
  options: MonitorOptions,
  io: Io,
): Promise<CheckSummary[]> {
  const config = await loadConfig(configFile);
  const known = Object.keys(config.models);
  const unknown = models.filter((m) => !config.models[m]);
  if (unknown.length > 0)
    throw new ValidationError(
      'Unknown model',
      unknown.map((m) => ({
        path: 'model',
        message: `${m} is not in the config; models: ${known.join(', ')}`,
      })),
    );
  const driver = await openDriver(config, configFile);
  const summaries: CheckSummary[] = [];
  try {
    for (const model of models.length > 0 ? models : known) {
      const summary = await driver.check(model, options.asOf);
      summaries.push(summary);
      if (!options.json) io.out(describe(summary));
      if (options.html && summary.html) {
        const file =
          models.length > 1 || known.length > 1
            ? options.html.replace(/(\.html?)?$/, `-${model}$1`)
            : options.html;
        const bytes = await driver.readReport(summary.html);
        await writeFile(file, bytes);
        if (!options.json) io.out(`  saved   ${file}`);
      }
    }
  } finally {
    await driver.close();
  }
  if (options.json) io.out(JSON.stringify({ where: driver.where, checks: summaries }, null, 2));
  const failOn = options.failOn;
  const failed = failOn ? summaries.filter((s) => SEVERITY[s.status] >= SEVERITY[failOn]) : [];
  if (failed.length > 0)
    throw new KeelError(
      `drift check: ${failed.map((s) => `${s.model} ${s.status}`).join(', ')} (--fail-on ${failOn})`,
    );
  return summaries;
}

export function registerMonitor(program: Command, io: Io): void {
  const monitor = program
    .command('monitor')
    .description('Drift checks: data drift, outcomes and money at risk');
  monitor
    .command('run')
    .description('Run the scheduled drift check once (every model unless some are named)')
    .argument('[models...]', 'models to check')
    .option('--as-of <time>', 'end of the window (ISO 8601); default now', parseInstant)
    .option('--html <file>', 'also save the HTML report here (one file per model: -<model> suffix)')
    .option('--fail-on <status>', 'exit 1 when a check reaches this status: alert or warning', parseFailOn)
    .option('--json', 'print the summaries as JSON')
    .action(async (models: string[], options: MonitorOptions, command: Command) => {
      await monitorRun(command.optsWithGlobals().config as string, models, options, io);
    });
}

function parseInstant(value: string): string {
  const t = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(t))
    throw new InvalidArgumentError(`expected an ISO 8601 time like 2026-11-26T12:00:00Z, got "${value}"`);
  return new Date(t).toISOString();
}

function parseFailOn(value: string): 'alert' | 'warning' {
  if (value !== 'alert' && value !== 'warning')
    throw new InvalidArgumentError(`expected alert or warning, got "${value}"`);
  return value;
}
