/**
 * Entry points of the drift check's Lambda functions (one bundle; the CDK stack picks the
 * export with `handler`). See `handlers.ts`.
 */
export {
  driftCheckHandler,
  featureReviewHandler,
  listPartitionsHandler,
  profilePartitionHandler,
  reduceHandler,
} from './handlers.ts';
