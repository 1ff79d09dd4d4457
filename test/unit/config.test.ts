import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deepMerge, loadConfig, parseConfig, trafficShiftOf } from '../../functions/contracts/config/load.ts';
import { ledgerOf, type ModelConfig } from '../../functions/contracts/config/schema.ts';
import { ConfigError } from '../../functions/kernel/errors.ts';

const minimal = {
  project: 'acme',
  models: {
    churn: {
      owner: 'ml@acme.test',
      data: { source: 'data/churn.csv', label: 'churned' },
      costs: { falsePositive: 10, falseNegative: 100 },
      decisionsPerDay: 1000,
      alerts: { dailyBudget: 500 },
      serving: { safeDefault: { probability: 0.1, label: 0 } },
    },
  },
};

function issuesOf(raw: unknown, stage?: string): { path: string; message: string }[] {
  try {
    parseConfig(raw, stage ? { stage } : {});
  } catch (error) {
    if (error instanceof ConfigError) return [...error.issues];
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('fills defaults for a minimal config', () => {
    // Act
    const config = parseConfig(minimal);
    const churn = config.models.churn;

    // Assess
    expect(churn?.gates.minDemographicParityRatio).toBe(0.8);
    expect(churn?.gates.maxEqualizedOddsDifference).toBe(0.1);
    expect(churn?.serving.shift).toBe('canary10-5m');
    expect(churn?.schedules.driftCheck).toBe('rate(1 hour)');
    expect(churn?.training).toEqual({
      algorithm: 'gbdt',
      candidates: [],
      seed: 42,
      holdout: 0.2,
      hyperparameters: {},
    });
    expect(config.local).toEqual({ port: 3000, stateDir: '.keel', timeScale: 1, captureDurability: 'fsync' });
  });

  it.each(['examples/private-credit/keel.config.json', 'examples/federated-credit/keel.config.json'])(
    'accepts %s',
    async (file) => {
      const config = await loadConfig(file);
      expect(Object.keys(config.models)).toEqual(['credit']);
    },
  );

  it('fills the federated block’s defaults, and names a bad one', () => {
    const config = parseConfig(deepMerge(minimal, { models: { churn: { federated: {} } } }));
    expect(config.models.churn?.federated).toEqual({
      rounds: 20,
      minClients: 3,
      algorithm: 'fedavg',
      mu: 0.01,
      local: { epochs: 1, batchSize: 64, learningRate: 0.1 },
      l2: 1e-4,
      secureAggregation: true,
      heartbeatSeconds: 60,
      taskTimeoutSeconds: 900,
      clients: [],
    });
    expect(
      issuesOf(deepMerge(minimal, { models: { churn: { federated: { minClients: 1 } } } })).map(
        (i) => i.path,
      ),
    ).toEqual(['models.churn.federated.minClients']);
  });

  it('accepts the shipped keel.config.json', async () => {
    const config = await loadConfig('keel.config.json');
    expect(Object.keys(config.models)).toEqual(['credit']);
    expect(config.models.credit?.features.length).toBeGreaterThan(0);
  });

  it.each([
    [
      'a negative cost',
      { costs: { falsePositive: -1, falseNegative: 100 } },
      'models.churn.costs.falsePositive',
    ],
    ['a non-integer seed', { training: { seed: 1.5 } }, 'models.churn.training.seed'],
    ['a holdout of 1', { training: { holdout: 1 } }, 'models.churn.training.holdout'],
    [
      'an unknown shift',
      { serving: { shift: 'canary50-1m', safeDefault: { probability: 0.1, label: 0 } } },
      'models.churn.serving.shift',
    ],
    ['a bad schedule', { schedules: { driftCheck: 'every hour' } }, 'models.churn.schedules.driftCheck'],
    ['an unknown transform', { features: [{ type: 'pca', column: 'x' }] }, 'models.churn.features.0.type'],
    [
      'adversarial debiasing with no logistic regression configured',
      { gates: { mitigations: [{ method: 'reweighing' }, { method: 'adversarial' }] } },
      'models.churn.gates.mitigations.1.method',
    ],
    [
      'a risk rating SageMaker does not know',
      { card: { riskRating: 'Severe' } },
      'models.churn.card.riskRating',
    ],
    [
      'a bad review schedule',
      { schedules: { featureReview: 'daily' } },
      'models.churn.schedules.featureReview',
    ],
    ['a review share of 0', { featureReview: { share: 0 } }, 'models.churn.featureReview.share'],
    [
      'a negative cost of a feature',
      { featureReview: { features: { bureau: { costPerDecision: -1 } } } },
      'models.churn.featureReview.features.bureau.costPerDecision',
    ],
    [
      'psiDrift below psiWarning',
      { alerts: { dailyBudget: 1, psiWarning: 0.3, psiDrift: 0.2 } },
      'models.churn.alerts.psiDrift',
    ],
  ])('names the field for %s', (_case, override, path) => {
    // Prepare
    const raw = deepMerge(minimal, { models: { churn: override } });

    // Act
    const issues = issuesOf(raw);

    // Assess
    expect(issues.map((i) => i.path)).toContain(path);
  });

  it.each([
    [
      'private training without a budget',
      { training: { algorithm: 'lr', privacy: { epsilon: 1 } } },
      'models.churn.training.privacy',
    ],
    [
      'a run over the whole budget',
      { data: { privacy: { epsilon: 1 } }, training: { algorithm: 'lr', privacy: { epsilon: 2 } } },
      'models.churn.training.privacy.epsilon',
    ],
    [
      'private GBDT',
      { data: { privacy: { epsilon: 3 } }, training: { privacy: { epsilon: 1 } } },
      'models.churn.training.algorithm',
    ],
    [
      'a GBDT candidate beside private LR',
      {
        data: { privacy: { epsilon: 3 } },
        training: { algorithm: 'lr', candidates: [{ algorithm: 'gbdt' }], privacy: { epsilon: 1 } },
      },
      'models.churn.training.candidates.0.algorithm',
    ],
    [
      'a mitigation beside private training',
      {
        data: { privacy: { epsilon: 3 } },
        training: { algorithm: 'lr', privacy: { epsilon: 1 } },
        gates: { mitigations: [{ method: 'reweighing' }] },
      },
      'models.churn.gates.mitigations',
    ],
    [
      'a ledger name with a space',
      { data: { privacy: { epsilon: 3, ledger: 'my data' } } },
      'models.churn.data.privacy.ledger',
    ],
    [
      'a budget for data trained on without privacy',
      { data: { privacy: { epsilon: 3 } } },
      'models.churn.data.privacy',
    ],
    [
      'private checks without a budget',
      { monitoring: { privacy: { sigma: 50 } } },
      'models.churn.monitoring.privacy',
    ],
    [
      'private checks without noise',
      { monitoring: { privacy: { sigma: 0 } } },
      'models.churn.monitoring.privacy.sigma',
    ],
  ])('names the field for %s', (_case, override, path) => {
    const issues = issuesOf(deepMerge(minimal, { models: { churn: override } }));
    expect(issues.map((i) => i.path)).toContain(path);
  });

  it('gives one data source one budget: two models on a ledger must agree', () => {
    // Prepare
    const privateLr = { algorithm: 'lr', privacy: { epsilon: 1 } };
    const churn = minimal.models.churn as object;
    const raw = {
      ...minimal,
      models: {
        churn: deepMerge(churn, { data: { privacy: { epsilon: 3 } }, training: privateLr }),
        upsell: deepMerge(churn, { data: { privacy: { epsilon: 5 } }, training: privateLr }),
        retain: deepMerge(churn, { data: { privacy: { epsilon: 3 } }, training: privateLr }),
      },
    };
    // Act
    const issues = issuesOf(raw);
    // Assess
    expect(issues).toEqual([
      expect.objectContaining({
        path: 'models.upsell.data.privacy',
        message: expect.stringContaining('ledger data/churn.csv already has the budget ε = 3'),
      }),
    ]);
  });

  it('accepts private LR with a budget, and its ledger defaults to the data source', () => {
    const config = parseConfig(
      deepMerge(minimal, {
        models: {
          churn: {
            data: { privacy: { epsilon: 3 } },
            training: { algorithm: 'lr', privacy: { epsilon: 1 } },
          },
        },
      }),
    );
    expect(ledgerOf(config.models.churn as ModelConfig)).toEqual({
      ledger: 'data/churn.csv',
      epsilon: 3,
      delta: 1e-5,
    });
    expect(config.models.churn?.training.privacy).toEqual({
      epsilon: 1,
      delta: 1e-5,
      clip: 1,
      epochs: 5,
      batchSize: 256,
      learningRate: 1,
    });
  });

  it('accepts adversarial debiasing when one configuration is logistic regression', () => {
    const raw = deepMerge(minimal, {
      models: {
        churn: {
          training: { candidates: [{ algorithm: 'lr' }] },
          gates: { mitigations: [{ method: 'adversarial', iterations: 800 }] },
        },
      },
    });
    expect(parseConfig(raw).models.churn?.gates.mitigations).toEqual([
      { method: 'adversarial', iterations: 800 },
    ]);
  });

  it('reports every invalid field, not only the first', () => {
    const issues = issuesOf({ project: 'A', models: { churn: { owner: '' } } });
    expect(issues.map((i) => i.path)).toEqual(
      expect.arrayContaining(['project', 'models.churn.owner', 'models.churn.data', 'models.churn.costs']),
    );
  });

  it('rejects a config without models', () => {
    expect(issuesOf({ project: 'acme', models: {} }).map((i) => i.path)).toEqual(['models']);
  });

  it('merges the selected stage over the base', () => {
    // Prepare
    const raw = { ...minimal, stages: { prod: { models: { churn: { gates: { requireApproval: true } } } } } };

    // Act
    const prod = parseConfig(raw, { stage: 'prod' });
    const base = parseConfig(raw);

    // Assess
    expect(prod.models.churn?.gates.requireApproval).toBe(true);
    expect(prod.models.churn?.gates.minDemographicParityRatio).toBe(0.8);
    expect(base.models.churn?.gates.requireApproval).toBe(false);
  });

  it('refuses an unknown stage instead of deploying the defaults', () => {
    expect(issuesOf(minimal, 'prdo')[0]?.message).toContain('defined stages: none');
  });
});

