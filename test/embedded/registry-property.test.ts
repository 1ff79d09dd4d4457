import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, it } from 'vitest';
import { DynamoRegistryStore } from '../../functions/adapters/aws/registry-store.ts';
import { documentClient } from '../../functions/commons/clients.ts';
import { ModelRegistry } from '../../functions/registry/registry.ts';
import { ensureTable } from '../../local/provision.ts';
import { checkSequence, opArbitrary } from '../support/registry-property.ts';

const table = `registry-prop-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  await ensureTable(table);
});

describe('ModelRegistry invariants on DynamoDB (property)', () => {
  it('hold for any sequence of operations', async () => {
    const registry = new ModelRegistry({ store: new DynamoRegistryStore(documentClient(), table) });
    await fc.assert(
      fc.asyncProperty(fc.array(opArbitrary, { maxLength: 25 }), async (ops) => {
        await checkSequence(registry, `prop-${randomUUID().slice(0, 8)}`, ops);
      }),
      { numRuns: 20 },
    );
  }, 120_000);
});
