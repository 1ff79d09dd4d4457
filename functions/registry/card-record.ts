/**
 * Storing model cards: each is validated against the SageMaker Model Card schema (ajv), stored
 * content-addressed in lineage, and pointed at by a `CardRecorded` event of its version.
 */
import { Ajv, type ValidateFunction } from 'ajv';
// Imported, not read from disk: the schema travels inside the Lambda bundle (esbuild inlines
// JSON), where no contracts/ directory sits beside the code.
import schema from '../contracts/schemas/sagemaker-model-card-content.schema.json' with { type: 'json' };
import { ValidationError } from '../kernel/errors.ts';
import type { ArtifactRef, LineageStore } from '../lineage/store.ts';
import { type CardContext, gatherCardFacts, type ModelCard, modelCardOf } from './card.ts';
import type { ModelRegistry } from './registry.ts';

let validator: ValidateFunction | undefined;

/** The SageMaker content schema's validator, compiled once. */
function contentValidator(): ValidateFunction {
  validator ??= new Ajv({ allErrors: true, strict: true }).compile(schema);
  return validator;
}

/** Checks card content against the SageMaker Model Card schema; every violation named. */
export function validateCardContent(content: unknown): void {
  const validate = contentValidator();
  if (!validate(content))
    throw new ValidationError(
      'The model card does not match the SageMaker Model Card schema',
      (validate.errors ?? []).map((e) => ({
        path: `content${e.instancePath.replaceAll('/', '.')}`,
        message: e.message ?? e.keyword,
      })),
    );
}

/**
 * Records a version's card at registration unless it has one: a registration replayed (the
 * same model file again, or a retried step) gets its card then if the first attempt stopped
 * between registering and carding.
 */
export async function ensureModelCard(
  deps: {
    readonly registry: ModelRegistry;
    readonly lineage: Pick<LineageStore, 'getJson' | 'putJson'>;
  },
  model: string,
  version: number,
  actor: string,
): Promise<void> {
  if (await deps.registry.cardOf(model, version)) return;
  await recordModelCard(deps, model, version, { trigger: 'registration', actor });
}

/**
 * Generates a version's card, validates it, stores it content-addressed in lineage and points
 * the version at it (a `CardRecorded` event). Returns the card and its ref.
 */
export async function recordModelCard(
  deps: {
    readonly registry: ModelRegistry;
    readonly lineage: Pick<LineageStore, 'getJson' | 'putJson'>;
  },
  model: string,
  version: number,
  options: { readonly trigger: string; readonly actor: string; readonly context?: CardContext },
): Promise<{ card: ModelCard; ref: ArtifactRef }> {
  const card = modelCardOf(await gatherCardFacts(deps, model, version, options));
  validateCardContent(card.content);
  const ref = await deps.lineage.putJson('records', card);
  await deps.registry.recordCard(
    model,
    version,
    { sha256: ref.sha256, uri: ref.uri, trigger: options.trigger },
    { actor: options.actor, reason: `model card generated on ${options.trigger}` },
  );
  return { card, ref };
}
