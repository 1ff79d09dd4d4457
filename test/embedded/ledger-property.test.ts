import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoLedgerStore } from '../../functions/adapters/aws/ledger-store.ts';
import { documentClient } from '../../functions/commons/clients.ts';
import { PrivacyBudgetExceededError, PrivacyLedger } from '../../functions/registry/ledger.ts';
import { ensureTable } from '../../local/provision.ts';
import { checkSpends, spendArbitrary } from '../support/ledger-property.ts';

const table = `ledger-prop-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  await ensureTable(table);
});

describe('PrivacyLedger on DynamoDB', () => {
  it('keeps its rule for any sequence of spends (property)', async () => {
    const ledger = new PrivacyLedger({ store: new DynamoLedgerStore(documentClient(), table) });
    await fc.assert(
      fc.asyncProperty(fc.array(spendArbitrary, { maxLength: 15 }), async (ops) => {
        await checkSpends(ledger, `s3://data/${randomUUID().slice(0, 8)}/`, ops);
      }),
      { numRuns: 15 },
    );
  }, 120_000);

  it('grants racing spends no more than the budget carries, and pages its log', async () => {
    // Prepare: three ε = 0.4 releases fit in ε = 1.25 by basic composition
    const ledger = new PrivacyLedger({ store: new DynamoLedgerStore(documentClient(), table) });
    const name = `synthetic:credit?seed=${randomUUID().slice(0, 8)}`;
    const request = {
      mechanism: { kind: 'pure' as const, epsilon: 0.4, count: 1 },
      budget: { epsilon: 1.25, delta: 1e-5 },
      purpose: { kind: 'monitoring' },
    };
    // Act
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        ledger.spend(name, request, { actor: `worker-${i}`, reason: 'race' }),
      ),
    );
    // Assess
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(
      results.every((r) => r.status === 'fulfilled' || r.reason instanceof PrivacyBudgetExceededError),
    ).toBe(true);
    const first = await ledger.entries(name, { limit: 5 });
    const rest = await ledger.entries(name, { cursor: first.cursor ?? '' });
    expect([...first.items, ...rest.items].map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect((await ledger.balance(name, request.budget)).epsilon).toBeCloseTo(1.2, 9);
  }, 60_000);
});
