/**
 * `npm run bench:federated`: the federated training figures of the README, each a full
 * `keel federated simulate` run (clients in worker threads, the state machine, secure
 * aggregation and the retraining gates on a local runtime).
 *
 * - Quality: FedAvg and FedProx (μ = 0.01) on a non-IID split (Dirichlet α = 0.5 label skew) of
 *   the credit population over 8 clients, 20 rounds, three seeds; AUC on the server's held-out
 *   rows against the same logistic regression trained on every client's rows (the goal: within
 *   0.01); IID beside it for one seed.
 * - Cost of secure aggregation: the same run (seed 1) with and without it, in one process: round
 *   time and bytes per client per round, as ratios.
 */
import { loadConfig } from '../functions/contracts/config/load.ts';
import {
  type SimulationOptions,
  type SimulationReport,
  simulateFederated,
} from '../local/federated-simulation.ts';

const config = await loadConfig(
  new URL('../examples/federated-credit/keel.config.json', import.meta.url).pathname,
);
const base: Omit<SimulationOptions, 'seed' | 'algorithm' | 'split' | 'secureAggregation'> = {
  config,
  model: 'credit',
  clients: 8,
  rounds: 20,
};
const run = async (o: Pick<SimulationOptions, 'seed' | 'algorithm' | 'split' | 'secureAggregation'>) => {
  const report = await simulateFederated({ ...base, ...o });
  process.stderr.write(
    `${o.algorithm} ${o.split} seed ${o.seed} secure ${o.secureAggregation}: ${report.auc.federated.toFixed(4)} vs ${report.auc.centralised.toFixed(4)}\n`,
  );
  return report;
};

const meanMs = (r: SimulationReport) => r.history.reduce((s, h) => s + h.ms, 0) / r.history.length;
const bytes = (r: SimulationReport) => r.bytesPerClientPerRound.sent + r.bytesPerClientPerRound.received;
const rows: string[] = [
  '| method, split | seed | federated AUC | centralised AUC | difference | rounds to within 0.01 |',
  '|---|---|---|---|---|---|',
];
const within = (r: SimulationReport) => {
  const k = r.history.findIndex((h) => r.auc.centralised - h.auc <= 0.01);
  return k < 0 ? 'never' : String(k + 1);
};
let plainSecure: SimulationReport | undefined;
for (const algorithm of ['fedavg', 'fedprox'] as const)
  for (const seed of [1, 2, 3]) {
    const r = await run({ algorithm, split: 'non-iid', seed, secureAggregation: true });
    if (algorithm === 'fedavg' && seed === 1) plainSecure = r;
    rows.push(
      `| ${algorithm === 'fedavg' ? 'FedAvg' : 'FedProx μ = 0.01'}, non-IID | ${seed} | ${r.auc.federated.toFixed(4)} | ${r.auc.centralised.toFixed(4)} | ${r.auc.difference.toFixed(4)} | ${within(r)} |`,
    );
  }
const iid = await run({ algorithm: 'fedavg', split: 'iid', seed: 1, secureAggregation: true });
rows.push(
  `| FedAvg, IID | 1 | ${iid.auc.federated.toFixed(4)} | ${iid.auc.centralised.toFixed(4)} | ${iid.auc.difference.toFixed(4)} | ${within(iid)} |`,
);
const plain = await run({ algorithm: 'fedavg', split: 'non-iid', seed: 1, secureAggregation: false });
const secure = plainSecure as SimulationReport;
console.log(rows.join('\n'));
console.log();
console.log('| FedAvg, non-IID, seed 1 | round time (mean) | bytes per client per round | gates |');
console.log('|---|---|---|---|');
for (const [name, r] of [
  ['plain', plain],
  ['secure aggregation', secure],
] as const)
  console.log(
    `| ${name} | ${meanMs(r).toFixed(0)} ms | ${(bytes(r) / 1024).toFixed(1)} kB | ${r.gates.status} |`,
  );
console.log(
  `| ratio, secure / plain | ${(meanMs(secure) / meanMs(plain)).toFixed(2)}× | ${(bytes(secure) / bytes(plain)).toFixed(2)}× | |`,
);
