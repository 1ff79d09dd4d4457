/**
 * The local runtime: the composition root for running Keel on a laptop or in CI.
 *
 * It starts the embedded AWS (unless `AWS_ENDPOINT_URL` already names an emulator such as
 * moto_server or LocalStack), points the SDK at it through the standard endpoint variables,
 * provisions the data resources, and installs the local adapters of the control-plane ports.
 * Handlers then run in-process, unchanged, through {@link LocalLambdaRuntime}.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { S3CaptureSink } from '../functions/adapters/aws/capture.ts';
import { resetClients, s3Client } from '../functions/commons/clients.ts';
import {
  createLineageStore,
  createRegistry,
  installPorts,
  resetPorts,
} from '../functions/composition/aws.ts';
import type { CaptureRecord } from '../functions/contracts/capture.ts';
import type { KeelConfig } from '../functions/contracts/config/schema.ts';
import { FEDERATED_ENV, federatedApiFunctionName } from '../functions/contracts/federated.ts';
import { localResourceNames, RESOURCE_ENV } from '../functions/contracts/resources.ts';
import {
  approvalApiFunctionName,
  RETRAINING_EVENT_SOURCE,
  RETRAINING_FINISHED,
  type RetrainingFinished,
} from '../functions/contracts/retraining.ts';
import { TeeCaptureSink } from '../functions/inference/capture.ts';
import {
  type DeployDependencies,
  type DeployRequest,
  type StartedDeployment,
  settleDeployment,
  settlementOf,
  startDeployment,
} from '../functions/inference/deploy.ts';
import type { InferenceDependencies } from '../functions/inference/handler.ts';
import { loadShadowScorer, type ShadowReport, type ShadowScorer } from '../functions/inference/shadow.ts';
import { NotFoundError } from '../functions/kernel/errors.ts';
import type { CheckSummary } from '../functions/monitoring/check.ts';
import type { FeatureReviewSummary } from '../functions/monitoring/feature-review.ts';
import type { Ports } from '../functions/ports/index.ts';
import { LocalDeployer } from './adapters/deployer.ts';
import { LocalEventBus } from './adapters/event-bus.ts';
import { LocalMetrics } from './adapters/metrics.ts';
import { LocalPipelineRunner, PipelineRunnerClosedError } from './adapters/pipeline-runner.ts';
import { FileCaptureJournal } from './capture-journal.ts';
import { controlApi } from './control-api.ts';
import { EmbeddedAws } from './embedded-aws.ts';
import { federatedModels, registerFederatedFunctions, registerFederatedPipelines } from './federated.ts';
import { LocalLambdaRuntime } from './lambda-runtime.ts';
import {
  MONITORING_ENTRY,
  registerDriftCheckPipelines,
  registerMonitoringFunctions,
  runDriftCheck,
  runFeatureReviewJob,
  scheduledJobs,
} from './monitoring.ts';
import { provision } from './provision.ts';
import {
  RETRAINING_ENTRY,
  registerRetrainingFunctions,
  registerRetrainingPipelines,
  subscribeDriftTrigger,
  subscribeRetrainWithout,
} from './retraining.ts';
import { SandboxPool } from './sandbox.ts';
import { LocalScheduler, type ScheduleRun } from './scheduler.ts';
import { inferenceFunctionName, LocalServing } from './serving.ts';
import { acquireStateLock, isAlive } from './state-lock.ts';

export interface LocalRuntimeOptions {
  readonly config: KeelConfig;
  /**
   * Where state persists. Relative paths resolve against the working directory.
   * @default the config's `local.stateDir` (`.keel`)
   */
  readonly stateDir?: string;
  /** Keep DynamoDB in memory and S3 in a temp dir; nothing survives `stop()`. @default false */
  readonly ephemeral?: boolean;
  /**
   * Write how to reach this runtime (`runtime.json`) into the state directory, holding its lock,
   * so other CLI processes (`keel simulate`, `keel retrain`…) find it; an ephemeral `keel up`
   * announces itself too, though it keeps no state there.
   * @default true, unless `ephemeral`
   */
  readonly announce?: boolean;
  /** @default the config's `local.timeScale` */
  readonly timeScale?: number;
  /** Environment to read endpoint variables from and to point at the emulators. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Serve the inference API over HTTP on this port (0: any free port). @default no HTTP server */
  readonly port?: number;
  /**
   * Run the pipeline steps (retraining, drift check) in worker sandboxes, as Lambda runs each
   * function apart: a training step then never stalls the API. Off, they run on this thread
   * (a step replaced with a closure through `lambda.updateCode` always does).
   * @default true
   */
  readonly sandboxes?: boolean;
}

