import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import type { FederatedClient } from '../../../functions/contracts/federated.ts';
import {
  type FederatedApiDependencies,
  federatedRoutes,
  principalMatches,
} from '../../../functions/federated/api.ts';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  TaskClosedError,
  ValidationError,
} from '../../../functions/kernel/errors.ts';
import type { FederatedStore, StoredFederatedTask } from '../../../functions/ports/federated-store.ts';

/** An in-memory store with the DynamoDB one's take-once semantics. */
function memoryStore(): FederatedStore & { tasksById: Map<string, StoredFederatedTask> } {
  const clients = new Map<string, FederatedClient>();
  const tasksById = new Map<string, StoredFederatedTask>();
  return {
    tasksById,
    registerClient: async (c) => void clients.set(`${c.model}/${c.client}`, c),
    clients: async (model) => [...clients.values()].filter((c) => c.model === model),
    putTask: async (t) => void tasksById.set(t.taskId, t),
    tasks: async (model, client) =>
      [...tasksById.values()].filter((t) => t.model === model && t.client === client),
    takeTask: async (_model, _client, id) => {
      const task = tasksById.get(id);
      tasksById.delete(id);
      return task;
    },
  };
}

const now = () => new Date('2026-12-06T12:00:00Z');
const sent: { token: string; output: unknown }[] = [];
let closed = false;
const deps = (
  store = memoryStore(),
): FederatedApiDependencies & { store: ReturnType<typeof memoryStore> } => ({
  project: 'keel',
  models: ['credit'],
  store,
  now,
  pipelines: {
    start: async () => ({ executionId: 'exec-1' }),
    sendTaskSuccess: async (token, output) => {
      if (closed) throw new TaskClosedError('the task is closed: timed out');
      sent.push({ token, output });
    },
    sendTaskHeartbeat: async () => undefined,
  },
});

function event(method: string, path: string, body?: unknown, caller?: string): APIGatewayProxyEventV2 {
  const [rawPath, rawQueryString = ''] = path.split('?');
  return {
    version: '2.0',
    rawPath,
    rawQueryString,
    body: body === undefined ? undefined : JSON.stringify(body),
    requestContext: {
      http: { method, path: rawPath },
      ...(caller ? { authorizer: { iam: { userArn: caller } } } : {}),
    },
  } as unknown as APIGatewayProxyEventV2;
}

const task = (over: Partial<StoredFederatedTask> = {}): StoredFederatedTask => ({
  model: 'credit',
  client: 'bank-a',
  taskId: 't1',
  taskToken: 'token-1',
  phase: 'advertise',
  round: 1,
  session: 's',
  payload: {},
  issuedAt: '2026-12-06T11:59:00Z',
  expiresAt: '2026-12-06T12:10:00Z',
  ...over,
});

const keys = { client: 'bank-a', cPk: 'AAAA', sPk: 'BBBB' };

afterEach(() => {
  sent.length = 0;
  closed = false;
});

