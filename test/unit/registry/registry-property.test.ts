import fc from 'fast-check';
import { describe, it } from 'vitest';
import { ModelRegistry } from '../../../functions/registry/registry.ts';
import { MemoryRegistryStore } from '../../support/memory-registry-store.ts';
import { checkSequence, opArbitrary } from '../../support/registry-property.ts';

describe('ModelRegistry invariants (property)', () => {
  it('hold for any sequence of operations', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArbitrary, { maxLength: 40 }), async (ops) => {
        const registry = new ModelRegistry({ store: new MemoryRegistryStore() });
        await checkSequence(registry, 'credit', ops);
      }),
      { numRuns: 300 },
    );
  });
});
