import { describe, expect, it } from 'vitest';
import { generateCredit } from '../../../functions/core/synthetic/credit.ts';
import { train } from '../../../functions/core/training/train.ts';
import { ValidationError } from '../../../functions/kernel/errors.ts';
import { LineageStore } from '../../../functions/lineage/store.ts';
import { loadModelCard, type ModelCard } from '../../../functions/registry/card.ts';
import { recordModelCard, validateCardContent } from '../../../functions/registry/card-record.ts';
import { publishTrainingResult } from '../../../functions/registry/publish.ts';
import { ModelRegistry } from '../../../functions/registry/registry.ts';
import { renderCardMarkdown } from '../../../functions/reports/card.ts';
import { renderCardHtml } from '../../../functions/reports/card-html.ts';
import { MemoryBlobStore } from '../../support/memory-blob-store.ts';
import { MemoryRegistryStore } from '../../support/memory-registry-store.ts';
import { sampleMetadata } from '../../support/registry-fixtures.ts';

function setup() {
  const registry = new ModelRegistry({ store: new MemoryRegistryStore() });
  const lineage = new LineageStore(new MemoryBlobStore());
  return { registry, lineage };
}

// The shipped example's model: the credit population, GBDT, sex protected, reweighed.
const result = train(generateCredit({ rows: 3000, seed: 5, groupBias: 1.25, groupProxy: 0.7 }), {
  label: 'default',
  protected: ['sex'],
  exclude: ['applicant_id'],
  hyperparameters: { trees: 30 },
  bootstrapSamples: 50,
  mitigation: { method: 'reweighing', attribute: 'sex', constraint: 'demographic-parity' },
  dataHash: 'd'.repeat(64),
  codeVersion: 'abc1234',
});
const publishOptions = {
  model: 'credit',
  owner: 'risk-ml',
  intendedUse: 'Rank loan applicants by risk of default, for underwriters to review',
  limitations: ['Trained on a synthetic population.'],
  codeVersion: 'abc1234',
  actor: 'trainer',
};