/** What runs where, for `keel up` to report. */
export interface RuntimeDescription {
  readonly aws: { readonly mode: 'embedded' | 'external'; readonly dynamodb: string; readonly s3: string };
  readonly stateDir: string | null;
  readonly resources: ReturnType<typeof localResourceNames>;
  readonly functions: readonly string[];
  readonly pipelines: readonly string[];
  readonly timeScale: number;
  /** The inference API, when served. */
  readonly url: string | null;
  /** Models with a live version, and which. */
  readonly serving: Readonly<Record<string, string>>;
}

export { StateDirLockedError } from './state-lock.ts';

export class LocalRuntime {
  readonly config: KeelConfig;
  readonly lambda: LocalLambdaRuntime;
  readonly eventBus: LocalEventBus;
  readonly metrics: LocalMetrics;
  readonly pipelines: LocalPipelineRunner;
  readonly deployer: LocalDeployer;
  /** Capture records into the embedded (or given) S3, flushed every second and on stop. */
  readonly capture: S3CaptureSink;
  /** The inference routes, deployed model versions and their `live` aliases. */
  readonly serving: LocalServing;
  /** Where the inference API listens, once started with a port. */
  url: string | undefined;
  readonly #shadows = new Map<string, Promise<ShadowScorer | undefined>>();
  readonly #shadowWork = new Set<Promise<void>>();
  readonly resources: ReturnType<typeof localResourceNames>;
  readonly timeScale: number;
  readonly #aws: EmbeddedAws | undefined;
  readonly #env: NodeJS.ProcessEnv;
  readonly #savedEnv: Record<string, string | undefined>;
  readonly #lockFile: string | undefined;
  readonly #stateDir: string | undefined;
  readonly #journal: FileCaptureJournal | undefined;
  readonly #announceDir: string | undefined;
  #scheduler: LocalScheduler | undefined;
  readonly #pools: SandboxPool[] = [];
  /** The last drift check of each model, and the last run of each schedule (status displays). */
  readonly lastChecks = new Map<string, CheckSummary & { readonly at: Date }>();
  /** Each model's last stale-feature review (status panel). */
  readonly lastReviews = new Map<string, FeatureReviewSummary & { readonly at: Date }>();
  readonly lastRuns = new Map<string, ScheduleRun>();
  /** Rollouts whose outcome the registry has recorded. */
  readonly #settled = new Set<string>();
  /** The last finished retraining of each model: its outcome and why. */
  readonly lastRetrainings = new Map<string, RetrainingFinished & { readonly at: Date }>();
  #stopped = false;

