/**
 * Function sandboxes for the local runtime: worker threads that run a Lambda entry module's
 * handlers, as Lambda runs each function in its own sandbox. In-process, a training step
 * computing for seconds held the one thread that also serves the local API (a 4.7 s request
 * under `keel simulate` during a retrain); in a worker it does not. A timed-out run is killed
 * with its worker, as Lambda kills the sandbox, instead of running on unseen.
 *
 * Handlers in a worker reach the control-plane ports of the runtime that owns the pool (its
 * event bus, deployer, metrics, pipelines…) through a message channel: the worker installs a
 * proxy per port (see `sandbox-host.ts`), so the same composition root serves both sides.
 * Written by hand: the pools on npm (piscina, workerpool) run plain functions; none carries
 * calls back from the worker to objects in the parent, which every port needs.
 */
import { availableParallelism } from 'node:os';
import { SHARE_ENV, Worker } from 'node:worker_threads';
import { KeelError } from '../functions/kernel/errors.ts';
import type { Ports } from '../functions/ports/index.ts';
import {
  deserializeError,
  type SandboxContext,
  type SandboxMessage,
  type SerializedError,
  serializeError,
} from './sandbox-protocol.ts';

/** A worker that stopped while a run was on it, or a pool used after `close()`. */
export class SandboxError extends KeelError {}

export interface SandboxPoolOptions {
  /** File URL of the entry module whose exports are the handlers (a function's bundle). */
  readonly module: string;
  /** The ports handlers in the workers reach (read at each call: the runtime may rewire). */
  readonly ports: () => Ports;
  /**
   * The workers' environment.
   * @default `process.env`, shared: variables set later reach running workers too
   */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Workers running at once; further runs wait for one to be free.
   * @default the machine's parallelism, at least 2 (a step may invoke another of its module)
   */
  readonly size?: number;
  /**
   * A worker idle this long is terminated, as Lambda reclaims an idle execution environment:
   * its heap goes back to the system (a warm training worker held hundreds of MB between
   * retrainings). The next run starts a fresh one (a cold start of about a second).
   * @default 60 seconds; 0 keeps idle workers
   */
  readonly idleMs?: number;
}

/** The plain fields of a Lambda `Context`; the worker adds its methods back. */
export interface SandboxRunOptions {
  /** Aborting terminates the worker running it (a timeout). */
  readonly signal?: AbortSignal;
  /** Called when the handler starts: after a cold start, as Lambda's timeout counts. */
  readonly onStart?: () => void;
}

interface Job {
  readonly exportName: string;
  readonly event: string;
  readonly context: SandboxContext;
  readonly onStart: (() => void) | undefined;
  readonly resolve: (responseText: string | undefined) => void;
  readonly reject: (error: Error) => void;
}

interface Slot {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  job: Job | undefined;
  /** Set while the worker is idle: terminates it after `idleMs`. */
  idle?: NodeJS.Timeout;
}

const WORKER_ENTRY = new URL('./sandbox-worker.mjs', import.meta.url);

export class SandboxPool {
  readonly #module: string;
  readonly #ports: () => Ports;
  readonly #env: NodeJS.ProcessEnv;
  readonly #size: number;
  readonly #idleMs: number;
  readonly #slots = new Set<Slot>();
  readonly #queue: Job[] = [];
  #closed = false;

