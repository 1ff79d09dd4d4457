/**
 * The local stand-in for EventBridge schedules: runs jobs on the config's `rate(…)` and
 * `cron(…)` expressions (EventBridge's dialect: six fields with a year, `?`, `L`, `W`, `#`,
 * days of the week 1-7 from Sunday; parsed by aws-cron-parser), in UTC as EventBridge does.
 *
 * Time runs `1 / timeScale` times faster on a virtual clock that starts now: at 0.01, an hourly
 * check runs every 36 s, and a `cron(0 2 * * ? *)` comes round every 14.4 minutes. A job whose
 * previous run has not finished is skipped, as a rule with one target would pile invocations up.
 */
import awsCronParser from 'aws-cron-parser';
import { ValidationError } from '../functions/kernel/errors.ts';

export interface ScheduledJob {
  readonly name: string;
  /** `rate(N minute|minutes|hour|hours|day|days)` or `cron(m h dom mon dow year)`. */
  readonly expression: string;
  readonly run: () => Promise<unknown>;
}

export interface ScheduleRun {
  readonly name: string;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly error?: string;
}

export interface LocalSchedulerOptions {
  /** @default 1 */
  readonly timeScale?: number;
  /** @default the clock */
  readonly now?: () => number;
  /** Called after each run (status panels, logs). */
  readonly onRun?: (run: ScheduleRun) => void;
}

const UNIT_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

/** The next occurrence (virtual ms) strictly after `after` of a schedule expression. */
export function nextOccurrence(expression: string, after: number): number {
  const rate = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(expression);
  if (rate) {
    const every = Number(rate[1]) * UNIT_MS[rate[2] as keyof typeof UNIT_MS];
    if (every <= 0)
      throw new ValidationError('Invalid schedule', [
        { path: 'schedule', message: `rate must be positive: ${expression}` },
      ]);
    return after + every;
  }
  const cron = /^cron\((.+)\)$/.exec(expression);
  if (cron) {
    let next: Date | null = null;
    try {
      next = awsCronParser.next(awsCronParser.parse(cron[1] as string), new Date(after + 1000));
    } catch (cause) {
      throw new ValidationError('Invalid schedule', [
        { path: 'schedule', message: `${expression}: ${(cause as Error).message}` },
      ]);
    }
    if (!next)
      throw new ValidationError('Invalid schedule', [
        { path: 'schedule', message: `${expression} never fires again` },
      ]);
    return next.getTime();
  }
  throw new ValidationError('Invalid schedule', [
    { path: 'schedule', message: `expected rate(…) or cron(…), got "${expression}"` },
  ]);
}

export class LocalScheduler {
  readonly #jobs: readonly ScheduledJob[];
  readonly #timeScale: number;
  readonly #now: () => number;
  readonly #onRun: ((run: ScheduleRun) => void) | undefined;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #running = new Map<string, Promise<void>>();
  #origin = 0;
  #stopped = true;

  constructor(jobs: readonly ScheduledJob[], options: LocalSchedulerOptions = {}) {
    // Fail at start-up on a bad expression, not at its first firing.
    for (const job of jobs) nextOccurrence(job.expression, Date.now());
    this.#jobs = jobs;
    this.#timeScale = options.timeScale ?? 1;
    this.#now = options.now ?? Date.now;
    this.#onRun = options.onRun;
  }

  /** The virtual clock: real time since start, stretched by 1 / timeScale. */
  #virtual(real: number): number {
    return this.#origin + (real - this.#origin) / this.#timeScale;
  }

  start(): this {
    if (!this.#stopped) return this;
    this.#stopped = false;
    this.#origin = this.#now();
    for (const job of this.#jobs) this.#arm(job, this.#origin);
    return this;
  }

  /** When each job fires next (real time). */
  get next(): Readonly<Record<string, Date>> {
    return Object.fromEntries(this.#nextAt);
  }

  readonly #nextAt = new Map<string, Date>();

  #arm(job: ScheduledJob, afterVirtual: number): void {
    if (this.#stopped) return;
    const due = nextOccurrence(job.expression, afterVirtual);
    const delay = Math.max(0, (due - this.#virtual(this.#now())) * this.#timeScale);
    this.#nextAt.set(job.name, new Date(this.#now() + delay));
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#fire(job);
      this.#arm(job, due);
    }, delay);
    timer.unref();
    this.#timers.add(timer);
  }

  #fire(job: ScheduledJob): void {
    if (this.#stopped || this.#running.has(job.name)) return;
    const startedAt = new Date(this.#now());
    const work = job
      .run()
      .then(
        () => undefined,
        (error: Error) => error.message,
      )
      .then((error) => {
        this.#running.delete(job.name);
        this.#onRun?.({
          name: job.name,
          startedAt,
          finishedAt: new Date(this.#now()),
          ...(error ? { error } : {}),
        });
      });
    this.#running.set(job.name, work);
  }

  /** Stops firing and waits for runs in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    await Promise.all([...this.#running.values()]);
  }
}
