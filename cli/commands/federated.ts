/**
 * `keel federated register | start | client | simulate`: federated training from a terminal.
 *
 * - `register CLIENT` lets a client take part in a model's federated training (in AWS, with the
 *   IAM role it will speak as);
 * - `start` runs the federated state machine (rounds, then the retraining gates);
 * - `client` is what a data owner runs next to its rows: it polls the server, trains, uploads
 *   its masked contribution, until stopped (SigV4-signed against an AWS API);
 * - `simulate` deals one population to simulated clients in worker threads and runs the whole
 *   story on a local runtime, with the centralised baseline beside it.
 */
import { resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { signedFetch } from '../../functions/adapters/aws/signed-fetch.ts';
import { loadConfig } from '../../functions/contracts/config/load.ts';
import type { KeelConfig } from '../../functions/contracts/config/schema.ts';
import { clientIdSchema } from '../../functions/contracts/federated.ts';
import { readCsv } from '../../functions/core/data/csv.ts';
import { FederatedClientWorker, httpFederatedApi, runClient } from '../../functions/federated/client.ts';
import { KeelError, ValidationError } from '../../functions/kernel/errors.ts';
import { type SimulationReport, simulateFederated } from '../../local/federated-simulation.ts';
import { runningRuntime } from '../../local/runtime.ts';
import { table } from '../format.ts';
import type { Io } from '../output.ts';

const whole = (min: number, max: number) => (value: string) => {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < min || n > max)
    throw new InvalidArgumentError(`expected a whole number in [${min}, ${max}], got "${value}"`);
  return n;
};

const nonNegative = (value: string) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new InvalidArgumentError(`expected a number ≥ 0, got "${value}"`);
  return n;
};

const clientId = (value: string) => {
  const parsed = clientIdSchema.safeParse(value);
  if (!parsed.success) throw new InvalidArgumentError(parsed.error.issues[0]?.message ?? 'invalid client id');
  return value;
};

/** The model a verb acts on: the one named, else the config's only federated model (or only model). */
function chooseModel(config: KeelConfig, named: string | undefined, federatedOnly: boolean): string {
  const all = Object.keys(config.models);
  const candidates = federatedOnly ? all.filter((m) => config.models[m]?.federated) : all;
  if (named !== undefined) {
    if (!config.models[named])
      throw new ValidationError('Unknown model', [
        { path: 'model', message: `${named} is not in the config (${all.join(', ')})` },
      ]);
    if (federatedOnly && !config.models[named]?.federated)
      throw new ValidationError('Not federated', [
        { path: `models.${named}.federated`, message: 'declare the federated block' },
      ]);
    return named;
  }
  if (candidates.length === 1) return candidates[0] as string;
  throw new ValidationError('Which model?', [
    {
      path: 'model',
      message:
        candidates.length === 0 ? 'no model declares federated training' : `one of ${candidates.join(', ')}`,
    },
  ]);
}

/** The server: `--server`, else the running `keel up` of this project. */
async function serverOf(config: KeelConfig, given: string | undefined): Promise<string> {
  if (given) return given;
  const running = await runningRuntime(resolve(config.local.stateDir));
  if (running?.url) return running.url;
  throw new ValidationError('Where is the server?', [
    { path: 'server', message: 'give --server (the API URL), or start keel up in this project' },
  ]);
}

/** Plain fetch on this machine; SigV4 against AWS. */
const transport = (server: string) =>
  /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/.test(server) ? undefined : signedFetch();

