import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ModelState, RegistryEvent, VersionStatus } from '../../contracts/registry.ts';
import { IntegrityError, ValidationError } from '../../kernel/errors.ts';
import type {
  LogHead,
  Page,
  RegistryStore,
  StoredEvaluation,
  StoredModel,
  StoredVersion,
} from '../../ports/registry-store.ts';

/**
 * {@link RegistryStore} on one DynamoDB table. It uses only single-item conditional writes
 * and strongly consistent queries, never transactions, so it behaves alike on DynamoDB,
 * dynalite, moto and LocalStack.
 *
 * | item        | pk            | sk                      | gsi1pk / gsi1sk   |
 * |-------------|---------------|-------------------------|-------------------|
 * | event       | MODEL#{model} | EVENT#{seq:12}          |                   |
 * | version     | MODEL#{model} | VERSION#{version:10}    |                   |
 * | evaluation  | MODEL#{model} | EVAL#{version:10}#{seq} |                   |
 * | head/model  | MODEL#{model} | MODEL                   | MODELS / {model}  |
 */
export class DynamoRegistryStore implements RegistryStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.#client = client;
    this.#table = tableName;
  }

  /**
   * Reads the head record (a hint), then walks forward event by event until no later event
   * exists. Every read is a strongly consistent GetItem: O(1) each, with no Query on the hot
   * path. A head left behind by a crash is advanced on the way.
   */
  async head(model: string): Promise<LogHead | undefined> {
    const hint = await this.#client.send(
      new GetCommand({
        TableName: this.#table,
        Key: { pk: pk(model), sk: HEAD_SK },
        ProjectionExpression: 'seq, #state',
        ExpressionAttributeNames: { '#state': 'state' },
        ConsistentRead: true,
      }),
    );
    let seq = typeof hint.Item?.seq === 'number' ? hint.Item.seq : 0;
    let state = hint.Item?.state as ModelState | undefined;
    let last: RegistryEvent | undefined;
    for (;;) {
      const next = await this.#client.send(
        new GetCommand({
          TableName: this.#table,
          Key: { pk: pk(model), sk: eventSk(seq + 1) },
          ConsistentRead: true,
        }),
      );
      if (next.Item === undefined) break;
      last = toEvent(next.Item);
      seq = last.seq;
      state = last.state;
    }
    if (seq === 0 || state === undefined) return undefined;
    if (last !== undefined) await this.#advanceHead(last);
    return { seq, state };
  }

  async appendEvent(event: RegistryEvent): Promise<boolean> {
    try {
      await this.#client.send(
        new PutCommand({
          TableName: this.#table,
          Item: { pk: pk(event.model), sk: eventSk(event.seq), entity: 'event', ...event },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
    // The event is committed. The head is only a hint that readers walk past, so failing to
    // advance it must not look like a failed append (the caller would append the change again).
    await this.#advanceHead(event).catch(() => undefined);
    return true;
  }

  /** Moves the head record (which is also the model summary) forward, never back. */
  async #advanceHead(event: RegistryEvent): Promise<void> {
    await this.#conditional(
      new UpdateCommand({
        TableName: this.#table,
        Key: { pk: pk(event.model), sk: HEAD_SK },
        UpdateExpression:
          'SET entity = :e, model = :m, seq = :seq, #state = :state, latestVersion = :lv, updatedAt = :at, createdAt = if_not_exists(createdAt, :at), gsi1pk = :g, gsi1sk = :m',
        ConditionExpression: 'attribute_not_exists(seq) OR seq < :seq',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: {
          ':e': 'model',
          ':m': event.model,
          ':seq': event.seq,
          ':state': event.state,
          ':lv': event.state.versionCount,
          ':at': event.at,
          ':g': 'MODELS',
        },
      }),
    );
  }

  async events(
    model: string,
    options: { afterSeq?: number; limit?: number } = {},
  ): Promise<Page<RegistryEvent>> {
    const result = await this.#client.send(
      new QueryCommand({
        TableName: this.#table,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: {
          ':pk': pk(model),
          ':from': eventSk((options.afterSeq ?? 0) + 1),
          ':to': 'EVENT#~',
        },
        ConsistentRead: true,
        ...(options.limit ? { Limit: options.limit } : {}),
      }),
    );
    const items = (result.Items ?? []).map(toEvent);
    const last = items.at(-1);
    return { items, ...(result.LastEvaluatedKey && last ? { cursor: String(last.seq) } : {}) };
  }

  async projectRegistration(version: StoredVersion, seq: number): Promise<void> {
    await this.#conditional(
      new UpdateCommand({
        TableName: this.#table,
        Key: { pk: pk(version.model), sk: versionSk(version.version) },
        UpdateExpression:
          'SET entity = :e, model = :m, version = :v, metadata = :md, registeredAt = :at, registeredBy = :by, registrationReason = :r, registrationSeq = :seq',
        ConditionExpression: 'attribute_not_exists(registrationSeq)',
        ExpressionAttributeValues: {
          ':e': 'version',
          ':m': version.model,
          ':v': version.version,
          ':md': version.metadata,
          ':at': version.registeredAt,
          ':by': version.registeredBy,
          ':r': version.registrationReason,
          ':seq': seq,
        },
      }),
    );
  }

  async projectStatus(
    model: string,
    version: number,
    status: VersionStatus,
    change: { actor: string; reason: string; at: string },
    seq: number,
  ): Promise<void> {
    await this.#conditional(
      new UpdateCommand({
        TableName: this.#table,
        Key: { pk: pk(model), sk: versionSk(version) },
        UpdateExpression:
          'SET #status = :s, statusReason = :r, statusAt = :at, statusBy = :by, statusSeq = :seq',
        ConditionExpression: 'attribute_not_exists(statusSeq) OR statusSeq < :seq',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':s': status,
          ':r': change.reason,
          ':at': change.at,
          ':by': change.actor,
          ':seq': seq,
        },
      }),
    );
  }

  async projectEvaluation(evaluation: StoredEvaluation): Promise<void> {
    await this.#conditional(
      new PutCommand({
        TableName: this.#table,
        Item: {
          pk: pk(evaluation.model),
          sk: `EVAL#${pad(evaluation.version, 10)}#${pad(evaluation.seq, 12)}`,
          entity: 'evaluation',
          ...evaluation,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async getVersion(model: string, version: number): Promise<StoredVersion | undefined> {
    const result = await this.#client.send(
      new GetCommand({
        TableName: this.#table,
        Key: { pk: pk(model), sk: versionSk(version) },
        ConsistentRead: true,
      }),
    );
    return result.Item?.registrationSeq === undefined ? undefined : toVersion(result.Item);
  }

  async listVersions(
    model: string,
    options: { limit?: number; cursor?: string } = {},
  ): Promise<Page<StoredVersion>> {
    const after = options.cursor === undefined ? 0 : cursorNumber(options.cursor);
    const input: QueryCommandInput = {
      TableName: this.#table,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
      ExpressionAttributeValues: { ':pk': pk(model), ':from': versionSk(after + 1), ':to': 'VERSION#~' },
      ConsistentRead: true,
      ...(options.limit ? { Limit: options.limit } : {}),
    };
    const result = await this.#client.send(new QueryCommand(input));
    const items = (result.Items ?? []).filter((i) => i.registrationSeq !== undefined).map(toVersion);
    const last = items.at(-1);
    return { items, ...(result.LastEvaluatedKey && last ? { cursor: String(last.version) } : {}) };
  }

  async evaluations(model: string, version: number): Promise<StoredEvaluation[]> {
    const items: StoredEvaluation[] = [];
    const pages = paginateQuery(
      { client: this.#client },
      {
        TableName: this.#table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': pk(model), ':prefix': `EVAL#${pad(version, 10)}#` },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        const { pk: _pk, sk: _sk, entity: _e, ...rest } = item;
        items.push(rest as StoredEvaluation);
      }
    }
    return items;
  }

  async listModels(options: { limit?: number; cursor?: string } = {}): Promise<Page<StoredModel>> {
    const result = await this.#client.send(
      new QueryCommand({
        TableName: this.#table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :g',
        ExpressionAttributeValues: { ':g': 'MODELS' },
        ...(options.limit ? { Limit: options.limit } : {}),
        ...(options.cursor
          ? {
              ExclusiveStartKey: {
                gsi1pk: 'MODELS',
                gsi1sk: options.cursor,
                pk: pk(options.cursor),
                sk: HEAD_SK,
              },
            }
          : {}),
      }),
    );
    const items = (result.Items ?? []).map(
      (i): StoredModel => ({
        model: String(i.model),
        latestVersion: Number(i.latestVersion),
        createdAt: String(i.createdAt),
        updatedAt: String(i.updatedAt),
        seq: Number(i.seq),
        state: i.state as ModelState,
      }),
    );
    const last = items.at(-1);
    return { items, ...(result.LastEvaluatedKey && last ? { cursor: last.model } : {}) };
  }

  /** A projection write that a newer one already superseded is not an error. */
  async #conditional(command: PutCommand | UpdateCommand): Promise<void> {
    try {
      await this.#client.send(command as never);
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');
const pk = (model: string) => `MODEL#${model}`;
/** The head record: end of the log and model summary in one item. */
const HEAD_SK = 'MODEL';
const eventSk = (seq: number) => `EVENT#${pad(seq, 12)}`;
const versionSk = (version: number) => `VERSION#${pad(version, 10)}`;

function cursorNumber(cursor: string): number {
  const n = Number(cursor);
  if (!Number.isInteger(n) || n < 0)
    throw new ValidationError('Invalid page cursor', [{ path: 'cursor', message: `got "${cursor}"` }]);
  return n;
}

function toEvent(item: Record<string, unknown>): RegistryEvent {
  const { pk: _pk, sk: _sk, entity: _entity, ...event } = item;
  if (typeof event.seq !== 'number' || typeof event.type !== 'string' || typeof event.state !== 'object') {
    throw new IntegrityError(`Malformed registry event ${String(item.sk)} of ${String(item.pk)}`);
  }
  return event as unknown as RegistryEvent;
}

function toVersion(item: Record<string, unknown>): StoredVersion {
  return {
    model: String(item.model),
    version: Number(item.version),
    metadata: item.metadata,
    registeredAt: String(item.registeredAt),
    registeredBy: String(item.registeredBy),
    registrationReason: String(item.registrationReason ?? ''),
    ...(item.status !== undefined
      ? {
          status: item.status as VersionStatus,
          statusReason: String(item.statusReason ?? ''),
          statusAt: String(item.statusAt ?? ''),
          statusBy: String(item.statusBy ?? ''),
        }
      : {}),
  };
}
