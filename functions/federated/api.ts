/**
 * The federated client API, `/v1/federated/{model}/...` (IAM-authorised in AWS; each client
 * speaks as the role it was registered with):
 *
 * - `POST /clients` `{client, principal?}` registers a client (an operator's call);
 *   `GET /clients` lists them.
 * - `GET /tasks?client=ID` is what the client is asked now; `POST /tasks/{id}` `{client, output}`
 *   answers (the output is checked for its step before it reaches the state machine);
 *   `POST /tasks/{id}/heartbeat` `{client}` keeps a long step alive.
 * - `POST /sessions` `{rounds?, reason?}` starts a federated run.
 *
 * An answer after its step closed (the client was cut off) is a 409, and changes nothing.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { z } from 'zod';
import { callerOf, readJsonBody, routeTable } from '../commons/http.ts';
import {
  clientIdSchema,
  type FederatedPhase,
  type FederatedTask,
  federatedPipelineName,
} from '../contracts/federated.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../kernel/errors.ts';
import type { FederatedStore, PipelineRunner } from '../ports/index.ts';

export interface FederatedApiDependencies {
  readonly project: string;
  /** The models that train federated. */
  readonly models: readonly string[];
  readonly store: FederatedStore;
  readonly pipelines: Pick<PipelineRunner, 'start' | 'sendTaskSuccess' | 'sendTaskHeartbeat'>;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

const b64 = z.string().regex(/^[A-Za-z0-9_-]+$/, 'base64url');
const keysSchema = z.object({ client: clientIdSchema, cPk: b64, sPk: b64 });
const sharedSchema = z.object({
  client: clientIdSchema,
  commitment: b64,
  shares: z.array(z.object({ from: clientIdSchema, to: clientIdSchema, ciphertext: b64 })).max(10_000),
});
const sharesSchema = z.object({
  client: clientIdSchema,
  selfMask: z.record(clientIdSchema, b64),
  maskKey: z.record(clientIdSchema, b64),
});
const cost = {
  bytes: z.object({ sent: z.number().nonnegative(), received: z.number().nonnegative() }).optional(),
  ms: z.number().nonnegative().optional(),
};

/** What each step's answer must hold. */
const OUTPUTS: Readonly<Record<FederatedPhase, z.ZodType>> = {
  advertise: z.object({ keys: keysSchema, ...cost }),
  share: z.object({ shared: sharedSchema, ...cost }),
  train: z.object({ uploaded: z.literal(true), ...cost }),
  unmask: z.object({ shares: sharesSchema, ...cost }),
};

const answerSchema = z.object({ client: clientIdSchema, output: z.record(z.string(), z.unknown()) });
const heartbeatSchema = z.object({ client: clientIdSchema });
const registerSchema = z.object({
  client: clientIdSchema,
  principal: z
    .string()
    .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/, 'an IAM role ARN')
    .optional(),
});
const sessionSchema = z.object({
  rounds: z.number().int().min(1).max(1000).optional(),
  reason: z.string().min(1).max(1024).optional(),
});

/** `arn:aws:sts::ACCOUNT:assumed-role/NAME/...` speaks for `arn:aws:iam::ACCOUNT:role/[path/]NAME`. */
export function principalMatches(registered: string, caller: string): boolean {
  if (registered === caller) return true;
  const assumed = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\//.exec(caller);
  const role = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(registered);
  return Boolean(
    assumed && role && assumed[1] === role[1] && assumed[2] === role[2] && assumed[3] === role[3],
  );
}

async function body<T>(event: APIGatewayProxyEventV2, schema: z.ZodType<T>): Promise<T> {
  const parsed = schema.safeParse(await readJsonBody(event, 1024 * 1024));
  if (!parsed.success) throw ValidationError.fromZod('The request is invalid', parsed.error);
  return parsed.data;
}

const json = (statusCode: number, value: unknown) => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(value),
});

function modelOf(event: APIGatewayProxyEventV2, deps: FederatedApiDependencies): string {
  const model = event.pathParameters?.model ?? '';
  if (!deps.models.includes(model)) throw new NotFoundError(`no federated model named ${model}`);
  return model;
}

/** The client a request speaks for, checked against its registered principal when there is a caller. */
async function speaker(
  event: APIGatewayProxyEventV2,
  deps: FederatedApiDependencies,
  model: string,
  client: string,
) {
  const registered = (await deps.store.clients(model)).find((c) => c.client === client);
  if (!registered) throw new NotFoundError(`${client} is not a registered client of ${model}`);
  const caller = callerOf(event);
  if (
    caller !== undefined &&
    registered.principal !== undefined &&
    !principalMatches(registered.principal, caller)
  )
    throw new ForbiddenError(`${caller} does not speak for ${client}`);
  return registered;
}

