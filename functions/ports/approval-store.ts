import type { GateRow } from '../contracts/retraining.ts';

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
