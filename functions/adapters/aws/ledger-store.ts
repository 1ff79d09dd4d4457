import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { LedgerEntry } from '../../contracts/privacy.ts';
import { IntegrityError, ValidationError } from '../../kernel/errors.ts';
import type { LedgerStore } from '../../ports/ledger-store.ts';
import type { Page } from '../../ports/registry-store.ts';

/**
 * {@link LedgerStore} in the registry's DynamoDB table, beside the models' logs: one partition
 * per data source, one item per entry, appended with a single-item conditional put.
 *
 * | item  | pk               | sk                |
 * |-------|------------------|-------------------|
 * | entry | LEDGER#{ledger}  | ENTRY#{seq:12}    |
 */
export class DynamoLedgerStore implements LedgerStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.#client = client;
    this.#table = tableName;
  }

  async last(ledger: string): Promise<LedgerEntry | undefined> {
    const result = await this.#client.send(
      new QueryCommand({
        TableName: this.#table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :entry)',
        ExpressionAttributeValues: { ':pk': pk(ledger), ':entry': 'ENTRY#' },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    const item = result.Items?.[0];
    return item === undefined ? undefined : toEntry(item);
  }

  async append(entry: LedgerEntry): Promise<boolean> {
    try {
      await this.#client.send(
        new PutCommand({
          TableName: this.#table,
          Item: { pk: pk(entry.ledger), sk: entrySk(entry.seq), entity: 'ledger-entry', ...entry },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async entries(
    ledger: string,
    options: { afterSeq?: number; limit?: number } = {},
  ): Promise<Page<LedgerEntry>> {
    const afterSeq = options.afterSeq ?? 0;
    if (!Number.isInteger(afterSeq) || afterSeq < 0)
      throw new ValidationError('Invalid page cursor', [{ path: 'cursor', message: `got "${afterSeq}"` }]);
    const result = await this.#client.send(
      new QueryCommand({
        TableName: this.#table,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: { ':pk': pk(ledger), ':from': entrySk(afterSeq + 1), ':to': 'ENTRY#~' },
        ConsistentRead: true,
        ...(options.limit ? { Limit: options.limit } : {}),
      }),
    );
    const items = (result.Items ?? []).map(toEntry);
    const last = items.at(-1);
    return { items, ...(result.LastEvaluatedKey && last ? { cursor: String(last.seq) } : {}) };
  }
}

const pk = (ledger: string) => `LEDGER#${ledger}`;
const entrySk = (seq: number) => `ENTRY#${String(seq).padStart(12, '0')}`;

function toEntry(item: Record<string, unknown>): LedgerEntry {
  const { pk: _pk, sk: _sk, entity: _entity, ...entry } = item;
  if (typeof entry.seq !== 'number' || typeof entry.type !== 'string' || typeof entry.state !== 'object')
    throw new IntegrityError(`Malformed ledger entry ${String(item.sk)} of ${String(item.pk)}`);
  return entry as unknown as LedgerEntry;
}