describe('federated client API', () => {
  it('registers a client, lists its open tasks without their tokens, and passes a checked answer on', async () => {
    // Prepare
    const d = deps();
    const registered = await federatedRoutes(
      event('POST', '/v1/federated/credit/clients', { client: 'bank-a' }),
      d,
    );
    expect(registered.statusCode).toBe(201);
    await d.store.putTask(task());
    await d.store.putTask(task({ taskId: 'old', expiresAt: '2026-12-06T11:00:00Z' }));
    // Act
    const listed = JSON.parse(
      (await federatedRoutes(event('GET', '/v1/federated/credit/tasks?client=bank-a'), d)).body,
    );
    const answered = await federatedRoutes(
      event('POST', '/v1/federated/credit/tasks/t1', {
        client: 'bank-a',
        output: { keys, bytes: { sent: 1, received: 2 } },
      }),
      d,
    );
    // Assess
    expect(listed.tasks.map((t: { taskId: string }) => t.taskId)).toEqual(['t1']);
    expect(JSON.stringify(listed)).not.toContain('token-1');
    expect(answered.statusCode).toBe(200);
    expect(sent).toEqual([
      {
        token: 'token-1',
        output: { keys, bytes: { sent: 1, received: 2 }, client: 'bank-a', phase: 'advertise' },
      },
    ]);
  });

  it.each([
    [
      'an answer that is not its step’s',
      { client: 'bank-a', output: { shared: {} } },
      ValidationError,
      /output\.keys/,
    ],
    [
      'an answer for another client',
      { client: 'bank-a', output: { keys: { ...keys, client: 'bank-b' } } },
      ValidationError,
      /another client/,
    ],
    [
      'an unregistered client',
      { client: 'bank-z', output: { keys } },
      NotFoundError,
      /not a registered client/,
    ],
  ])('refuses %s, and the task stays open', async (_, body, type, message) => {
    const d = deps();
    await d.store.registerClient({ model: 'credit', client: 'bank-a', registeredAt: 'x', registeredBy: 'y' });
    await d.store.putTask(task());
    const act = federatedRoutes(event('POST', '/v1/federated/credit/tasks/t1', body), d);
    await expect(act).rejects.toBeInstanceOf(type);
    await expect(act).rejects.toThrow(message);
    expect(d.store.tasksById.has('t1')).toBe(true);
    expect(sent).toEqual([]);
  });

  it('answers 409 to a second answer, and to one after the step closed', async () => {
    const d = deps();
    await d.store.registerClient({ model: 'credit', client: 'bank-a', registeredAt: 'x', registeredBy: 'y' });
    await d.store.putTask(task());
    const answer = () =>
      federatedRoutes(
        event('POST', '/v1/federated/credit/tasks/t1', { client: 'bank-a', output: { keys } }),
        d,
      );
    await answer();
    await expect(answer()).rejects.toBeInstanceOf(ConflictError);
    await d.store.putTask(task({ taskId: 't2', taskToken: 'token-2' }));
    closed = true;
    const late = federatedRoutes(
      event('POST', '/v1/federated/credit/tasks/t2', { client: 'bank-a', output: { keys } }),
      d,
    );
    await expect(late).rejects.toBeInstanceOf(TaskClosedError);
    await expect(late).rejects.toMatchObject({ status: 409 });
  });

  it('lets only the registered role speak for a client', async () => {
    const d = deps();
    await d.store.registerClient({
      model: 'credit',
      client: 'bank-a',
      principal: 'arn:aws:iam::123456789012:role/keel-client-bank-a',
      registeredAt: 'x',
      registeredBy: 'y',
    });
    const as = (caller: string) =>
      federatedRoutes(event('GET', '/v1/federated/credit/tasks?client=bank-a', undefined, caller), d);
    await expect(
      as('arn:aws:sts::123456789012:assumed-role/keel-client-bank-a/session-1'),
    ).resolves.toMatchObject({ statusCode: 200 });
    await expect(
      as('arn:aws:sts::123456789012:assumed-role/keel-client-bank-b/session-1'),
    ).rejects.toBeInstanceOf(ForbiddenError);
  });

  it('requires a role for a client registered behind an authorizer', async () => {
    const act = federatedRoutes(
      event(
        'POST',
        '/v1/federated/credit/clients',
        { client: 'bank-a' },
        'arn:aws:iam::123456789012:user/ops',
      ),
      deps(),
    );
    await expect(act).rejects.toThrow(/principal: give the IAM role ARN/);
  });

  it('names every bad field of a registration, and knows only federated models', async () => {
    const act = federatedRoutes(
      event('POST', '/v1/federated/credit/clients', { client: 'Bank A', principal: 'me' }),
      deps(),
    );
    await expect(act).rejects.toBeInstanceOf(ValidationError);
    await act.catch((e: ValidationError) =>
      expect(e.issues.map((i) => i.path).sort()).toEqual(['client', 'principal']),
    );
    await expect(federatedRoutes(event('GET', '/v1/federated/other/clients'), deps())).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });
});

describe('principalMatches', () => {
  it.each([
    ['arn:aws:iam::1:role/r', 'arn:aws:iam::1:role/r', true],
    ['arn:aws:iam::123456789012:role/path/to/r', 'arn:aws:sts::123456789012:assumed-role/r/s', true],
    ['arn:aws:iam::123456789012:role/r', 'arn:aws:sts::210987654321:assumed-role/r/s', false],
    ['arn:aws:iam::123456789012:role/r', 'arn:aws:sts::123456789012:assumed-role/rr/s', false],
  ])('%s ← %s: %s', (registered, caller, expected) => {
    expect(principalMatches(registered, caller)).toBe(expected);
  });
});
