/** The GBDT reference model registered as `credit`, approved and on the given aliases: what the serving benchmarks serve. */
import type { LineageStore } from '../functions/lineage/store.ts';
import type { ModelRegistry } from '../functions/registry/registry.ts';
import { referenceModels } from '../test/support/onnx-reference.ts';
import { sampleMetadata } from '../test/support/registry-fixtures.ts';

export async function registerReferenceGbdt(
  registry: ModelRegistry,
  lineage: LineageStore,
  aliases: readonly string[] = ['production'],
): Promise<{ version: number; bytes: Uint8Array }> {
  const reference = referenceModels();
  const gbdt = reference.models.find((m) => m.name === 'gbdt');
  if (!gbdt) throw new Error('no gbdt reference model');
  const artifact = await lineage.putBytes('models', gbdt.bytes);
  const who = { actor: 'bench', reason: 'bench' };
  const { version } = await registry.registerVersion(
    'credit',
    sampleMetadata(1, {
      artifact: { sha256: artifact.sha256, uri: artifact.uri, sizeBytes: artifact.sizeBytes },
      inputSchema: reference.pipeline.inputs.map((i) => ({
        name: i.name,
        type: i.type === 'numeric' ? 'number' : 'string',
        nullable: true,
        pii: false,
      })),
    }),
    { actor: 'bench' },
  );
  await registry.approve('credit', version, who);
  for (const alias of aliases) {
    const current = (await registry.aliasesOrNone('credit'))[alias] ?? null;
    await registry.moveAlias('credit', alias, { to: version, expected: current }, who);
  }
  return { version, bytes: gbdt.bytes };
}
