/**
 * Storage port of the privacy budget ledger: one append-only log per data source. The log is
 * the whole truth (each entry carries the accounting state after it), so there is nothing to
 * project and nothing to repair.
 */
import type { LedgerEntry } from '../contracts/privacy.ts';
import type { Page } from './registry-store.ts';

export interface LedgerStore {
  /** The ledger's last entry (strongly consistent), or undefined for a source never spent from. */
  last(ledger: string): Promise<LedgerEntry | undefined>;
  /** Appends `entry` unless its `seq` is taken (false: another spender got there first). */
  append(entry: LedgerEntry): Promise<boolean>;
  /** Entries in `seq` order, from `afterSeq` (exclusive). */
  entries(ledger: string, options?: { afterSeq?: number; limit?: number }): Promise<Page<LedgerEntry>>;
}
