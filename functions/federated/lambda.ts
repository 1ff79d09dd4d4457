/**
 * Entry points of federated training's Lambda functions (one bundle, one export per step, and
 * the client API; the CDK stack picks the export with `handler`). See `handlers.ts`.
 */
export {
  aggregateHandler,
  collectHandler,
  configureRoundHandler,
  dispatchHandler,
  federatedApiHandler,
  finishHandler,
  recordFailureHandler,
  rosterHandler,
  routeHandler,
  startSessionHandler,
} from './handlers.ts';
