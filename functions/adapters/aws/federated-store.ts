import { DeleteCommand, type DynamoDBDocumentClient, PutCommand, paginateQuery } from '@aws-sdk/lib-dynamodb';
import type { FederatedClient } from '../../contracts/federated.ts';
import type { FederatedStore, StoredFederatedTask } from '../../ports/federated-store.ts';

/**
 * {@link FederatedStore} on the registry table, one partition per model:
 *
 * | item   | pk                 | sk                              |
 * |--------|--------------------|---------------------------------|
 * | client | FEDERATED#{model}  | CLIENT#{client}                 |
 * | task   | FEDERATED#{model}  | TASK#{client}#{issuedAt}#{id}   |
 *
 * A task is taken with a conditional delete that returns it, so two answers to one task
 * complete it once.
 */
export class DynamoFederatedStore implements FederatedStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(doc: DynamoDBDocumentClient, table: string) {
    this.#doc = doc;
    this.#table = table;
  }

  async registerClient(client: FederatedClient): Promise<void> {
    await this.#doc.send(
      new PutCommand({
        TableName: this.#table,
        Item: { pk: pk(client.model), sk: `CLIENT#${client.client}`, ...client },
      }),
    );
  }

  async clients(model: string): Promise<FederatedClient[]> {
    return (await this.#query(model, 'CLIENT#')).map(
      ({ pk: _pk, sk: _sk, ...item }) => item as unknown as FederatedClient,
    );
  }

  async putTask(task: StoredFederatedTask): Promise<void> {
    await this.#doc.send(
      new PutCommand({ TableName: this.#table, Item: { pk: pk(task.model), sk: taskSk(task), ...task } }),
    );
  }

  async tasks(model: string, client: string): Promise<StoredFederatedTask[]> {
    return (await this.#query(model, `TASK#${client}#`)).map(
      ({ pk: _pk, sk: _sk, ...item }) => item as unknown as StoredFederatedTask,
    );
  }

  async takeTask(model: string, client: string, taskId: string): Promise<StoredFederatedTask | undefined> {
    const task = (await this.tasks(model, client)).find((t) => t.taskId === taskId);
    if (!task) return undefined;
    const deleted = await this.#doc
      .send(
        new DeleteCommand({
          TableName: this.#table,
          Key: { pk: pk(model), sk: taskSk(task) },
          ConditionExpression: 'attribute_exists(pk)',
          ReturnValues: 'ALL_OLD',
        }),
      )
      .catch((error: unknown) => {
        if ((error as { name?: string }).name === 'ConditionalCheckFailedException') return undefined;
        throw error;
      });
    return deleted?.Attributes ? task : undefined;
  }

  async #query(model: string, prefix: string): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    const pages = paginateQuery(
      { client: this.#doc },
      {
        TableName: this.#table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': pk(model), ':prefix': prefix },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) items.push(...(page.Items ?? []));
    return items;
  }
}

const pk = (model: string) => `FEDERATED#${model}`;
const taskSk = (task: StoredFederatedTask) => `TASK#${task.client}#${task.issuedAt}#${task.taskId}`;
