/**
 * `keel retrain [model]`: run the model's retraining pipeline (the ASL file CDK deploys) and
 * show each state as it runs; at the end, the gate table (check, candidate, production,
 * threshold, pass/fail), which the pipeline also stored in lineage with the full report.
 * `keel approvals` lists candidates waiting for a human; `keel approve <execution>` decides one.
 *
 * Where it runs: Step Functions when `KEEL_TABLE_NAME` is set (AWS, after `cdk deploy`); else
 * the running `keel up`, through its control API; else a local runtime started for the run on
 * the project's state (with an HTTP port, so `keel approve` can reach a waiting approval).
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { DynamoApprovalStore } from '../../functions/adapters/aws/approval-store.ts';
import { documentClient, resetClients } from '../../functions/commons/clients.ts';
import { createLineageStore, createRegistry, ports } from '../../functions/composition/aws.ts';
import { loadConfig } from '../../functions/contracts/config/load.ts';
import type { KeelConfig } from '../../functions/contracts/config/schema.ts';
import { RESOURCE_ENV } from '../../functions/contracts/resources.ts';
import type { GateRow, ParetoRow } from '../../functions/contracts/retraining.ts';
import { retrainingPipelineName } from '../../functions/contracts/retraining.ts';
import { failureMessage, KeelError, ValidationError } from '../../functions/kernel/errors.ts';
import type { LineageStore } from '../../functions/lineage/store.ts';
import type { ApprovalRequest } from '../../functions/ports/approval-store.ts';
import type { ExecutionDescription, ExecutionStep } from '../../functions/ports/pipeline-runner.ts';
import type { ModelRegistry } from '../../functions/registry/registry.ts';
import { decideApproval } from '../../functions/retraining/approvals.ts';
import type { RetrainingRequest } from '../../functions/retraining/steps.ts';
import { LocalEventBus } from '../../local/adapters/event-bus.ts';
import { LocalRuntime, runningRuntime } from '../../local/runtime.ts';
import { controlApi } from '../control-api.ts';
import { table as formatTable } from '../format.ts';
import type { Io } from '../output.ts';
import { defaultActor } from './registry.ts';

/** Starts executions and reports on them, wherever the pipeline runs. */
interface PipelineDriver {
  readonly where: string;
  start(model: string, request: RetrainingRequest): Promise<string>;
  poll(executionId: string): Promise<{ description: ExecutionDescription; steps: readonly ExecutionStep[] }>;
  readonly registry: ModelRegistry;
  readonly lineage: LineageStore;
  close(): Promise<void>;
}

/** Points this process's SDK clients at a running `keel up`'s emulators until `restore`. */
function useRuntimeEnv(env: Record<string, string>): () => void {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  resetClients();
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    resetClients();
  };
}

async function openDriver(config: KeelConfig): Promise<PipelineDriver> {
  const pipelineOf = (model: string) => retrainingPipelineName(config.project, model);
  if (process.env[RESOURCE_ENV.table]) {
    const runner = ports().pipelineRunner;
    return {
      where: 'AWS Step Functions',
      start: async (model, request) => (await runner.start(pipelineOf(model), request)).executionId,
      poll: async (id) => ({ description: await runner.describe(id), steps: await runner.history(id) }),
      registry: createRegistry(),
      lineage: createLineageStore(),
      close: async () => {},
    };
  }
  const stateDir = resolve(config.local.stateDir);
  const running = await runningRuntime(stateDir);
  if (running?.url) {
    const url = running.url;
    const restore = useRuntimeEnv(running.env);
    return {
      where: `keel up (pid ${running.pid})`,
      start: async (model, request) =>
        (
          await controlApi<{ executionId: string }>(url, '/_keel/retrain', {
            method: 'POST',
            body: JSON.stringify({ model, ...request }),
          })
        ).executionId,
      poll: async (id) => {
        const body = await controlApi<{
          description: ExecutionDescription;
          steps: (Omit<ExecutionStep, 'at'> & { at: string })[];
        }>(url, `/_keel/executions/${encodeURIComponent(id)}`);
        // Times arrive as JSON strings.
        return {
          description: body.description,
          steps: body.steps.map((s) => ({ ...s, at: new Date(s.at) })),
        };
      },
      registry: createRegistry(process.env, new LocalEventBus()),
      lineage: createLineageStore(),
      close: async () => restore(),
    };
  }
  if (running)
    throw new KeelError(
      `keel up (pid ${running.pid}) holds ${stateDir} but serves no HTTP; stop it or give it a port`,
    );
  const runtime = await LocalRuntime.start({ config, stateDir, port: 0 });
  return {
    where: `a local runtime on ${stateDir} (${runtime.url})`,
    start: async (model, request) => (await runtime.pipelines.start(pipelineOf(model), request)).executionId,
    poll: async (id) => ({
      description: await runtime.pipelines.describe(id),
      steps: await runtime.pipelines.history(id),
    }),
    registry: createRegistry(),
    lineage: createLineageStore(),
    close: () => runtime.stop(),
  };
}