describe('parseConfig: misspelt keys and values', () => {
  const withModel = (patch: Record<string, unknown>) => ({
    ...minimal,
    models: { churn: { ...minimal.models.churn, ...patch } },
  });

  it.each([
    // [what, config, path, message]
    [
      'an optional gate',
      withModel({ gates: { requireAproval: true } }),
      'models.churn.gates.requireAproval',
      'did you mean "requireApproval"?',
    ],
    [
      'an alert setting',
      withModel({ alerts: { dailyBudget: 500, retrainCooldwnHours: 3 } }),
      'models.churn.alerts.retrainCooldwnHours',
      'did you mean "retrainCooldownHours"?',
    ],
    ['a top-level section', { ...minimal, modles: {} }, 'modles', 'did you mean "models"?'],
    [
      'a feature step',
      withModel({ features: [{ type: 'log', column: 'x', offest: 2 }] }),
      'models.churn.features.0.offest',
      'did you mean "offset"?',
    ],
  ])('refuses a misspelt key (%s) and suggests the right one', (_what, raw, path, message) => {
    // Act
    const issues = issuesOf(raw);

    // Assess
    expect(issues).toEqual([{ path, message: `unknown key; ${message}` }]);
  });

  it('lists the known keys when nothing is close', () => {
    const issues = issuesOf(withModel({ serving: { safeDefault: { probability: 0.1, label: 0 }, zzz: 1 } }));
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe('models.churn.serving.zzz');
    expect(issues[0]?.message).toMatch(/^unknown key; known keys: shift, maxBatchRows, timeoutMs/);
  });

  it('reports every unknown key of one object separately', () => {
    const issues = issuesOf(withModel({ gates: { requireAproval: true, driftMargn: 0.01 } }));
    expect(issues.map((i) => i.path).sort()).toEqual([
      'models.churn.gates.driftMargn',
      'models.churn.gates.requireAproval',
    ]);
  });

  it('lists the valid traffic shifts for an unknown one', () => {
    const issues = issuesOf(
      withModel({ serving: { safeDefault: { probability: 0.1, label: 0 }, shift: 'canary99' } }),
    );
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe('models.churn.serving.shift');
    expect(issues[0]?.message).toContain('expected one of all-at-once, canary10-5m');
  });

  it('lists the valid choices of an enum', () => {
    const issues = issuesOf(withModel({ training: { algorithm: 'xgboost' } }));
    expect(issues[0]?.path).toBe('models.churn.training.algorithm');
    expect(issues[0]?.message).toMatch(/"lr".*"gbdt"/);
  });

  it('checks the stages that are not selected', () => {
    const issues = issuesOf({
      ...minimal,
      stages: { prod: { models: { churn: { gates: { requireAproval: true } } } } },
    });
    expect(issues).toEqual([
      {
        path: 'stages.prod.models.churn.gates.requireAproval',
        message: 'unknown key; did you mean "requireApproval"?',
      },
    ]);
  });
});

