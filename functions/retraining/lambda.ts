/**
 * Entry points of the retraining pipeline's Lambda functions (one bundle, one export per step;
 * the CDK stack picks the export with `handler`). See `handlers.ts`.
 */
export {
  approvalApiHandler,
  auditDataHandler,
  checkRolloutHandler,
  collectSageMakerModelHandler,
  evaluateHandler,
  mitigateHandler,
  notifyHandler,
  prepareDataHandler,
  recordFailureHandler,
  recordRejectionHandler,
  registerHandler,
  requestApprovalHandler,
  startRolloutHandler,
  trainHandler,
} from './handlers.ts';
