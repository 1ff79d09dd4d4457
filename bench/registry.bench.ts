/**
 * Registry operations per second on the embedded emulator (dynalite), each against the raw
 * DynamoDB call it is built on, in the same run. The ratio is the registry's own overhead:
 * reading the log head, the conditional append, projections.
 */
import { randomUUID } from 'node:crypto';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoRegistryStore } from '../functions/adapters/aws/registry-store.ts';
import { documentClient, resetClients } from '../functions/commons/clients.ts';
import { ModelRegistry } from '../functions/registry/registry.ts';
import { EmbeddedAws } from '../local/embedded-aws.ts';
import { ensureTable } from '../local/provision.ts';
import { sampleMetadata } from '../test/support/registry-fixtures.ts';
import { type Comparison, compare } from './harness.ts';

export async function run(): Promise<Comparison[]> {
  const aws = await EmbeddedAws.start();
  const saved = { ...process.env };
  Object.assign(process.env, aws.env());
  resetClients();
  try {
    const table = 'bench-registry';
    await ensureTable(table);
    const registry = new ModelRegistry({ store: new DynamoRegistryStore(documentClient(), table) });
    const who = { actor: 'bench', reason: 'benchmark' };
    const metadata = sampleMetadata(1);
    let n = 0;

    // Seed a model with an approved production version and a candidate to flip to.
    await registry.registerVersion('served', metadata, who);
    await registry.registerVersion('served', sampleMetadata(2), who);
    await registry.approve('served', 1, who);
    await registry.approve('served', 2, who);
    await registry.moveAlias('served', 'production', { to: 1, expected: null }, who);
    let production = 1;

    const results: Comparison[] = [];
    results.push(
      await compare({
        suite: 'registry (dynalite)',
        baseline: {
          name: 'raw PutItem of the metadata',
          fn: () =>
            documentClient().send(
              new PutCommand({ TableName: table, Item: { pk: `raw#${n++}`, sk: 'x', metadata } }),
            ),
        },
        subject: { name: 'registerVersion', fn: () => registry.registerVersion('bench', metadata, who) },
      }),
    );
    results.push(
      await compare({
        suite: 'registry (dynalite)',
        baseline: {
          name: 'raw GetItem',
          fn: () =>
            documentClient().send(new GetCommand({ TableName: table, Key: { pk: 'raw#0', sk: 'x' } })),
        },
        subject: { name: "get('production')", fn: () => registry.get('served', 'production') },
      }),
    );
    results.push(
      await compare({
        suite: 'registry (dynalite)',
        baseline: {
          name: 'raw conditional UpdateItem',
          fn: () =>
            documentClient().send(
              new UpdateCommand({
                TableName: table,
                Key: { pk: 'raw#alias', sk: 'x' },
                UpdateExpression: 'SET v = :v',
                ExpressionAttributeValues: { ':v': n++ },
              }),
            ),
        },
        subject: {
          name: 'moveAlias (production)',
          fn: async () => {
            const to = production === 1 ? 2 : 1;
            await registry.moveAlias('served', 'production', { to, expected: production }, who);
            production = to;
          },
        },
      }),
    );

    // Contention: 100 registrations at once against the same 100 one after another.
    const timed = async (fn: () => Promise<unknown>) => {
      const start = performance.now();
      await fn();
      return performance.now() - start;
    };
    const sequential = await timed(async () => {
      for (let i = 0; i < 100; i++)
        await registry.registerVersion(`seq-${randomUUID().slice(0, 4)}`, metadata, who);
    });
    const concurrent = await timed(() =>
      Promise.all(Array.from({ length: 100 }, () => registry.registerVersion('contended', metadata, who))),
    );
    results.push({
      suite: 'registry (dynalite)',
      subject: '100 concurrent registerVersion on one model (per op)',
      baseline: '100 sequential registerVersion (per op)',
      subjectMs: { mean: concurrent / 100, p50: Number.NaN, p99: Number.NaN },
      baselineMs: { mean: sequential / 100, p50: Number.NaN, p99: Number.NaN },
      ratio: concurrent / sequential,
      rme: { subject: Number.NaN, baseline: Number.NaN },
    });
    return results;
  } finally {
    resetClients();
    await aws.stop();
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }
}