export function pickModel(config: KeelConfig, model: string | undefined): string {
  const models = Object.keys(config.models);
  if (model === undefined) {
    if (models.length === 1) return models[0] as string;
    throw new ValidationError('Which model?', [
      { path: 'model', message: `name one of ${models.join(', ')}` },
    ]);
  }
  if (!config.models[model])
    throw new ValidationError('Unknown model', [
      { path: 'model', message: `${model} is not in the config; models: ${models.join(', ')}` },
    ]);
  return model;
}

const seconds = (from: Date, to: Date) => `${((to.getTime() - from.getTime()) / 1000).toFixed(1)} s`;

/** The main path's work, in order: progress counts these. */
const MAIN_STEPS = [
  'PrepareData',
  'AuditData',
  'TrainCandidates',
  'Evaluate',
  'Register',
  'StartRollout',
  'CheckRollout',
  'NotifyPromoted',
] as const;
const STEP_ALIASES: Readonly<Record<string, (typeof MAIN_STEPS)[number]>> = {
  TrainOnSageMaker: 'TrainCandidates',
  CollectSageMakerModel: 'TrainCandidates',
  // Judges the mitigated candidates: part of evaluating, when the fairness gate failed.
  Mitigate: 'Evaluate',
};

/** One line per state as it finishes (and per retry or failure), on stderr, with `[k/n]` progress. */
function describeStep(
  step: ExecutionStep,
  entered: Map<string, Date>,
  done: Set<string>,
  failed: Set<string>,
): string | undefined {
  switch (step.event) {
    case 'entered':
      entered.set(step.state, step.at);
      failed.delete(step.state);
      return undefined;
    case 'exited': {
      // A state left through its Catch also "exits": it did not succeed, and no ✓ follows its ✗.
      if (failed.has(step.state)) return undefined;
      const since = entered.get(step.state);
      const main = STEP_ALIASES[step.state] ?? step.state;
      if (!(MAIN_STEPS as readonly string[]).includes(main)) return undefined;
      done.add(main);
      return `  [${done.size}/${MAIN_STEPS.length}] ✓ ${step.state}${since ? `  ${seconds(since, step.at)}` : ''}`;
    }
    case 'retried':
      return `  ↻ ${step.state} retried after ${step.error ?? 'an error'}`;
    case 'caught':
    case 'failed':
      // A task's failure may be reported twice (failed, then caught): the first, with its cause, is shown.
      if (failed.has(step.state)) return undefined;
      failed.add(step.state);
      return `  ✗ ${step.state}: ${failureMessage({ Error: step.error ?? 'error', Cause: step.cause ?? '' })}`;
  }
}

/** Why a run that did not succeed ended: the step that broke and its cause, or the gate that refused. */
export interface RunFailure {
  readonly state: string;
  readonly error: string;
  readonly message: string;
}

