/** Environment variables of the inference Lambda; the CDK construct sets them. */
export const INFERENCE_ENV = {
  modelName: 'KEEL_MODEL_NAME',
  modelVersion: 'KEEL_MODEL_VERSION',
  safeDefault: 'KEEL_SAFE_DEFAULT',
  timeoutMs: 'KEEL_TIMEOUT_MS',
  maxBatch: 'KEEL_MAX_BATCH',
  piiSalt: 'KEEL_PII_SALT',
  sagemakerEndpoint: 'KEEL_SAGEMAKER_ENDPOINT',
} as const;
