import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { DynamoRegistryStore } from '../../../functions/adapters/aws/registry-store.ts';
import { IntegrityError } from '../../../functions/kernel/errors.ts';
import { ModelRegistry } from '../../../functions/registry/registry.ts';
import { INITIAL_STATE } from '../../../functions/registry/state.ts';
import { sampleMetadata } from '../../support/registry-fixtures.ts';

const dynamo = mockClient(DynamoDBDocumentClient);

afterEach(() => dynamo.reset());

function registry(maxAttempts = 5) {
  const client = DynamoDBDocumentClient.from(new DynamoDBClient({}));
  return new ModelRegistry({
    store: new DynamoRegistryStore(client, 'keel-registry'),
    maxAttempts,
    maxBackoffMs: 1,
  });
}

const throttled = () => new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} });
const conditionFailed = () => new ConditionalCheckFailedException({ message: 'taken', $metadata: {} });

describe('DynamoRegistryStore under the registry', () => {
  it('appends the first event with a conditional put at seq 1, advances the head and projects it', async () => {
    // Prepare: no head record and no event 1.
    dynamo.on(GetCommand).resolves({});
    dynamo.on(PutCommand).resolves({});
    dynamo.on(UpdateCommand).resolves({});

    // Act
    const result = await registry().registerVersion('credit', sampleMetadata(), { actor: 'ci' });

    // Assess
    expect(result).toEqual({ version: 1, replay: false });
    expect(dynamo).toHaveReceivedCommandWith(PutCommand, {
      TableName: 'keel-registry',
      ConditionExpression: 'attribute_not_exists(pk)',
      Item: expect.objectContaining({
        pk: 'MODEL#credit',
        sk: 'EVENT#000000000001',
        type: 'VersionRegistered',
        version: 1,
      }),
    });
    expect(dynamo).toHaveReceivedCommandWith(GetCommand, {
      Key: { pk: 'MODEL#credit', sk: 'MODEL' },
      ConsistentRead: true,
    });
    expect(dynamo).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { pk: 'MODEL#credit', sk: 'VERSION#0000000001' },
      ConditionExpression: 'attribute_not_exists(registrationSeq)',
    });
    expect(dynamo).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { pk: 'MODEL#credit', sk: 'MODEL' },
      ConditionExpression: 'attribute_not_exists(seq) OR seq < :seq',
    });
  });

  it('retries after losing the append race, at the next sequence number', async () => {
    // Prepare: the first read sees an empty log; another writer then takes seq 1.
    const other = {
      model: 'credit',
      seq: 1,
      type: 'VersionRegistered',
      version: 1,
      at: 'x',
      actor: 'o',
      reason: '',
      state: { ...INITIAL_STATE, versionCount: 1, statuses: 'c' },
    };
    let winnerWritten = false;
    dynamo
      .on(GetCommand)
      .callsFake((input: { Key: { sk: string } }) =>
        winnerWritten && input.Key.sk === 'EVENT#000000000001'
          ? { Item: { pk: 'MODEL#credit', sk: input.Key.sk, ...other } }
          : {},
      );
    dynamo
      .on(PutCommand)
      .callsFakeOnce(() => {
        winnerWritten = true;
        throw conditionFailed();
      })
      .resolves({});
    dynamo.on(UpdateCommand).resolves({});

    // Act
    const result = await registry().registerVersion('credit', sampleMetadata(), { actor: 'ci' });

    // Assess
    expect(result.version).toBe(2);
    const puts = dynamo.commandCalls(PutCommand).map((c) => c.args[0].input.Item?.sk);
    expect(puts).toEqual(['EVENT#000000000001', 'EVENT#000000000002']);
  });

  it('retries throttled reads and writes', async () => {
    dynamo.on(GetCommand).rejectsOnce(throttled()).resolves({});
    dynamo.on(PutCommand).rejectsOnce(throttled()).resolves({});
    dynamo.on(UpdateCommand).resolves({});
    await expect(registry().registerVersion('credit', sampleMetadata(), { actor: 'ci' })).resolves.toEqual({
      version: 1,
      replay: false,
    });
  });

  it('surfaces persistent throttling as the typed exception, having written nothing', async () => {
    dynamo.on(GetCommand).resolves({});
    dynamo.on(PutCommand).rejects(throttled());
    await expect(
      registry(3).registerVersion('credit', sampleMetadata(), { actor: 'ci' }),
    ).rejects.toBeInstanceOf(ProvisionedThroughputExceededException);
    expect(dynamo).not.toHaveReceivedCommand(UpdateCommand);
  });

  it('never appends twice when a projection is throttled after the commit', async () => {
    dynamo.on(GetCommand).resolves({});
    dynamo.on(PutCommand).resolves({});
    dynamo.on(UpdateCommand).rejects(throttled());
    await expect(
      registry().registerVersion('credit', sampleMetadata(), { actor: 'ci' }),
    ).rejects.toBeInstanceOf(ProvisionedThroughputExceededException);
    expect(dynamo).toHaveReceivedCommandTimes(PutCommand, 1);
  });

  it('gives up with VersionConflictError when every append loses', async () => {
    dynamo.on(GetCommand).resolves({});
    dynamo.on(PutCommand).rejects(conditionFailed());
    await expect(registry(3).registerVersion('credit', sampleMetadata(), { actor: 'ci' })).rejects.toThrow(
      'gave up after 3 attempts',
    );
  });

  it('treats a projection already superseded as done, not as an error', async () => {
    dynamo.on(GetCommand).resolves({});
    dynamo.on(PutCommand).resolves({});
    dynamo.on(UpdateCommand).rejects(conditionFailed());
    await expect(
      registry().registerVersion('credit', sampleMetadata(), { actor: 'ci' }),
    ).resolves.toMatchObject({
      version: 1,
    });
  });

  it('walks past a head record left behind and advances it', async () => {
    // Prepare: the head says seq 1, but event 2 exists (a writer crashed before advancing the head).
    const state2 = { ...INITIAL_STATE, versionCount: 2, statuses: 'cc' };
    dynamo.on(GetCommand).callsFake((input: { Key: { sk: string } }) => {
      if (input.Key.sk === 'MODEL')
        return { Item: { seq: 1, state: { ...INITIAL_STATE, versionCount: 1, statuses: 'c' } } };
      if (input.Key.sk === 'EVENT#000000000002') {
        return {
          Item: {
            pk: 'MODEL#credit',
            sk: input.Key.sk,
            model: 'credit',
            seq: 2,
            type: 'VersionRegistered',
            at: 't',
            state: state2,
          },
        };
      }
      return {};
    });
    dynamo.on(UpdateCommand).resolves({});

    // Act
    const state = await registry().state('credit');

    // Assess
    expect(state.versionCount).toBe(2);
    expect(dynamo).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { pk: 'MODEL#credit', sk: 'MODEL' },
      ExpressionAttributeValues: expect.objectContaining({ ':seq': 2 }),
    });
  });

  it('refuses a malformed event item as an integrity error', async () => {
    dynamo
      .on(GetCommand)
      .callsFake((input: { Key: { sk: string } }) =>
        input.Key.sk === 'EVENT#000000000001'
          ? { Item: { pk: 'MODEL#credit', sk: input.Key.sk, seq: 'one' } }
          : {},
      );
    await expect(registry().aliases('credit')).rejects.toBeInstanceOf(IntegrityError);
  });

  it('refuses a version item whose metadata is malformed', async () => {
    // Prepare
    const state = { ...INITIAL_STATE, versionCount: 1, statuses: 'a' };
    dynamo.on(GetCommand).callsFake((input: { Key: { sk: string } }) => {
      if (input.Key.sk === 'MODEL') return { Item: { seq: 2, state } };
      if (input.Key.sk === 'VERSION#0000000001') {
        return {
          Item: {
            model: 'credit',
            version: 1,
            registrationSeq: 1,
            registeredAt: 't',
            registeredBy: 'ci',
            metadata: { framework: 3 },
          },
        };
      }
      return {};
    });
    dynamo.on(QueryCommand).resolves({ Items: [] });

    // Act / Assess
    await expect(registry().get('credit', 1)).rejects.toThrow('no longer matches its schema');
  });
});
