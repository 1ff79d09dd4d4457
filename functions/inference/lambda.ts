/**
 * Entry point of the inference Lambda: settings from the environment of this published
 * version (the CDK construct sets them; a version's configuration is immutable, so the version
 * is pinned to one model version), dependencies from the composition root. Fails at cold start
 * when a variable is missing.
 */

import { requireEnv } from '../commons/helpers/env.ts';
import { awsServingPorts } from '../composition/aws-serving.ts';
import { lineageOf, registryOf } from '../composition/services.ts';
import { INFERENCE_ENV } from '../contracts/inference.ts';
import * as z from '../contracts/zod.ts';
import { ConfigError } from '../kernel/errors.ts';
import { makeInferenceHandler } from './handler.ts';

const safeDefaultSchema = z.object({
  probability: z.number().check(z.minimum(0), z.maximum(1)),
  label: z.union([z.literal(0), z.literal(1)]),
});

function settingsFromEnv(env: NodeJS.ProcessEnv) {
  const version = Number(requireEnv(INFERENCE_ENV.modelVersion, env));
  if (!Number.isSafeInteger(version) || version < 1)
    throw new ConfigError(`${INFERENCE_ENV.modelVersion} must be a registry version number`);
  const parsed = safeDefaultSchema.safeParse(JSON.parse(requireEnv(INFERENCE_ENV.safeDefault, env)));
  if (!parsed.success) throw new ConfigError(`${INFERENCE_ENV.safeDefault} is invalid`);
  const optionalNumber = (name: string) => (env[name] ? { value: Number(env[name]) } : undefined);
  const timeout = optionalNumber(INFERENCE_ENV.timeoutMs);
  const batch = optionalNumber(INFERENCE_ENV.maxBatch);
  const explained = optionalNumber(INFERENCE_ENV.explanationSampleRate);
  if (explained && !(explained.value >= 0 && explained.value <= 1))
    throw new ConfigError(`${INFERENCE_ENV.explanationSampleRate} must be a share in [0, 1]`);
  return {
    modelName: requireEnv(INFERENCE_ENV.modelName, env),
    modelVersion: version,
    safeDefault: parsed.data,
    ...(timeout ? { timeoutMs: timeout.value } : {}),
    ...(batch ? { maxBatch: batch.value } : {}),
    ...(explained ? { explanationSampleRate: explained.value } : {}),
    ...(env[INFERENCE_ENV.piiSalt] ? { piiSalt: env[INFERENCE_ENV.piiSalt] as string } : {}),
    ...(env[INFERENCE_ENV.sagemakerEndpoint]
      ? { sagemakerEndpoint: env[INFERENCE_ENV.sagemakerEndpoint] as string }
      : {}),
    ...jsonSetting(env, INFERENCE_ENV.requestFields, 'requestFields', fieldsSchema),
    ...jsonSetting(env, INFERENCE_ENV.piiFields, 'piiFields', fieldsSchema),
    ...jsonSetting(env, INFERENCE_ENV.inputRange, 'inputRange', inputRangeSchema),
  };
}

const fieldsSchema = z.array(z.string().check(z.minLength(1)));
const inputRangeSchema = z.object({
  action: z.enum(['reject', 'clip', 'flag']),
  tolerance: z.number().check(z.nonnegative()),
});

/** An optional JSON-valued variable, validated: a bad one fails the cold start, naming it. */
function jsonSetting<K extends string, T>(
  env: NodeJS.ProcessEnv,
  name: string,
  key: K,
  schema: z.ZodMiniType<T>,
): Partial<Record<K, T>> {
  const raw = env[name];
  if (!raw) return {};
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (cause) {
    throw new ConfigError(`${name} is not JSON`, [], { cause });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ConfigError(`${name} is invalid`, [], { cause: parsed.error });
  return { [key]: parsed.data } as Partial<Record<K, T>>;
}

const settings = settingsFromEnv(process.env);
const ports = awsServingPorts();
const dependencies = {
  registry: registryOf(ports),
  lineage: lineageOf(ports),
  capture: ports.captureSink,
  endpointScorer: ports.endpointScorer,
};

export const handler = makeInferenceHandler(settings, () => dependencies);