/** The first step whose error the pipeline caught (its root cause), from the history. */
export function rootFailure(steps: readonly ExecutionStep[]): RunFailure | undefined {
  const first = steps.find((s) => s.event === 'caught' || s.event === 'failed');
  if (!first) return undefined;
  // A task's failure can come as two events (failed with its cause, then caught): take what they carry.
  const reports = steps.filter(
    (s) => s.state === first.state && (s.event === 'caught' || s.event === 'failed'),
  );
  const error = reports.find((s) => s.error)?.error ?? 'Error';
  const cause = reports.find((s) => s.cause)?.cause ?? '';
  return { state: first.state, error, message: failureMessage({ Error: error, Cause: cause }) };
}

/** The gate table of an execution: from its output, or from the evaluation report in lineage. */
async function gateTable(
  driver: PipelineDriver,
  model: string,
  execution: ExecutionDescription,
): Promise<{ rows: GateRow[]; report?: string; rejection?: string; mitigations?: readonly ParetoRow[] }> {
  const output = execution.output as
    | { evaluation?: { table: GateRow[]; report: { uri: string }; pareto?: ParetoRow[] } }
    | undefined;
  if (output?.evaluation)
    return {
      rows: output.evaluation.table,
      report: output.evaluation.report.uri,
      ...(output.evaluation.pareto ? { mitigations: output.evaluation.pareto } : {}),
    };
  const versions = await driver.registry.listVersions(model).catch(() => undefined);
  for (const summary of [...(versions?.items ?? [])].reverse()) {
    const version = await driver.registry.get(model, summary.version);
    const report = version.metadata.evaluation.report;
    if (version.metadata.pipelineExecution !== execution.executionId || !report) continue;
    const stored = await driver.lineage.getJson<{
      gates: Record<string, { rows: GateRow[] }>;
      mitigations?: ParetoRow[];
    }>({
      kind: 'evaluations',
      sha256: report.sha256,
    });
    return {
      rows: Object.values(stored.gates).flatMap((g) => g.rows),
      report: report.uri,
      ...(stored.mitigations ? { mitigations: stored.mitigations } : {}),
      ...(version.status === 'rejected' ? { rejection: version.statusReason } : {}),
    };
  }
  return { rows: [] };
}

/** The mitigations tried, as the report's table: one row each, the unmitigated candidate first. */
function mitigationTable(rows: readonly ParetoRow[]): string {
  const attributes = [...new Set(rows.flatMap((r) => Object.keys(r.fairness)))].sort();
  const columns = [
    'method',
    'constraint',
    'AUC',
    'cost/1000',
    ...attributes.flatMap((a) => [`DP ratio ${a}`, `EO diff ${a}`]),
    'gates',
    'pareto',
  ];
  return `fairness mitigations (holdout):\n${formatTable(
    rows.map((r) => ({
      method: r.method,
      constraint: r.constraint ?? '—',
      AUC: show(r.auc),
      'cost/1000': show(r.costPer1000),
      ...Object.fromEntries(
        attributes.flatMap((a) => [
          [`DP ratio ${a}`, show(r.fairness[a]?.demographicParityRatio ?? null)],
          [`EO diff ${a}`, show(r.fairness[a]?.equalizedOddsDifference ?? null)],
        ]),
      ),
      gates: (['performance', 'fairness', 'safety'] as const).every((g) => r.gates[g])
        ? 'pass'
        : `FAIL ${(['performance', 'fairness', 'safety'] as const).filter((g) => !r.gates[g]).join(',')}`,
      pareto: r.paretoOptimal ? '★' : '',
    })),
    columns,
  )}`;
}

const show = (v: number | null) => (v === null ? '—' : Number.isInteger(v) ? String(v) : v.toPrecision(4));

