import type { LedgerEntry } from '../../functions/contracts/privacy.ts';
import type { LedgerStore } from '../../functions/ports/ledger-store.ts';
import type { Page } from '../../functions/ports/registry-store.ts';

/** An in-memory {@link LedgerStore} with the DynamoDB one's conditional append; values are copied in and out. */
export class MemoryLedgerStore implements LedgerStore {
  readonly logs = new Map<string, LedgerEntry[]>();

  async last(ledger: string) {
    const last = this.logs.get(ledger)?.at(-1);
    return last === undefined ? undefined : structuredClone(last);
  }

  async append(entry: LedgerEntry) {
    const log = this.logs.get(entry.ledger) ?? [];
    if (log.some((e) => e.seq === entry.seq)) return false;
    log.push(structuredClone(entry));
    log.sort((a, b) => a.seq - b.seq);
    this.logs.set(entry.ledger, log);
    return true;
  }

  async entries(
    ledger: string,
    options: { afterSeq?: number; limit?: number } = {},
  ): Promise<Page<LedgerEntry>> {
    const all = (this.logs.get(ledger) ?? []).filter((e) => e.seq > (options.afterSeq ?? 0));
    const items = structuredClone(all.slice(0, options.limit ?? all.length));
    const last = items.at(-1);
    return { items, ...(items.length < all.length && last ? { cursor: String(last.seq) } : {}) };
  }
}
