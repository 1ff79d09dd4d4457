/** Environment variables of the inference Lambda; the CDK construct sets them. */
export const INFERENCE_ENV = {
  modelName: 'KEEL_MODEL_NAME',
  modelVersion: 'KEEL_MODEL_VERSION',
  safeDefault: 'KEEL_SAFE_DEFAULT',
  timeoutMs: 'KEEL_TIMEOUT_MS',
  maxBatch: 'KEEL_MAX_BATCH',
  piiSalt: 'KEEL_PII_SALT',
  sagemakerEndpoint: 'KEEL_SAGEMAKER_ENDPOINT',
  /** JSON array: fields accepted beside the model's inputs (protected attributes, ids). */
  requestFields: 'KEEL_REQUEST_FIELDS',
  /** JSON array: extra fields that are PII. */
  piiFields: 'KEEL_PII_FIELDS',
  /** JSON `{"action","tolerance"}`: the input-range policy. */
  inputRange: 'KEEL_INPUT_RANGE',
  /** Share of ordinary predictions whose capture also holds their explanation, in [0, 1]. */
  explanationSampleRate: 'KEEL_EXPLANATION_SAMPLE_RATE',
} as const;

/**
 * The request contract's settings a model's serving config gives its inference function, in AWS
 * and locally alike: protected attributes, PII fields and `serving.requestFields` are accepted
 * beside the inputs; the input-range policy; the share of predictions explained in the capture.
 */
export function requestSettingsOf(model: {
  readonly data: { readonly protectedAttributes: readonly string[]; readonly piiFields: readonly string[] };
  /** The config's feature pipeline: the raw columns it reads stay accepted by every version. */
  readonly features?: readonly { readonly type: string; readonly [key: string]: unknown }[];
  readonly serving: {
    readonly requestFields: readonly string[];
    readonly inputRange: { readonly action: 'reject' | 'clip' | 'flag'; readonly tolerance: number };
    readonly explanationSampleRate: number;
  };
}): {
  requestFields: string[];
  piiFields: string[];
  inputRange: { action: 'reject' | 'clip' | 'flag'; tolerance: number };
  explanationSampleRate: number;
} {
  return {
    explanationSampleRate: model.serving.explanationSampleRate,
    requestFields: [
      ...new Set([
        ...model.data.protectedAttributes,
        ...model.data.piiFields,
        ...model.serving.requestFields,
        // A version retrained without a stale column must not refuse callers that still send it.
        ...rawFeatureColumns(model.features ?? []),
      ]),
    ],
    piiFields: [...model.data.piiFields],
    inputRange: { ...model.serving.inputRange },
  };
}

/** The raw columns a feature pipeline reads (a ratio's name is derived, not sent). */
function rawFeatureColumns(features: readonly { readonly type: string; readonly [key: string]: unknown }[]) {
  const derived = new Set(features.filter((f) => f.type === 'ratio').map((f) => String(f.name)));
  const read = features.flatMap((f) =>
    f.type === 'ratio' ? [String(f.numerator), String(f.denominator)] : [String(f.column)],
  );
  return read.filter((c) => !derived.has(c));
}

/** The alias that carries a model's traffic. */
export const LIVE_ALIAS = 'live';

/** The inference function of a model, in AWS (a fixed CDK name) and locally alike. */
export const inferenceFunctionName = (project: string, model: string) => `${project}-${model}-inference`;