async function call(server: string, path: string, body: unknown): Promise<unknown> {
  const request = transport(server) ?? ((url: string, init: RequestInit) => fetch(url, init));
  const response = await request(`${server.replace(/\/+$/, '')}${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  const text = await response.text();
  if (!response.ok) throw new KeelError(`${path}: ${response.status} ${text}`);
  return JSON.parse(text) as unknown;
}

function printReport(io: Io, report: SimulationReport): void {
  io.out(
    `${report.algorithm === 'fedprox' ? 'FedProx' : 'FedAvg'} over ${report.clients} clients (${report.split}; rows ${report.clientRows.join(', ')}), ${report.rounds} rounds, secure aggregation ${report.secureAggregation ? 'on' : 'off'}`,
  );
  io.out(
    table(
      report.history.map((r) => ({
        round: r.round,
        aggregated: `${r.aggregated}/${r.asked}`,
        dropped: Object.entries(r.dropped)
          .map(([phase, ids]) => `${phase}: ${(ids ?? []).join(' ')}`)
          .join('; '),
        auc: r.auc.toFixed(4),
        'log loss': r.logLoss.toFixed(4),
        'kB/client': ((r.bytes.sent + r.bytes.received) / 1024 / r.asked).toFixed(1),
      })),
      ['round', 'aggregated', 'auc', 'log loss', 'kB/client', 'dropped'],
    ),
  );
  io.out(
    `AUC on ${report.heldOutRows} held-out rows: federated ${report.auc.federated.toFixed(4)}, centralised ${report.auc.centralised.toFixed(4)} (difference ${report.auc.difference.toFixed(4)})`,
  );
  io.out(
    `per client per round: ${(report.bytesPerClientPerRound.sent / 1024).toFixed(1)} kB sent, ${(report.bytesPerClientPerRound.received / 1024).toFixed(1)} kB received; ${report.seconds.toFixed(1)} s in all`,
  );
  io.out(
    report.gates.status === 'registered'
      ? `gates: passed; registered${report.gates.version ? ` as version ${report.gates.version}` : ''}`
      : `gates: rejected (${report.gates.reason ?? ''})`,
  );
}

export function registerFederated(program: Command, io: Io): void {
  const federated = program.command('federated').description('Federated training with secure aggregation');
  const configOf = (command: Command) => loadConfig((command.optsWithGlobals() as { config: string }).config);

  federated
    .command('register <client> [model]')
    .description('Let CLIENT take part in MODEL’s federated training')
    .option('--principal <arn>', 'the IAM role the client speaks as (AWS)')
    .option('--server <url>', 'the API; default: the running keel up')
    .option('--json', 'print JSON')
    .action(async (client: string, model: string | undefined, options, command: Command) => {
      const valid = clientIdSchema.safeParse(client);
      if (!valid.success)
        throw ValidationError.fromZod('Invalid client id', valid.error, { prefix: 'client' });
      const config = await configOf(command);
      const chosen = chooseModel(config, model, true);
      const server = await serverOf(config, options.server);
      const record = await call(server, `/v1/federated/${chosen}/clients`, {
        client,
        ...(options.principal ? { principal: options.principal } : {}),
      });
      io.out(options.json ? JSON.stringify(record) : `registered ${client} for ${chosen}`);
    });

  federated
    .command('start [model]')
    .description('Run federated training: rounds over the registered clients, then the retraining gates')
    .option('--rounds <n>', 'rounds instead of the configured number', whole(1, 1000))
    .option('--reason <text>', 'why, for the record')
    .option('--server <url>', 'the API; default: the running keel up')
    .action(async (model: string | undefined, options, command: Command) => {
      const config = await configOf(command);
      const chosen = chooseModel(config, model, true);
      const server = await serverOf(config, options.server);
      const started = (await call(server, `/v1/federated/${chosen}/sessions`, {
        ...(options.rounds ? { rounds: options.rounds } : {}),
        ...(options.reason ? { reason: options.reason } : {}),
      })) as { executionId: string };
      io.out(`started ${started.executionId}`);
    });

  federated
    .command('client')
    .description(
      'Take part in federated training with local rows: poll, train, upload masked contributions, until stopped',
    )
    .requiredOption('--client <id>', 'this client’s registered id', clientId)
    .requiredOption('--data <csv>', 'this client’s rows (they never leave this machine)')
    .option('--model <name>', 'the model; default: the config’s only federated model')
    .option('--server <url>', 'the API (SigV4-signed unless on this machine); default: the running keel up')
    .action(async (options, command: Command) => {
      const config = await configOf(command);
      const chosen = chooseModel(config, options.model, true);
      const server = await serverOf(config, options.server);
      const rows = await readCsv(options.data);
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      process.once('SIGTERM', () => stop.abort());
      io.out(`${options.client}: ${rows.rowCount} rows; serving ${chosen} at ${server} (Ctrl-C to stop)`);
      await runClient(
        new FederatedClientWorker(options.client, rows),
        httpFederatedApi(server, chosen, options.client, transport(server)),
        {
          signal: stop.signal,
          onTask: (e) => io.out(`round ${e.round} ${e.phase}${e.error ? `: failed: ${e.error}` : ': done'}`),
        },
      );
    });

  federated
    .command('simulate [model]')
    .description(
      'Simulated clients in worker threads, the same state machine and gates on a local runtime, and the centralised baseline',
    )
    .option('--clients <n>', 'simulated clients', whole(2, 100), 8)
    .option('--rounds <n>', 'rounds', whole(1, 1000), 20)
    .addOption(
      new Option('--split <how>', 'how rows are dealt').choices(['iid', 'non-iid']).default('non-iid'),
    )
    .addOption(
      new Option('--algorithm <name>', 'FedAvg, or FedProx').choices(['fedavg', 'fedprox']).default('fedavg'),
    )
    .option('--mu <μ>', 'FedProx’s proximal weight', nonNegative)
    .option('--no-secure-aggregation', 'send models in the clear (to measure what secure aggregation costs)')
    .option('--data <csv>', 'the population; default: the synthetic credit population (20,000 rows)')
    .option('--label <column>', 'with --data: the label; default: the model’s')
    .option('--seed <n>', 'seed of the population and the split', whole(0, 2 ** 31), 1)
    .option('--json', 'print the report as JSON')
    .action(async (model: string | undefined, options, command: Command) => {
      const config = await configOf(command);
      const chosen = chooseModel(config, model, false);
      let last = 0;
      const report = await simulateFederated({
        config,
        model: chosen,
        clients: options.clients,
        rounds: options.rounds,
        split: options.split,
        algorithm: options.algorithm,
        ...(options.mu !== undefined ? { mu: options.mu } : {}),
        secureAggregation: options.secureAggregation,
        ...(options.data ? { data: options.data } : {}),
        ...(options.label ? { label: options.label } : {}),
        seed: options.seed,
        onProgress: (e) => {
          if (e.error) io.err(`${e.client} round ${e.round} ${e.phase}: ${e.error}`);
          else if (!options.json && e.phase === 'train' && e.round > last) {
            last = e.round;
            io.err(`round ${e.round}…`);
          }
        },
      });
      if (options.json) io.out(JSON.stringify(report, null, 2));
      else printReport(io, report);
    });
}
