/**
 * The local runtime's control API under `/_keel/`: what the CLI asks a running `keel up` for.
 * `POST /_keel/deploy`, `GET /_keel/deployments/{id}` (with `settled`), `POST /_keel/retrain`,
 * `GET /_keel/executions[?pipeline=…]`, `GET /_keel/executions/{id}` (description and steps so
 * far), `POST /_keel/monitor` (`{model, asOf?}`: the drift check once). On the same router and JSON
 * body parsing as the inference API. A caller's mistake (a malformed or invalid body, an
 * unknown model) is a 4xx naming it.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { z } from 'zod';
import { readJsonBody, routeTable } from '../functions/commons/http.ts';
import { toHttpError } from '../functions/commons/middleware.ts';
import type { KeelConfig } from '../functions/contracts/config/schema.ts';
import { retrainingPipelineName } from '../functions/contracts/retraining.ts';
import type { StartedDeployment } from '../functions/inference/deploy.ts';
import { NotFoundError, ValidationError } from '../functions/kernel/errors.ts';
import type { CheckSummary } from '../functions/monitoring/check.ts';
import type { DeploymentState } from '../functions/ports/index.ts';
import type { LocalPipelineRunner } from './adapters/pipeline-runner.ts';

/** What the control API drives: the local runtime (an interface, so the runtime can import this module). */
export interface ControlTarget {
  readonly config: KeelConfig;
  readonly pipelines: Pick<LocalPipelineRunner, 'start' | 'list' | 'describe' | 'history'>;
  readonly deployer: { getDeployment(id: string): Promise<DeploymentState> };
  deployModel(request: z.output<typeof deployBodySchema>): Promise<StartedDeployment>;
  runDriftCheck(model: string, request?: { readonly asOf?: string }): Promise<CheckSummary>;
  isSettled(deploymentId: string): boolean;
}

/** Control requests are small: a megabyte is plenty. */
const MAX_CONTROL_BODY_BYTES = 1024 * 1024;

const retrainBodySchema = z.strictObject({
  model: z.string().min(1),
  trigger: z
    .object({
      type: z.enum(['drift', 'schedule', 'manual', 'feature-review']),
      reason: z.string().optional(),
    })
    .optional(),
  requestedBy: z.string().min(1).optional(),
  asOf: z.iso.datetime({ offset: true }).optional(),
  source: z.string().min(1).optional(),
  without: z.array(z.string().min(1)).min(1).optional(),
});

const monitorBodySchema = z.strictObject({
  model: z.string().min(1),
  asOf: z.iso.datetime({ offset: true }).optional(),
});

const deployBodySchema = z.strictObject({
  model: z.string().min(1),
  version: z.number().int().positive(),
  rollback: z.boolean().optional(),
  shift: z.union([
    z.object({ type: z.literal('all-at-once') }),
    z.object({
      type: z.enum(['canary', 'linear']),
      percentage: z.number().gt(0).lt(100),
      intervalMinutes: z.number().int().positive(),
    }),
  ]),
  actor: z.string().min(1),
  reason: z.string().min(1),
});

async function bodyOf<T>(event: APIGatewayProxyEventV2, schema: z.ZodType<T>): Promise<T> {
  const parsed = schema.safeParse(await readJsonBody(event, MAX_CONTROL_BODY_BYTES));
  if (!parsed.success) throw ValidationError.fromZod('The request is invalid', parsed.error);
  return parsed.data;
}

type Answer = APIGatewayProxyStructuredResultV2;
const json = (statusCode: number, body: unknown): Answer => ({ statusCode, body: JSON.stringify(body) });

const route = routeTable<ControlTarget, Answer>({
  '/_keel/deploy': {
    POST: async (event, runtime) =>
      json(202, await runtime.deployModel(await bodyOf(event, deployBodySchema))),
  },
  '/_keel/retrain': {
    POST: async (event, runtime) => {
      const { model, ...request } = await bodyOf(event, retrainBodySchema);
      if (!runtime.config.models[model]) throw new NotFoundError(`no model named ${model}`);
      return json(
        202,
        await runtime.pipelines.start(retrainingPipelineName(runtime.config.project, model), request),
      );
    },
  },
  '/_keel/monitor': {
    POST: async (event, runtime) => {
      const { model, asOf } = await bodyOf(event, monitorBodySchema);
      return json(200, await runtime.runDriftCheck(model, asOf ? { asOf } : {}));
    },
  },
  '/_keel/executions': {
    GET: async (event, runtime) => {
      const pipeline = new URLSearchParams(event.rawQueryString).get('pipeline') ?? undefined;
      return json(200, await runtime.pipelines.list(pipeline));
    },
  },
  '/_keel/executions/{id}': {
    GET: async (event, runtime) => {
      const id = decodeURIComponent(event.pathParameters?.id ?? '');
      const [description, steps] = await Promise.all([
        runtime.pipelines.describe(id),
        runtime.pipelines.history(id),
      ]);
      return json(200, { description, steps });
    },
  },
  '/_keel/deployments/{id}': {
    GET: async (event, runtime) => {
      const id = event.pathParameters?.id ?? '';
      // `settled`: the outcome is in the registry too (production moved, or the rollback recorded).
      const state = await runtime.deployer.getDeployment(id);
      return json(200, { ...state, settled: runtime.isSettled(id) });
    },
  },
});

/** The control API of a runtime, as the local server's `admin` handler; never throws. */
export function controlApi(target: ControlTarget): (event: APIGatewayProxyEventV2) => Promise<Answer> {
  return async (event) => {
    try {
      return await route(event, target);
    } catch (error) {
      const { statusCode, body, headers } = toHttpError(error);
      return { statusCode, body: JSON.stringify(body), ...(headers ? { headers: { ...headers } } : {}) };
    }
  };
}
