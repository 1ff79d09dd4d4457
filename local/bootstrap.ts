/**
 * First start of `keel up`: every configured model without a version in production gets one,
 * the way a team would get its first in AWS: the retraining pipeline (the same ASL file, every
 * gate included) trains, evaluates, registers and deploys v1, and training stores its baseline
 * profile; then a simple logistic regression on the same data is registered as the `fallback`
 * the inference function serves when the primary fails. A restart finds both and does nothing.
 */
import { s3ObjectReader } from '../functions/adapters/aws/s3-objects.ts';
import { s3Client } from '../functions/commons/clients.ts';
import { createLineageStore, createPrivacyLedger, createRegistry } from '../functions/composition/aws.ts';
import { ledgerOf } from '../functions/contracts/config/schema.ts';
import { retrainingPipelineName } from '../functions/contracts/retraining.ts';
import { type TrainOptions, train } from '../functions/core/training/train.ts';
import { KeelError, ValidationError } from '../functions/kernel/errors.ts';
import { sha256Hex } from '../functions/lineage/store.ts';
import { grantPrivateTraining } from '../functions/registry/private-training.ts';
import { publishTrainingResult } from '../functions/registry/publish.ts';
import { missingDataColumns } from '../functions/retraining/data.ts';
import { baseDataColumns, loadBaseData } from '../functions/retraining/steps.ts';
import { localCodeVersion } from './retraining.ts';
import type { LocalRuntime } from './runtime.ts';

export interface BootstrapEvent {
  readonly model: string;
  readonly step: 'pipeline' | 'fallback';
  readonly status: 'started' | 'done' | 'skipped';
  readonly detail?: string;
}

const ACTOR = 'keel-bootstrap';

/** Brings every model to a served production version with a fallback; idempotent. */
export async function bootstrapModels(
  runtime: LocalRuntime,
  onEvent: (event: BootstrapEvent) => void = () => {},
): Promise<void> {
  const registry = createRegistry(process.env, runtime.eventBus);
  const lineage = createLineageStore();
  // Every model's named columns first: a misspelt label fails here, naming the columns, before
  // any model trains.
  for (const [model, m] of Object.entries(runtime.config.models)) {
    const columns = await baseDataColumns(m.data.source, { readObject: s3ObjectReader(s3Client()), lineage });
    const missing = missingDataColumns(columns, m.data);
    if (missing)
      throw new ValidationError(
        `models.${model}: ${missing.summary} (${m.data.source})`,
        missing.issues.map((issue) => ({ ...issue, path: `models.${model}.${issue.path}` })),
      );
  }
  for (const [model, m] of Object.entries(runtime.config.models)) {
    const aliases = await registry.aliasesOrNone(model);
    if (aliases.production === undefined) {
      onEvent({ model, step: 'pipeline', status: 'started', detail: m.data.source });
      const { executionId } = await runtime.pipelines.start(
        retrainingPipelineName(runtime.config.project, model),
        { trigger: { type: 'manual', reason: 'bootstrap: first start of keel up' } },
        { name: `bootstrap-${model}` },
      );
      const done = await runtime.pipelines.wait(executionId);
      if (done.status !== 'SUCCEEDED')
        throw new KeelError(
          `Bootstrapping ${model} failed: the retraining pipeline ended ${done.status} (${done.error ?? ''}: ${done.cause ?? ''}); see keel retrain ${model}`,
        );
      const production = (await registry.aliases(model)).production;
      onEvent({ model, step: 'pipeline', status: 'done', detail: `v${production} in production` });
    } else
      onEvent({ model, step: 'pipeline', status: 'skipped', detail: `v${aliases.production} in production` });

    if ((await registry.aliases(model)).fallback === undefined) {
      onEvent({ model, step: 'fallback', status: 'started' });
      const table = await loadBaseData(m.data.source, { readObject: s3ObjectReader(s3Client()), lineage });
      // A small, stable model: what serves while the primary is failing.
      const options: TrainOptions = {
        label: m.data.label,
        protected: m.data.protectedAttributes,
        exclude: m.data.piiFields,
        algorithm: 'lr',
        seed: m.training.seed,
        holdout: m.training.holdout,
        features: m.features,
        costs: m.costs,
        bootstrapSamples: 200,
        dataHash: sha256Hex(`${m.data.source}`),
        codeVersion: localCodeVersion(),
      };
      // A private model's fallback is private too, and spends from the same ledger: a model
      // trained plainly on the rows would release them without bound.
      const budget = ledgerOf(m);
      const result = train(
        table,
        m.training.privacy && budget
          ? await grantPrivateTraining(
              createPrivacyLedger(process.env, runtime.eventBus),
              table,
              { ...options, privacy: m.training.privacy },
              {
                ledger: budget.ledger,
                budget: { epsilon: budget.epsilon, delta: budget.delta },
                purpose: { kind: 'training', model },
                attribution: { actor: ACTOR, reason: `bootstrap: the fallback of ${model}` },
              },
            )
          : options,
      );
      const { version } = await publishTrainingResult(registry, lineage, result, {
        model,
        owner: m.owner,
        intendedUse: `fallback of ${model}: served when the primary model fails`,
        codeVersion: localCodeVersion(),
        piiFields: m.data.piiFields,
        actor: ACTOR,
        reason: 'bootstrap: the fallback model',
      });
      const attribution = { actor: ACTOR, reason: 'bootstrap: the fallback model' };
      await registry.approve(model, version, attribution);
      const current = (await registry.aliases(model)).fallback ?? null;
      await registry.moveAlias(model, 'fallback', { to: version, expected: current }, attribution);
      onEvent({ model, step: 'fallback', status: 'done', detail: `v${version} as fallback` });
    } else onEvent({ model, step: 'fallback', status: 'skipped' });
  }
  await runtime.syncServing();
}