describe('model cards', () => {
  it('are generated at registration from the registry and lineage, valid against the SageMaker schema', async () => {
    // Prepare
    const deps = setup();

    // Act
    const { version } = await publishTrainingResult(deps.registry, deps.lineage, result, publishOptions);
    const pointer = await deps.registry.cardOf('credit', version);
    const { card, stored } = await loadModelCard(deps, 'credit', version);

    // Assess: the version points at a stored card, made of what the registry and lineage hold.
    expect(pointer).toMatchObject({ trigger: 'registration' });
    expect(stored).toBe(true);
    expect(() => validateCardContent(card.content)).not.toThrow();
    expect(card.content.model_overview).toMatchObject({
      model_name: 'credit',
      model_version: version,
      model_owner: 'risk-ml',
      model_creator: 'trainer',
      problem_type: 'Binary classification',
    });
    expect(card.content.intended_uses.purpose_of_model).toBe(publishOptions.intendedUse);
    const holdout = card.content.evaluation_details.find((e) => e.name === 'holdout');
    const auc = holdout?.metric_groups?.[0]?.metric_data.find((m) => m.name === 'auc');
    expect(auc?.value).toBeCloseTo(result.metrics.auc, 6);
    expect(auc?.notes).toMatch(/95 % bootstrap interval/);
    expect(holdout?.metric_groups?.map((g) => g.name)).toEqual([
      'performance',
      'calibration',
      'fairness: sex',
    ]);
    // Feature provenance, the mitigation and what the fairness measures found.
    expect(card.keel.features?.map((f) => f.name)).toEqual(result.pipeline.features.map((f) => f.name));
    expect(card.keel.mitigation).toMatchObject({ method: 'reweighing', attribute: 'sex' });
    expect(card.keel.knownBiases.join(' ')).toMatch(
      /mitigated with reweighing for demographic-parity on sex/,
    );
    expect(card.content.additional_information.custom_details?.['keel.training_data_sha256']).toBe(
      'd'.repeat(64),
    );
    expect(card.keel.privacy).toBeNull();
  });

  it('says what the config says of risk and the business, kept with the version', async () => {
    // Prepare
    const deps = setup();
    const { version } = await publishTrainingResult(deps.registry, deps.lineage, result, {
      ...publishOptions,
      card: {
        riskRating: 'High',
        riskRationale: 'Regulated credit decisions.',
        lineOfBusiness: 'Consumer lending',
      },
    });

    // Act: regenerated later, it still says so (the version, not the caller, keeps it).
    const { card } = await recordModelCard(deps, 'credit', version, {
      trigger: 'promotion',
      actor: 'deployer',
    });

    // Assess
    expect(card.content.intended_uses).toMatchObject({
      risk_rating: 'High',
      explanations_for_risk_rating: 'Regulated credit decisions.',
    });
    expect(card.content.business_details).toEqual({ line_of_business: 'Consumer lending' });
    expect(renderCardMarkdown(card)).toMatch(/\| risk rating \| High \|/);
  });

  it('renders the same card as Markdown and as self-contained HTML with its charts', async () => {
    // Prepare
    const deps = setup();
    const { version } = await publishTrainingResult(deps.registry, deps.lineage, result, publishOptions);
    const { card } = await loadModelCard(deps, 'credit', version);

    // Act
    const markdown = renderCardMarkdown(card);
    const html = await renderCardHtml(card);

    // Assess
    for (const section of [
      'Model details',
      'Intended use and limitations',
      'Features and their provenance',
      'Metrics on the holdout',
      'Fairness on the holdout',
      'Fairness mitigation',
      'Known biases',
      'Drift history',
      'Approvals',
      'Deployment history',
      'Privacy',
    ])
      expect(markdown).toContain(`## ${section}`);
    expect(markdown).toContain(result.metrics.auc.toFixed(4));
    expect(html).toMatch(/^<!doctype html>/);
    expect(html.match(/<svg/g)?.length).toBe(2); // calibration, and selection rate by sex
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/); // nothing to fetch
  });

  it('is regenerated on promotion, with the approval and the deployment in it', async () => {
    // Prepare
    const deps = setup();
    const { version } = await publishTrainingResult(deps.registry, deps.lineage, result, publishOptions);
    await deps.registry.approve('credit', version, { actor: 'reviewer', reason: 'gates passed' });
    await deps.registry.moveAlias(
      'credit',
      'production',
      { to: version, expected: null },
      { actor: 'deployer', reason: 'rollout succeeded' },
    );

    // Act
    const { card: promoted } = await recordModelCard(deps, 'credit', version, {
      trigger: 'promotion',
      actor: 'deployer',
    });

    // Assess
    expect(await deps.registry.cardOf('credit', version)).toMatchObject({ trigger: 'promotion' });
    expect(promoted.keel.aliases).toContain('production');
    expect(promoted.keel.approvals).toContainEqual(
      expect.objectContaining({ actor: 'reviewer', status: 'approved', reason: 'gates passed' }),
    );
    expect(promoted.keel.deployments).toContainEqual(expect.objectContaining({ event: 'production: ∅ → 1' }));
    const events = await deps.registry.auditTrail('credit', version);
    expect(events.filter((e) => e.type === 'CardRecorded').map((e) => e.details?.card)).toHaveLength(2);
  });

  it('of a version without an evaluation says so, and is still valid', async () => {
    // Prepare: a model registered from elsewhere, with no report and no pipeline in lineage.
    const deps = setup();
    // Its owner and intended use longer than the schema's fields allow: clipped, not refused.
    const { version } = await deps.registry.registerVersion(
      'imported',
      sampleMetadata(3, { owner: 'o'.repeat(3000), intendedUse: 'u'.repeat(5000) }),
      { actor: 'ci' },
    );

    // Act
    const { card } = await recordModelCard(deps, 'imported', version, {
      trigger: 'registration',
      actor: 'ci',
    });

    // Assess
    expect(card.keel.evaluation).toMatchObject({
      holdout: null,
      missing: 'no evaluation report was recorded with it',
    });
    expect(card.content.evaluation_details).toEqual([
      {
        name: 'holdout',
        evaluation_observation: expect.stringMatching(/^No evaluation is available for this version/),
      },
    ]);
    expect(card.keel.features).toBeNull();
    expect(renderCardMarkdown(card)).toMatch(/No evaluation is available for this version/);
    expect(() => validateCardContent(card.content)).not.toThrow();
  });

  it('is refused when its content breaks the schema, naming each field', () => {
    const bad = {
      model_overview: { model_version: 0 },
      intended_uses: { risk_rating: 'Extreme' },
      evaluation_details: [{ evaluation_observation: 'no name' }],
      surprise: true,
    };
    try {
      validateCardContent(bad);
      throw new Error('expected a ValidationError');
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      const paths = (error as ValidationError).issues.map((i) => i.path);
      expect(paths).toEqual(
        expect.arrayContaining([
          'content',
          'content.model_overview.model_version',
          'content.intended_uses.risk_rating',
          'content.evaluation_details.0',
        ]),
      );
    }
  });

  it('a version registered before cards gets one generated on request, not stored', async () => {
    const deps = setup();
    const { version } = await deps.registry.registerVersion('old', sampleMetadata(4), { actor: 'ci' });
    const { card, stored }: { card: ModelCard; stored: boolean } = await loadModelCard(deps, 'old', version);
    expect(stored).toBe(false);
    expect(card.trigger).toBe('request');
    expect(await deps.registry.cardOf('old', version)).toBeUndefined();
  });
});