describe('loadConfig', () => {
  it.each([
    ['missing', undefined, 'Cannot read'],
    ['malformed', '{"project": ', 'is not valid JSON'],
  ])('gives a clear error for a %s file', async (_case, content, message) => {
    // Prepare
    const dir = await mkdtemp(join(tmpdir(), 'keel-config-'));
    const file = join(dir, 'keel.config.json');
    if (content !== undefined) await writeFile(file, content);

    // Act / Assess
    await expect(loadConfig(file)).rejects.toThrow(message);
    await expect(loadConfig(file)).rejects.toBeInstanceOf(ConfigError);
  });
});

describe('trafficShiftOf', () => {
  it.each([
    ['canary10-5m', { type: 'canary', percentage: 10, intervalMinutes: 5 }],
    ['linear10-1m', { type: 'linear', percentage: 10, intervalMinutes: 1 }],
    ['all-at-once', { type: 'all-at-once' }],
  ] as const)('maps %s', (name, shift) => {
    expect(trafficShiftOf(name)).toEqual(shift);
  });

  it('passes an explicit shift through', () => {
    const shift = { type: 'canary', percentage: 25, intervalMinutes: 15 } as const;
    expect(trafficShiftOf(shift)).toBe(shift);
  });
});

describe('examples/credit', () => {
  it('ships the same config as the project root, so the walkthrough describes what npm start runs', () => {
    const root = readFileSync('keel.config.json', 'utf8');
    const example = readFileSync('examples/credit/keel.config.json', 'utf8');
    expect(JSON.parse(example)).toEqual(JSON.parse(root));
  });
});
