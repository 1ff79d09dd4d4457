import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ConflictError, NotFoundError } from '../../kernel/errors.ts';
import type { ApprovalDecision, ApprovalRequest, ApprovalStore } from '../../ports/approval-store.ts';

const PK = 'approval';

/** {@link ApprovalStore} on the registry table: partition `approval`, one item per execution. */
export class DynamoApprovalStore implements ApprovalStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(doc: DynamoDBDocumentClient, table: string) {
    this.#doc = doc;
    this.#table = table;
  }

  async put(request: ApprovalRequest): Promise<void> {
    // Keyed by execution: a retried RequestApproval task replaces its own request with its new token.
    await this.#doc.send(
      new PutCommand({ TableName: this.#table, Item: { pk: PK, sk: request.execution, ...request } }),
    );
  }

  /** All requests, newest first; `pending` only by default. */
  async list(options: { readonly all?: boolean } = {}): Promise<ApprovalRequest[]> {
    const items: ApprovalRequest[] = [];
    const pages = paginateQuery(
      { client: this.#doc },
      {
        TableName: this.#table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': PK },
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) items.push(strip(item));
    return items
      .filter((r) => options.all || r.status === 'pending')
      .sort((a, b) => (a.requestedAt < b.requestedAt ? 1 : -1));
  }

  /** The request of an execution, by ARN or by execution name. */
  async find(execution: string): Promise<ApprovalRequest> {
    const exact = await this.#doc.send(
      new GetCommand({ TableName: this.#table, Key: { pk: PK, sk: execution } }),
    );
    if (exact.Item) return strip(exact.Item);
    const byName = (await this.list({ all: true })).filter((r) => r.execution.endsWith(`:${execution}`));
    if (byName.length === 1) return byName[0] as ApprovalRequest;
    if (byName.length > 1)
      throw new ConflictError(`${byName.length} executions are named ${execution}; give the execution ARN`);
    throw new NotFoundError(`no approval was requested for execution ${execution}`);
  }

  /** Marks a pending request decided; a second decision is a conflict. */
  async decide(execution: string, decision: ApprovalDecision): Promise<ApprovalRequest> {
    const request = await this.find(execution);
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: PK, sk: request.execution },
          UpdateExpression: 'SET #status = :status, decidedBy = :by, decidedAt = :at, reason = :reason',
          ConditionExpression: '#status = :pending',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':status': decision.decision,
            ':by': decision.actor,
            ':at': decision.at,
            ':reason': decision.reason,
            ':pending': 'pending',
          },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        const now = await this.find(request.execution);
        throw new ConflictError(
          `the approval of ${request.execution} was already decided: ${now.status} by ${now.decidedBy ?? 'unknown'}`,
        );
      }
      throw error;
    }
    return {
      ...request,
      status: decision.decision,
      decidedBy: decision.actor,
      decidedAt: decision.at,
      reason: decision.reason,
    };
  }
}

function strip(item: Record<string, unknown>): ApprovalRequest {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return rest as unknown as ApprovalRequest;
}
