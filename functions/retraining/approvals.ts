/**
 * Human approval of a candidate: the pipeline's `RequestApproval` task stores its task token
 * in an {@link ApprovalStore} (the registry table in AWS and locally), and `keel approve` or the approvals API decide it. A decision
 * is taken once (a conditional update), names who took it and why, and completes the token so
 * the execution goes on; the registry's audit log then records the approval or rejection.
 */

import { ConflictError, ValidationError } from '../kernel/errors.ts';
import type { ApprovalDecision, ApprovalRequest, ApprovalStore } from '../ports/approval-store.ts';
import type { PipelineRunner } from '../ports/pipeline-runner.ts';

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