  private constructor(init: {
    config: KeelConfig;
    aws: EmbeddedAws | undefined;
    env: NodeJS.ProcessEnv;
    savedEnv: Record<string, string | undefined>;
    lockFile: string | undefined;
    stateDir: string | undefined;
    announceDir: string | undefined;
    timeScale: number;
    sandboxes: boolean;
    journal: FileCaptureJournal | undefined;
  }) {
    this.config = init.config;
    this.#aws = init.aws;
    this.#env = init.env;
    this.#savedEnv = init.savedEnv;
    this.#lockFile = init.lockFile;
    this.#stateDir = init.stateDir;
    this.#announceDir = init.announceDir;
    this.timeScale = init.timeScale;
    this.resources = localResourceNames(init.config.project);
    // Alarms look back one (scaled) minute; keep a quarter hour, not the default hour, under load.
    this.metrics = new LocalMetrics({ retentionMs: 15 * 60_000 });
    this.eventBus = new LocalEventBus({
      onDeliveryError: (error, event) => {
        // While stopping, refused pipeline starts are the point, not news.
        if (this.#stopped && error instanceof PipelineRunnerClosedError) return;
        process.emitWarning(`Event ${event.detailType} delivery failed: ${(error as Error).message}`);
      },
    });
    this.lambda = new LocalLambdaRuntime({ timeScale: 1 });
    this.pipelines = new LocalPipelineRunner();
    this.deployer = new LocalDeployer({
      alarms: this.metrics,
      timeScale: init.timeScale,
      // The deployed stack's deployment groups carry each model's rollback alarms.
      groupAlarms: (functionName, version) => {
        const model = Object.keys(init.config.models).find(
          (m) => inferenceFunctionName(init.config.project, m) === functionName,
        );
        return model ? this.serving.rollbackAlarms(model, version) : [];
      },
    });
    if (init.sandboxes) {
      const runtimePorts = () => this.ports();
      this.#pools.push(
        new SandboxPool({ module: RETRAINING_ENTRY, ports: runtimePorts, env: init.env }),
        new SandboxPool({ module: MONITORING_ENTRY, ports: runtimePorts, env: init.env }),
      );
    }
    registerRetrainingFunctions(this.lambda, init.config.project, this.#pools[0]);
    registerMonitoringFunctions(this.lambda, init.config.project, this.#pools[1]);
    registerFederatedFunctions(this.lambda, init.config.project);
    subscribeDriftTrigger(this.eventBus, this.pipelines, init.config);
    subscribeRetrainWithout(this.eventBus, this.pipelines, init.config);
    // How each model's last retraining ended and why (the outcomes topic's message in AWS).
    this.eventBus.subscribe(
      { source: [RETRAINING_EVENT_SOURCE], detailType: [RETRAINING_FINISHED] },
      (event) => {
        const detail = event.detail as unknown as RetrainingFinished;
        if (typeof detail.model === 'string')
          this.lastRetrainings.set(detail.model, { ...detail, at: new Date() });
      },
    );
    this.#journal = init.journal;
    this.capture = new S3CaptureSink({
      client: s3Client(),
      bucket: this.resources.captureBucket,
      // Few, larger objects (the journal makes the buffer durable): about 900 an hour per
      // partition at most, where a flush a second made thousands and the listing broke.
      intervalMs: 4000,
      maxRecords: 20_000,
      onError: (error) =>
        process.emitWarning(`Capture flush failed, will retry: ${(error as Error).message}`),
      ...(init.journal ? { journal: init.journal, replay: init.journal.replay } : {}),
    });
    // Shadow scoring taps the capture stream, off the request path, as in AWS.
    const capture = new TeeCaptureSink(this.capture, (records) => {
      // Off the request path, like everything the capture stream feeds.
      setImmediate(() => this.serving.observeCapture(records));
      const byModel = new Map<string, CaptureRecord[]>();
      for (const r of records) {
        if (r.type !== 'prediction' || r.served_by !== 'primary') continue;
        byModel.set(r.model, [...(byModel.get(r.model) ?? []), r]);
      }
      for (const [model, batch] of byModel) {
        const work = new Promise<void>((resolve) => setImmediate(resolve))
          .then(() => this.#shadowFor(model))
          .then((shadow) => shadow?.process(batch))
          .catch(() => {})
          .finally(() => this.#shadowWork.delete(work));
        this.#shadowWork.add(work);
      }
    });
    let dependencies: InferenceDependencies | undefined;
    this.serving = new LocalServing({
      config: init.config,
      lambda: this.lambda,
      deployer: this.deployer,
      metrics: this.metrics,
      timeScale: init.timeScale,
      ...(init.journal ? { durable: () => (init.journal as FileCaptureJournal).durable() } : {}),
      admin: controlApi(this),
      routes: {
        '/v1/approvals': approvalApiFunctionName(init.config.project),
        '/v1/federated': federatedApiFunctionName(init.config.project),
      },
      dependencies: () => {
        dependencies ??= {
          registry: createRegistry(init.env, this.eventBus),
          lineage: createLineageStore(init.env),
          capture,
        };
        return dependencies;
      },
    });
  }

  /** The worker pools the pipeline steps run in (none with `sandboxes: false`). */
  get sandboxes(): readonly SandboxPool[] {
    return this.#pools;
  }

  /** This runtime's control-plane ports: installed in this process, and served to its sandboxes. */
  ports(): Ports {
    return {
      eventBus: this.eventBus,
      metricsSink: this.metrics,
      alarmMonitor: this.metrics,
      functionInvoker: this.lambda,
      pipelineRunner: this.pipelines,
      deployer: this.deployer,
      captureSink: this.capture,
    };
  }

  /** The `shadow`-alias scorer of a model, loaded once; none without the alias or a sample rate. */
  #shadowFor(model: string): Promise<ShadowScorer | undefined> {
    let shadow = this.#shadows.get(model);
    if (!shadow) {
      const deps = {
        registry: createRegistry(this.#env, this.eventBus),
        lineage: createLineageStore(this.#env),
      };
      const rate = this.config.models[model]?.serving.shadowSampleRate ?? 0;
      shadow = loadShadowScorer(deps, model, this.capture, rate).catch((error: unknown) => {
        process.emitWarning(`Shadow model of ${model} not loaded: ${(error as Error).message}`);
        return undefined;
      });
      this.#shadows.set(model, shadow);
    }
    return shadow;
  }

  /** How the shadow model compares with the primary on the traffic scored so far. */
  async shadowReport(model: string): Promise<(ShadowReport & { version: string }) | undefined> {
    await Promise.all([...this.#shadowWork]);
    const shadow = await this.#shadows.get(model);
    return shadow ? { ...shadow.report(), version: shadow.version } : undefined;
  }

  /**
   * Rolls a registered, approved model version out through the deploy API, with the local
   * rollback alarms, and settles it in the background (production moves only on success).
   */
  async deployModel(request: Omit<DeployRequest, 'alarms'>): Promise<StartedDeployment> {
    const deps: DeployDependencies = {
      registry: createRegistry(this.#env, this.eventBus),
      deployer: this.deployer,
      lineage: createLineageStore(this.#env),
      functionName: (model) => inferenceFunctionName(this.config.project, model),
    };
    const started = await startDeployment(deps, {
      ...request,
      alarms: (functionVersion) => this.serving.rollbackAlarms(request.model, functionVersion),
    });
    const settle = async (): Promise<void> => {
      const state = await settleDeployment(deps, settlementOf(request, started.deploymentId));
      if (state.status === 'InProgress' && !this.#stopped) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        return settle();
      }
    };
    const work = settle()
      .catch((error: Error) =>
        process.emitWarning(`Settling ${started.deploymentId} failed: ${error.message}`),
      )
      .finally(() => {
        // Over either way: a settle that failed must not leave a waiting CLI polling for ever.
        this.#settled.add(started.deploymentId);
        this.#shadowWork.delete(work);
      });
    this.#shadowWork.add(work);
    return started;
  }

  /** Whether a deployment's outcome is settled in the registry too (production moved, or the rollback recorded). */
  isSettled(deploymentId: string): boolean {
    return this.#settled.has(deploymentId);
  }

  /** Runs a model's drift check once, as its schedule would (the function, or the distributed state machine). */
  async runDriftCheck(model: string, request: { readonly asOf?: string } = {}): Promise<CheckSummary> {
    if (!this.config.models[model]) throw new NotFoundError(`no model named ${model}`);
    // A check asked for now sees every answer given so far, not only those the last flush stored.
    await this.capture.flush();
    const summary = await runDriftCheck(this, model, request);
    this.lastChecks.set(model, { ...summary, at: new Date() });
    return summary;
  }

  /** Runs a model's stale-feature review once, as its schedule would. */
  async runFeatureReview(
    model: string,
    request: { readonly asOf?: string; readonly version?: number; readonly actor?: string } = {},
  ): Promise<FeatureReviewSummary> {
    if (!this.config.models[model]) throw new NotFoundError(`no model named ${model}`);
    await this.capture.flush();
    const summary = await runFeatureReviewJob(this, model, request);
    this.lastReviews.set(model, { ...summary, at: new Date() });
    return summary;
  }

  /**
   * Starts the config's schedules (drift checks, and retraining where `schedules.retrain` is
   * set) on the runtime's time scale, as the EventBridge rules run them in AWS.
   */
  startSchedules(onRun?: (run: ScheduleRun) => void): LocalScheduler {
    this.#scheduler ??= new LocalScheduler(
      scheduledJobs(
        this,
        (summary) => this.lastChecks.set(summary.model, { ...summary, at: new Date() }),
        (summary) => this.lastReviews.set(summary.model, { ...summary, at: new Date() }),
      ),
      {
        timeScale: this.timeScale,
        onRun: (run) => {
          this.lastRuns.set(run.name, run);
          if (run.error) process.emitWarning(`Scheduled ${run.name} failed: ${run.error}`);
          onRun?.(run);
        },
      },
    ).start();
    return this.#scheduler;
  }

  /** Forgets loaded shadow scorers, after the `shadow` alias moved. */
  resetShadows(): void {
    this.#shadows.clear();
  }

  /**
   * Puts each configured model's `production` version live where nothing is live yet, as the
   * deployed stack would after `cdk deploy`. Returns the models deployed.
   */
  async syncServing(): Promise<string[]> {
    const deployed: string[] = [];
    const registry = createRegistry(this.#env, this.eventBus);
    for (const model of Object.keys(this.config.models)) {
      const fn = inferenceFunctionName(this.config.project, model);
      if (this.deployer.versions(fn).length > 0) continue;
      const production = (await registry.aliasesOrNone(model)).production;
      if (production === undefined) continue;
      await this.serving.deploy(model, production);
      deployed.push(model);
    }
    return deployed;
  }

  static async start(options: LocalRuntimeOptions): Promise<LocalRuntime> {
    const env = options.env ?? process.env;
    const timeScale = options.timeScale ?? options.config.local.timeScale;
    const home = resolve(options.stateDir ?? options.config.local.stateDir);
    const stateDir = options.ephemeral ? undefined : home;
    const announceDir = (options.announce ?? !options.ephemeral) ? home : undefined;
    const lockFile = stateDir || announceDir ? await acquireStateLock(home) : undefined;

    let aws: EmbeddedAws | undefined;
    const savedEnv: Record<string, string | undefined> = {};
    const setEnv = (values: Record<string, string>) => {
      for (const [key, value] of Object.entries(values)) {
        if (!(key in savedEnv)) savedEnv[key] = env[key];
        env[key] = value;
      }
    };
    try {
      if (!env.AWS_ENDPOINT_URL) {
        aws = await EmbeddedAws.start(stateDir ? { stateDir } : {});
        setEnv(aws.env());
      }
      const names = localResourceNames(options.config.project);
      setEnv({
        [RESOURCE_ENV.table]: names.table,
        [RESOURCE_ENV.lineageBucket]: names.lineageBucket,
        [RESOURCE_ENV.captureBucket]: names.captureBucket,
        [RESOURCE_ENV.federatedBucket]: names.federatedBucket,
        [FEDERATED_ENV.models]: JSON.stringify({
          project: options.config.project,
          models: federatedModels(options.config),
        }),
      });
      resetClients();
      await provision(names);
    } catch (error) {
      await aws?.stop();
      restoreEnv(env, savedEnv);
      if (lockFile) await rm(lockFile, { force: true });
      throw error;
    }

    // Answered predictions survive a kill: journaled before the answer, replayed here.
    const journal = stateDir
      ? await FileCaptureJournal.open(join(stateDir, 'capture-journal'), {
          durability: options.config.local.captureDurability,
        })
      : undefined;
    const runtime = new LocalRuntime({
      config: options.config,
      aws,
      env,
      savedEnv,
      lockFile,
      stateDir,
      announceDir,
      timeScale,
      sandboxes: options.sandboxes ?? true,
      journal,
    });
    installPorts(runtime.ports());
    try {
      await registerRetrainingPipelines({
        config: options.config,
        lambda: runtime.lambda,
        pipelines: runtime.pipelines,
        timeScale,
        lineageBucket: runtime.resources.lineageBucket,
      });
      await registerDriftCheckPipelines({
        config: options.config,
        lambda: runtime.lambda,
        pipelines: runtime.pipelines,
        timeScale,
      });
      await registerFederatedPipelines({
        config: options.config,
        lambda: runtime.lambda,
        pipelines: runtime.pipelines,
      });
    } catch (error) {
      await runtime.stop();
      throw error;
    }
    if (options.port !== undefined) {
      try {
        await runtime.syncServing();
        runtime.url = await runtime.serving.listen(options.port);
      } catch (error) {
        await runtime.stop();
        throw error;
      }
    }
    if (announceDir) {
      // Lets other processes (the CLI) reach this runtime's emulators while it holds the lock.
      const connection: RuntimeConnection = {
        pid: process.pid,
        ...(runtime.url ? { url: runtime.url } : {}),
        env: Object.fromEntries(Object.keys(savedEnv).map((key) => [key, env[key] as string])),
      };
      await writeFile(join(announceDir, RUNTIME_FILE), JSON.stringify(connection, null, 2));
    }
    return runtime;
  }

  describe(): RuntimeDescription {
    return {
      aws: this.#aws
        ? { mode: 'embedded', ...this.#aws.endpoints }
        : {
            mode: 'external',
            dynamodb: this.#env.AWS_ENDPOINT_URL ?? '',
            s3: this.#env.AWS_ENDPOINT_URL ?? '',
          },
      stateDir: this.#stateDir ?? null,
      resources: this.resources,
      functions: this.lambda.functionNames,
      pipelines: this.pipelines.pipelines,
      timeScale: this.timeScale,
      url: this.url ?? null,
      serving: Object.fromEntries(
        Object.keys(this.config.models).flatMap((model) => {
          const versions = this.deployer.versions(inferenceFunctionName(this.config.project, model));
          const last = versions.at(-1);
          return last
            ? [[model, `${model}@${(JSON.parse(last.description) as { modelVersion: number }).modelVersion}`]]
            : [];
        }),
      ),
    };
  }

  /**
   * Stops cleanly: running deployments and executions stop, pending event deliveries finish,
   * the emulators close their ports, and the environment is restored. Safe to call twice.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#scheduler?.stop();
    this.deployer.close();
    this.pipelines.close();
    await this.serving.close();
    await Promise.all([...this.#shadowWork]);
    await this.eventBus.drain();
    // An aborted execution's task (a training step, say) still runs to its end in-process; if
    // the emulators closed under it, s3rver would delete its directory under the write.
    await this.lambda.settled();
    await this.eventBus.drain();
    await Promise.all(this.#pools.map((pool) => pool.close()));
    // Every captured record reaches S3 before the emulators close.
    await this.capture
      .close()
      .catch((error: Error) => process.emitWarning(`Capture lost on stop: ${error.message}`));
    await this.#journal?.close();
    resetClients();
    resetPorts();
    await this.#aws?.stop();
    restoreEnv(this.#env, this.#savedEnv);
    if (this.#announceDir) await rm(join(this.#announceDir, RUNTIME_FILE), { force: true });
    if (this.#lockFile) await rm(this.#lockFile, { force: true });
  }
}

/** Written to the state directory while a runtime runs: how to reach it from another process. */
export interface RuntimeConnection {
  readonly pid: number;
  /** The inference API and control API, when served. */
  readonly url?: string;
  /** Endpoint, credential and resource variables pointing at the runtime's emulators. */
  readonly env: Readonly<Record<string, string>>;
}

export const RUNTIME_FILE = 'runtime.json';

/** The connection of a live runtime on `stateDir`, or undefined when none runs. */
export async function runningRuntime(stateDir: string): Promise<RuntimeConnection | undefined> {
  const text = await readFile(join(stateDir, RUNTIME_FILE), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const connection = JSON.parse(text) as RuntimeConnection;
  return connection.pid !== process.pid && isAlive(connection.pid) ? connection : undefined;
}

function restoreEnv(env: NodeJS.ProcessEnv, saved: Record<string, string | undefined>): void {
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
}