const publicTask = ({ taskToken: _token, ...task }: FederatedTask & { taskToken?: string }): FederatedTask =>
  task;

export const federatedRoutes = routeTable<FederatedApiDependencies, ReturnType<typeof json>>({
  '/v1/federated/{model}/clients': {
    GET: async (event, deps) => json(200, { clients: await deps.store.clients(modelOf(event, deps)) }),
    POST: async (event, deps) => {
      const model = modelOf(event, deps);
      const request = await body(event, registerSchema);
      // Behind an authorizer (AWS), a client without a role would be anyone the API lets in.
      if (callerOf(event) !== undefined && request.principal === undefined)
        throw new ValidationError('Who speaks for the client?', [
          { path: 'principal', message: 'give the IAM role ARN the client answers as' },
        ]);
      const record = {
        model,
        client: request.client,
        ...(request.principal ? { principal: request.principal } : {}),
        registeredAt: (deps.now ?? (() => new Date()))().toISOString(),
        registeredBy: callerOf(event) ?? 'local',
      };
      await deps.store.registerClient(record);
      return json(201, record);
    },
  },
  '/v1/federated/{model}/tasks': {
    GET: async (event, deps) => {
      const model = modelOf(event, deps);
      const client = clientIdSchema.safeParse(
        new URLSearchParams(event.rawQueryString ?? '').get('client') ?? '',
      );
      if (!client.success) throw ValidationError.fromZod('Which client?', client.error, { prefix: 'client' });
      await speaker(event, deps, model, client.data);
      const at = (deps.now ?? (() => new Date()))().toISOString();
      const tasks = (await deps.store.tasks(model, client.data)).filter((t) => t.expiresAt > at);
      return json(200, { tasks: tasks.map(publicTask) });
    },
  },
  '/v1/federated/{model}/tasks/{taskId}': {
    POST: async (event, deps) => {
      const model = modelOf(event, deps);
      const { client, output } = await body(event, answerSchema);
      await speaker(event, deps, model, client);
      const taskId = event.pathParameters?.taskId ?? '';
      const pending = (await deps.store.tasks(model, client)).find((t) => t.taskId === taskId);
      if (!pending)
        throw new ConflictError(
          `task ${taskId} of ${client} is not open: answered already, or its step closed`,
        );
      const checked = OUTPUTS[pending.phase].safeParse(output);
      if (!checked.success)
        throw ValidationError.fromZod(`Not an answer to ${pending.phase}`, checked.error, {
          prefix: 'output',
        });
      const own = (checked.data as Record<string, { client?: string }>)[
        pending.phase === 'advertise' ? 'keys' : pending.phase === 'share' ? 'shared' : 'shares'
      ];
      if (own?.client !== undefined && own.client !== client)
        throw new ValidationError('The answer speaks for another client', [
          { path: 'output', message: `${own.client} ≠ ${client}` },
        ]);
      const task = await deps.store.takeTask(model, client, taskId);
      if (!task) throw new ConflictError(`task ${taskId} was answered already`);
      // The token may have closed meanwhile (heartbeat timeout): the adapter says so with a 409.
      await deps.pipelines.sendTaskSuccess(task.taskToken, {
        ...(checked.data as object),
        client,
        phase: task.phase,
      });
      return json(200, { accepted: true, phase: task.phase, round: task.round });
    },
  },
  '/v1/federated/{model}/tasks/{taskId}/heartbeat': {
    POST: async (event, deps) => {
      const model = modelOf(event, deps);
      const { client } = await body(event, heartbeatSchema);
      await speaker(event, deps, model, client);
      const task = (await deps.store.tasks(model, client)).find(
        (t) => t.taskId === event.pathParameters?.taskId,
      );
      if (!task) throw new ConflictError('the task is not open');
      await deps.pipelines.sendTaskHeartbeat(task.taskToken);
      return json(200, { ok: true });
    },
  },
  '/v1/federated/{model}/sessions': {
    POST: async (event, deps) => {
      const model = modelOf(event, deps);
      const request = await body(event, sessionSchema);
      const started = await deps.pipelines.start(federatedPipelineName(deps.project, model), {
        ...request,
        ...(callerOf(event) ? { requestedBy: callerOf(event) } : {}),
      });
      return json(202, started);
    },
  },
});