  constructor(options: SandboxPoolOptions) {
    this.#module = options.module;
    this.#ports = options.ports;
    this.#env = options.env ?? process.env;
    this.#size = options.size ?? Math.max(2, availableParallelism());
    this.#idleMs = options.idleMs ?? 60_000;
    if (!(Number.isInteger(this.#size) && this.#size >= 1)) {
      throw new SandboxError(`A sandbox pool needs at least one worker, got size ${options.size}`);
    }
  }

  /** Workers alive (idle or busy). */
  get workers(): number {
    return this.#slots.size;
  }

  /** Runs export `exportName` of the module on `event` (JSON text); resolves with its result's JSON text. */
  run(
    exportName: string,
    event: string,
    context: SandboxContext,
    options: SandboxRunOptions = {},
  ): Promise<string | undefined> {
    const { signal } = options;
    if (this.#closed) return Promise.reject(new SandboxError(`Sandbox pool of ${this.#module} is closed`));
    return new Promise<string | undefined>((resolve, reject) => {
      const job: Job = { exportName, event, context, onStart: options.onStart, resolve, reject };
      signal?.addEventListener(
        'abort',
        () => {
          const queued = this.#queue.indexOf(job);
          if (queued >= 0) this.#queue.splice(queued, 1);
          const slot = [...this.#slots].find((s) => s.job === job);
          if (slot) this.#discard(slot);
          reject(new SandboxError(`Run of ${exportName} aborted`, { cause: signal.reason }));
        },
        { once: true },
      );
      this.#queue.push(job);
      this.#dispatch();
    });
  }

  /** Terminates every worker; runs still on them fail. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) job.reject(new SandboxError('Sandbox pool closed'));
    await Promise.all([...this.#slots].map((slot) => this.#discard(slot)));
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      let slot = [...this.#slots].find((s) => s.job === undefined);
      if (slot === undefined) {
        if (this.#slots.size >= this.#size) return;
        slot = this.#spawn();
      }
      const job = this.#queue.shift() as Job;
      clearTimeout(slot.idle);
      slot.idle = undefined;
      slot.job = job;
      const taken = slot;
      // A busy worker keeps the process alive (a CLI awaiting a run has nothing else); idle, not.
      taken.worker.ref();
      taken.ready.then(
        () => {
          if (taken.job === job) {
            job.onStart?.();
            taken.worker.postMessage({
              type: 'invoke',
              exportName: job.exportName,
              event: job.event,
              context: job.context,
            } satisfies SandboxMessage);
          }
        },
        () => {
          /* #fail already rejected the job */
        },
      );
    }
  }

  #spawn(): Slot {
    const worker = new Worker(WORKER_ENTRY, {
      // One environment, as in-process: endpoints the runtime sets later reach the workers too.
      // Another environment object is copied as it is when the worker starts.
      env: this.#env === process.env ? SHARE_ENV : { ...this.#env },
      workerData: { module: this.#module },
    });
    let ready!: () => void;
    let failed!: (error: Error) => void;
    const slot: Slot = {
      worker,
      ready: new Promise<void>((resolve, reject) => {
        ready = resolve;
        failed = reject;
      }),
      job: undefined,
    };
    slot.ready.catch(() => {});
    this.#slots.add(slot);
    worker.on('message', (message: SandboxMessage) => {
      switch (message.type) {
        case 'ready':
          ready();
          return;
        case 'port':
          void this.#serve(worker, message);
          return;
        case 'result': {
          const job = slot.job;
          slot.job = undefined;
          worker.unref();
          if (job) {
            if (message.ok) job.resolve(message.response);
            else job.reject(deserializeError(message.error));
          }
          this.#dispatch();
          if (slot.job === undefined && this.#idleMs > 0 && this.#slots.has(slot)) {
            slot.idle = setTimeout(() => {
              if (slot.job === undefined && this.#slots.has(slot)) void this.#discard(slot);
            }, this.#idleMs);
            slot.idle.unref();
          }
          return;
        }
      }
    });
    worker.on('error', (error) => this.#fail(slot, error, failed));
    worker.on('exit', (code) => {
      if (this.#slots.has(slot)) {
        this.#fail(slot, new SandboxError(`Sandbox worker exited with code ${code}`), failed);
      }
    });
    return slot;
  }

  /** A worker died (an uncaught error, or it exited): its run fails, the others go on. */
  #fail(slot: Slot, error: Error, failed: (error: Error) => void): void {
    failed(error);
    const job = slot.job;
    slot.job = undefined;
    this.#slots.delete(slot);
    void slot.worker.terminate();
    job?.reject(error);
    if (!this.#closed) this.#dispatch();
  }

  async #discard(slot: Slot): Promise<void> {
    clearTimeout(slot.idle);
    this.#slots.delete(slot);
    slot.job = undefined;
    await slot.worker.terminate();
    if (!this.#closed) this.#dispatch();
  }

  async #serve(worker: Worker, message: Extract<SandboxMessage, { type: 'port' }>): Promise<void> {
    let reply: SandboxMessage;
    try {
      const port = this.#ports()[message.port] as unknown as Record<string, (...args: unknown[]) => unknown>;
      const method = port[message.method];
      if (typeof method !== 'function') {
        throw new SandboxError(`Port ${message.port} has no method ${message.method}`);
      }
      const value = await method.apply(port, [...message.args]);
      reply = { type: 'port-result', id: message.id, ok: true, value };
    } catch (error) {
      reply = { type: 'port-result', id: message.id, ok: false, error: serializeError(error) };
    }
    // The worker may be gone (terminated on timeout) by the time the port answers.
    try {
      worker.postMessage(reply);
    } catch {
      /* nobody is waiting */
    }
  }
}

export type { SerializedError };
