/**
 * The retraining pipeline's Lambda handlers: thin middy pipelines around the steps, with their
 * dependencies from the composition root (SDK clients from the environment, control-plane
 * ports: EventBridge, CloudWatch, CodeDeploy in AWS; the local runtime's in `keel up`).
 * The same handlers run as Lambda functions and in the local runtime.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { z } from 'zod';
import { keelHandler } from '../commons/middleware.ts';
import { ports } from '../composition/aws.ts';
import { lineageOf, registryOf } from '../composition/services.ts';
import { inferenceFunctionName } from '../contracts/inference.ts';
import { NotFoundError, ValidationError } from '../kernel/errors.ts';
import { decideApproval } from './approvals.ts';
import { collectSageMakerModel } from './sagemaker.ts';
import {
  auditData,
  checkRollout,
  evaluateCandidate,
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

/** The authenticated caller: the IAM principal (SigV4) or the JWT subject. */
function callerOf(event: APIGatewayProxyEventV2): string | undefined {
  const authorizer = (event.requestContext as { authorizer?: Record<string, unknown> }).authorizer;
  const iam = authorizer?.iam as { userArn?: string } | undefined;
  const jwt = authorizer?.jwt as { claims?: Record<string, unknown> } | undefined;
  return (
    iam?.userArn ?? (jwt?.claims?.email as string | undefined) ?? (jwt?.claims?.sub as string | undefined)
  );
}

/**
 * `GET /v1/approvals` (pending requests) and `POST /v1/approvals/{execution}` with
 * `{approve, reason}`. Who decides is the authenticated caller; a body `actor` is only taken
 * where the API has no authorizer.
 */
export const approvalApiHandler = keelHandler(
  async (event: APIGatewayProxyEventV2) => {
    const approvals = ports().approvalStore;
    const method = event.requestContext.http.method;
    const path = event.rawPath.replace(/\/+$/, '');
    if (method === 'GET' && path === '/v1/approvals') {
      const pending = await approvals.list();
      return {
        statusCode: 200,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ approvals: pending.map(({ taskToken: _token, ...rest }) => rest) }),
      };
    }
    const match = /^\/v1\/approvals\/([^/]+)$/.exec(path);
    if (method === 'POST' && match) {
      let body: unknown;
      try {
        body = JSON.parse(event.body ?? '{}');
      } catch {
        throw new ValidationError('The body is not JSON', [
          { path: 'body', message: 'expected a JSON object' },
        ]);
      }
      const parsed = decisionSchema.parse(body);
      const actor = callerOf(event) ?? parsed.actor;
      if (!actor)
        throw new ValidationError('Who decides?', [
          { path: 'actor', message: 'no authenticated caller and no actor given' },
        ]);
      const decided = await decideApproval(
        { approvals, pipelines: ports().pipelineRunner },
        {
          execution: decodeURIComponent(match[1] as string),
          approve: parsed.approve,
          actor,
          reason: parsed.reason,
        },
      );
      const { taskToken: _token, ...rest } = decided;
      return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(rest) };
    }
    throw new NotFoundError(`no route ${method} ${event.rawPath}`);
  },
  { http: true },
);
