/**
 * The retraining pipeline's Lambda handlers: thin middy pipelines around the steps, with their
 * dependencies from the composition root (SDK clients from the environment, control-plane
 * ports: EventBridge, CloudWatch, CodeDeploy in AWS; the local runtime's in `keel up`).
 * The same handlers run as Lambda functions and in the local runtime.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { z } from 'zod';
import { callerOf, readJsonBody, routeTable } from '../commons/http.ts';
import { keelHandler } from '../commons/middleware.ts';
import { ports } from '../composition/aws.ts';
import { lineageOf, privacyLedgerOf, registryOf } from '../composition/services.ts';
import { inferenceFunctionName } from '../contracts/inference.ts';
import { ValidationError } from '../kernel/errors.ts';
import type { DataPorts, Ports } from '../ports/index.ts';
import { decideApproval } from './approvals.ts';
import { collectSageMakerModel } from './sagemaker.ts';
import {
  auditData,
  checkRollout,
  evaluateCandidate,
  mitigateCandidate,
  notify,
  prepareData,
  type RetrainingDependencies,
  type RetrainingState,
  recordFailure,
  recordRejection,
  registerApproved,
  requestApproval,
  startRollout,
  trainCandidates,
} from './steps.ts';

export function retrainingDependencies(project: string): RetrainingDependencies {
  const p = ports();
  return {
    registry: registryOf(p),
    ledger: privacyLedgerOf(p),
    lineage: lineageOf(p),
    captured: p.captureReader,
    readObject: p.objectReader,
    deployer: p.deployer,
    eventBus: p.eventBus,
    metrics: p.metricsSink,
    approvals: p.approvalStore,
    functionName: (model) => inferenceFunctionName(project, model),
  };
}

function step<R>(fn: (state: RetrainingState, deps: RetrainingDependencies) => Promise<R>) {
  return keelHandler(async (state: RetrainingState) =>
    fn(state, retrainingDependencies(state.settings.project)),
  );
}

export const prepareDataHandler = step(prepareData);
export const auditDataHandler = step(auditData);
export const trainHandler = step(trainCandidates);
export const collectSageMakerModelHandler = step(collectSageMakerModel);
export const evaluateHandler = step(evaluateCandidate);
export const mitigateHandler = step(mitigateCandidate);
export const recordRejectionHandler = step(recordRejection);
export const registerHandler = step(registerApproved);
export const startRolloutHandler = step(startRollout);
export const checkRolloutHandler = step(checkRollout);
export const notifyHandler = step(notify);
export const recordFailureHandler = step(recordFailure);
export const requestApprovalHandler = keelHandler(async (payload: Parameters<typeof requestApproval>[0]) =>
  requestApproval(payload, retrainingDependencies(payload.settings.project)),
);

const decisionSchema = z.object({
  approve: z.boolean(),
  reason: z.string().trim().min(1, 'say why; it goes into the audit log'),
  /** Only when the API has no authenticated caller (the local runtime). */
  actor: z.string().trim().min(1).optional(),
});

type Answer = { statusCode: number; headers: Record<string, string>; body: string };
const ok = (body: unknown): Answer => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

const approvalRoutes = routeTable<Pick<Ports & DataPorts, 'approvalStore' | 'pipelineRunner'>, Answer>({
  '/v1/approvals': {
    GET: async (_, p) => {
      const pending = await p.approvalStore.list();
      return ok({ approvals: pending.map(({ taskToken: _token, ...rest }) => rest) });
    },
  },
  '/v1/approvals/{execution}': {
    POST: async (event, p) => {
      const parsed = decisionSchema.safeParse(await readJsonBody(event, 64 * 1024));
      if (!parsed.success) throw ValidationError.fromZod('The decision is invalid', parsed.error);
      const actor = callerOf(event) ?? parsed.data.actor;
      if (!actor)
        throw new ValidationError('Who decides?', [
          { path: 'actor', message: 'no authenticated caller and no actor given' },
        ]);
      const decided = await decideApproval(
        { approvals: p.approvalStore, pipelines: p.pipelineRunner },
        {
          execution: decodeURIComponent(event.pathParameters?.execution ?? ''),
          approve: parsed.data.approve,
          actor,
          reason: parsed.data.reason,
        },
      );
      const { taskToken: _token, ...rest } = decided;
      return ok(rest);
    },
  },
});

/**
 * `GET /v1/approvals` (pending requests) and `POST /v1/approvals/{execution}` with
 * `{approve, reason}`. Who decides is the authenticated caller; a body `actor` is only taken
 * where the API has no authorizer.
 */
export const approvalApiHandler = keelHandler(
  async (event: APIGatewayProxyEventV2) => approvalRoutes(event, ports()),
  { http: true },
);
