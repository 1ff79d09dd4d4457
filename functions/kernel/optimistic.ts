/**
 * The append loop of Keel's event logs (the registry's, the privacy ledgers'): read the end of
 * the log, decide, append on the next sequence number with a conditional write; a lost race or a
 * throttled call backs off (exponential, full jitter, so losers spread out as contention grows)
 * and tries again against what is there now. Anything else is final.
 */
import { isThrottling } from './errors.ts';

export interface OptimisticOptions {
  readonly maxAttempts: number;
  /** First backoff bound; it doubles per attempt. */
  readonly baseBackoffMs: number;
  readonly maxBackoffMs: number;
  /** The error when every attempt lost a race (a throttled last attempt throws its own). */
  readonly gaveUp: () => Error;
}

/** What one attempt came to: committed (or nothing to commit) with a value, or a lost race. */
export type Attempt<T> = { readonly value: T } | 'lost';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function appendOptimistically<T>(
  attempt: () => Promise<Attempt<T>>,
  options: OptimisticOptions,
): Promise<T> {
  let throttled: unknown;
  for (let n = 0; n < options.maxAttempts; n++) {
    if (n > 0)
      await sleep(
        Math.random() * Math.min(options.maxBackoffMs, options.baseBackoffMs * 2 ** Math.min(n, 16)),
      );
    try {
      const outcome = await attempt();
      if (outcome !== 'lost') return outcome.value;
      throttled = undefined;
    } catch (error) {
      if (!isThrottling(error)) throw error;
      throttled = error;
    }
  }
  // Still throttled at the end: that, not contention, is the caller's problem.
  if (throttled !== undefined) throw throttled;
  throw options.gaveUp();
}