export function registerRetrain(program: Command, io: Io): void {
  program
    .command('retrain')
    .description('Run the retraining pipeline: data, audit, training, evaluation, gates, approval, rollout')
    .argument('[model]', 'the model to retrain (default: the only model in the config)')
    .option('--reason <text>', 'why, for the audit log', 'manual retraining')
    .option(
      '--trigger <type>',
      'manual, drift, schedule or feature-review (drift asks the candidate to beat production)',
      'manual',
    )
    .option(
      '--data <source>',
      'base data instead of the configured source: a CSV path, s3://…, lineage:<sha256>, synthetic:credit?…',
    )
    .option(
      '--as-of <time>',
      'snapshot time for production data (ISO 8601); the same input registers no new version',
    )
    .option(
      '--without <column>',
      'a raw column the candidate must not use (repeatable), as a stale-feature review suggests',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--actor <who>', 'who asks; default KEEL_ACTOR or user@host')
    .option('--no-wait', 'start it and print the execution id')
    .option('--json', 'print JSON')
    .action(async (modelArg: string | undefined, options, command: Command) => {
      const config = await loadConfig((command.optsWithGlobals() as { config: string }).config);
      const model = pickModel(config, modelArg);
      if (!['manual', 'drift', 'schedule', 'feature-review'].includes(options.trigger))
        throw new ValidationError('Invalid trigger', [
          {
            path: 'trigger',
            message: `expected manual, drift, schedule or feature-review, got "${options.trigger}"`,
          },
        ]);
      if (options.asOf !== undefined && Number.isNaN(Date.parse(options.asOf)))
        throw new ValidationError('Invalid snapshot time', [
          { path: 'as-of', message: `not an ISO 8601 time: "${options.asOf}"` },
        ]);
      const request: RetrainingRequest = {
        trigger: { type: options.trigger, reason: options.reason },
        requestedBy: options.actor ?? defaultActor(),
        ...(options.asOf ? { asOf: new Date(options.asOf).toISOString() } : {}),
        ...(options.data ? { source: options.data } : {}),
        ...(options.without ? { without: options.without as string[] } : {}),
      };
      const driver = await openDriver(config);
      try {
        const executionId = await driver.start(model, request);
        if (!options.wait) {
          io.out(options.json ? JSON.stringify({ model, executionId }) : executionId);
          return;
        }
        if (!options.json) io.err(`Retraining ${model} on ${driver.where}\n  execution ${executionId}`);
        const entered = new Map<string, Date>();
        const done = new Set<string>();
        const failedStates = new Set<string>();
        let history: readonly ExecutionStep[] = [];
        let shown = 0;
        let waiting = false;
        let final: ExecutionDescription;
        for (;;) {
          const { description, steps } = await driver.poll(executionId);
          history = steps;
          for (const step of steps.slice(shown)) {
            const line = describeStep(step, entered, done, failedStates);
            if (line && !options.json) io.err(line);
            if (step.state === 'RequestApproval' && step.event === 'entered' && !waiting && !options.json) {
              waiting = true;
              io.err(`  … waiting for approval: keel approve ${executionId} --approve|--reject --reason "…"`);
            }
          }
          shown = steps.length;
          if (description.status !== 'RUNNING') {
            final = description;
            break;
          }
          await new Promise((r) => setTimeout(r, 250));
        }
        const gates = await gateTable(driver, model, final);
        // A gate's refusal is its reason; a broken step is the root cause, not the final Fail state.
        const failure = final.status === 'SUCCEEDED' || gates.rejection ? undefined : rootFailure(history);
        const why =
          gates.rejection ?? (failure ? `${failure.state} failed: ${failure.message}` : final.cause);
        if (options.json)
          io.out(
            JSON.stringify({
              model,
              executionId,
              status: final.status,
              error: final.error,
              ...(final.status !== 'SUCCEEDED' && why ? { reason: why } : {}),
              ...(failure ? { failure } : {}),
              gates: gates.rows,
              ...(gates.mitigations ? { mitigations: gates.mitigations } : {}),
              report: gates.report,
            }),
          );
        else {
          if (gates.rows.length > 0) {
            io.out(
              formatTable(
                gates.rows.map((r) => ({
                  gate: r.gate,
                  check: r.check,
                  candidate: show(r.candidate),
                  production: show(r.production),
                  threshold: r.threshold,
                  result: r.passed ? 'pass' : 'FAIL',
                })),
                ['gate', 'check', 'candidate', 'production', 'threshold', 'result'],
              ),
            );
          }
          if (gates.mitigations) io.out(mitigationTable(gates.mitigations));
          if (gates.report) io.out(`report: ${gates.report}`);
          io.out(
            final.status === 'SUCCEEDED'
              ? `${model}: promoted`
              : `${model}: ${final.error ?? final.status}${why ? ` — ${why}` : ''}`,
          );
        }
        if (final.status !== 'SUCCEEDED')
          throw new KeelError(`retraining ended ${final.status}: ${final.error ?? ''}`.trim());
      } finally {
        await driver.close();
      }
    });

  program
    .command('approvals')
    .description('List retraining candidates waiting for approval')
    .option('--json', 'print JSON')
    .action(async (options, command: Command) => {
      const config = await loadConfig((command.optsWithGlobals() as { config: string }).config);
      const pending = await withApprovals(config, async (api) => api.list());
      if (options.json) io.out(JSON.stringify(pending));
      else if (pending.length === 0) io.out('No approvals pending');
      else
        io.out(
          formatTable(
            pending.map((p) => ({
              model: p.model,
              execution: p.execution,
              candidate: p.candidate.manifestId,
              requested: p.requestedAt,
              expires: p.expiresAt,
            })),
            ['model', 'execution', 'candidate', 'requested', 'expires'],
          ),
        );
    });

  program
    .command('approve')
    .description('Approve or reject a retraining candidate waiting for a human (recorded in the audit log)')
    .argument('<execution>', 'the execution id (or name) `keel retrain` printed')
    .option('--approve', 'let the candidate be registered and rolled out')
    .option('--reject', 'reject the candidate')
    .requiredOption('--reason <text>', 'why, for the audit log')
    .option('--actor <who>', 'who decides; default KEEL_ACTOR or user@host')
    .option('--json', 'print JSON')
    .action(async (execution: string, options, command: Command) => {
      if (Boolean(options.approve) === Boolean(options.reject))
        throw new ValidationError('Approve or reject?', [
          { path: 'decision', message: 'give exactly one of --approve and --reject' },
        ]);
      const config = await loadConfig((command.optsWithGlobals() as { config: string }).config);
      const decided = await withApprovals(config, (api) =>
        api.decide({
          execution,
          approve: Boolean(options.approve),
          actor: options.actor ?? defaultActor(),
          reason: options.reason,
        }),
      );
      if (options.json) io.out(JSON.stringify(decided));
      else io.out(`${decided.model}: ${decided.status} by ${decided.decidedBy} (${decided.execution})`);
    });
}

type PublicApproval = Omit<ApprovalRequest, 'taskToken'>;

interface ApprovalsApi {
  list(): Promise<PublicApproval[]>;
  decide(request: {
    execution: string;
    approve: boolean;
    actor: string;
    reason: string;
  }): Promise<PublicApproval>;
}

/** Approvals in AWS (table + Step Functions) or in the running `keel up` (its approvals API). */
async function withApprovals<T>(config: KeelConfig, use: (api: ApprovalsApi) => Promise<T>): Promise<T> {
  const strip = ({ taskToken: _t, ...rest }: ApprovalRequest): PublicApproval => rest;
  if (process.env[RESOURCE_ENV.table]) {
    const approvals = new DynamoApprovalStore(documentClient(), process.env[RESOURCE_ENV.table] as string);
    return use({
      list: async () => (await approvals.list()).map(strip),
      decide: async (r) => strip(await decideApproval({ approvals, pipelines: ports().pipelineRunner }, r)),
    });
  }
  const running = await runningRuntime(resolve(config.local.stateDir));
  if (!running?.url) {
    throw new KeelError(
      'No running keel up or keel retrain holds a pipeline waiting for approval (task tokens live in that process)',
    );
  }
  const url = running.url;
  return use({
    list: async () => (await controlApi<{ approvals: PublicApproval[] }>(url, '/v1/approvals')).approvals,
    decide: (r) =>
      controlApi<PublicApproval>(url, `/v1/approvals/${encodeURIComponent(r.execution)}`, {
        method: 'POST',
        body: JSON.stringify({ approve: r.approve, reason: r.reason, actor: r.actor }),
      }),
  });
}
