/**
 * Human approval of a candidate: the pipeline's `RequestApproval` task stores its task token
 * in an {@link ApprovalStore} (the registry table in AWS and locally), and `keel approve` or the approvals API decide it. A decision
 * is taken once (a conditional update), names who took it and why, and completes the token so
 * the execution goes on; the registry's audit log then records the approval or rejection.
 */
import { ConflictError, ValidationError } from '../commons/errors.ts';
import type { PipelineRunner } from '../commons/ports/pipeline-runner.ts';
import type { GateRow } from './gates.ts';

export interface ApprovalRequest {
  /** Execution ARN (locally the local runner's id). */
  readonly execution: string;
  readonly model: string;
  readonly taskToken: string;
  readonly requestedAt: string;
  readonly expiresAt: string;
  readonly candidate: {
    readonly algorithm: string;
    readonly manifestId: string;
    readonly validationAuc: number;
  };
  readonly gates: readonly GateRow[];
  readonly status: 'pending' | 'approved' | 'rejected';
  readonly decidedBy?: string;
  readonly decidedAt?: string;
  readonly reason?: string;
}

/** What the task token is completed with; the state machine's `ApprovalDecided` reads it. */
export interface ApprovalDecision {
  readonly decision: 'approved' | 'rejected';
  readonly actor: string;
  readonly reason: string;
  readonly at: string;
}

/** Where approval requests are kept (the registry table in AWS and locally). */
export interface ApprovalStore {
  /** Keyed by execution: a retried RequestApproval task replaces its own request with its new token. */
  put(request: ApprovalRequest): Promise<void>;
  /** All requests, newest first; `pending` only by default. */
  list(options?: { readonly all?: boolean }): Promise<ApprovalRequest[]>;
  /** The request of an execution, by ARN or by execution name. */
  find(execution: string): Promise<ApprovalRequest>;
  /** Marks a pending request decided; a second decision is a {@link ConflictError}. */
  decide(execution: string, decision: ApprovalDecision): Promise<ApprovalRequest>;
}

/**
 * Decides a pending approval and completes the pipeline's task token. Who and why are required:
 * they go into the registry's audit log when the pipeline records the outcome.
 */
export async function decideApproval(
  deps: { readonly approvals: ApprovalStore; readonly pipelines: PipelineRunner; readonly now?: () => Date },
  request: {
    readonly execution: string;
    readonly approve: boolean;
    readonly actor: string;
    readonly reason: string;
  },
): Promise<ApprovalRequest> {
  const issues = [];
  if (!request.actor?.trim()) issues.push({ path: 'actor', message: 'say who decides' });
  if (!request.reason?.trim())
    issues.push({ path: 'reason', message: 'say why; it goes into the audit log' });
  if (issues.length > 0) throw new ValidationError('The decision is incomplete', issues);
  const pending = await deps.approvals.find(request.execution);
  if (pending.status !== 'pending') {
    throw new ConflictError(
      `the approval of ${pending.execution} was already decided: ${pending.status} by ${pending.decidedBy ?? 'unknown'}`,
    );
  }
  if (Date.parse(pending.expiresAt) < (deps.now ?? (() => new Date()))().getTime()) {
    throw new ConflictError(`the approval of ${pending.execution} timed out at ${pending.expiresAt}`);
  }
  const decision: ApprovalDecision = {
    decision: request.approve ? 'approved' : 'rejected',
    actor: request.actor.trim(),
    reason: request.reason.trim(),
    at: (deps.now ?? (() => new Date()))().toISOString(),
  };
  const decided = await deps.approvals.decide(pending.execution, decision);
  await deps.pipelines.sendTaskSuccess(pending.taskToken, decision);
  return decided;
}
