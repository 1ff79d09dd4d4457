import { readFile, rm, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKeel, tempProject } from '../support/cli.ts';

let dir: string;
let configFile: string;
/** The credit model as the tests start it, before any test changes it. */
let original: Record<string, unknown>;
const keel = (...args: string[]) => runKeel(configFile, ...args);

beforeAll(async () => {
  ({ dir, configFile } = await tempProject('keel-retrain-'));
  const config = JSON.parse(await readFile(configFile, 'utf8'));
  const credit = config.models.credit;
  credit.data = { ...credit.data, source: 'synthetic:credit?rows=3000&seed=5', protectedAttributes: ['sex'] };
  credit.training = { ...credit.training, hyperparameters: { trees: 40 } };
  credit.gates = { ...credit.gates, bootstrapSamples: 200 };
  credit.retraining = { rolloutPollSeconds: 1 };
  config.local.timeScale = 0.002;
  delete config.stages;
  original = structuredClone(credit);
  await writeFile(configFile, JSON.stringify(config));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('keel retrain', () => {
  it('runs the pipeline locally, shows each state, and prints the gate table', async () => {
    // Act
    const result = await keel('retrain', 'credit', '--reason', 'first model');

    // Assess
    expect(result, result.err + result.out).toMatchObject({ code: 0 });
    const steps = [
      'PrepareData',
      'AuditData',
      'TrainCandidates',
      'Evaluate',
      'Register',
      'StartRollout',
      'CheckRollout',
      'NotifyPromoted',
    ];
    for (const [k, state] of steps.entries()) {
      expect(result.err).toMatch(new RegExp(`\\[${k + 1}/8\\] ✓ ${state}  \\d+\\.\\d s`));
    }
    expect(result.out).toMatch(/^GATE\s+CHECK\s+CANDIDATE\s+PRODUCTION\s+THRESHOLD\s+RESULT$/m);
    expect(result.out).toMatch(
      /^fairness\s+demographic-parity ratio, sex \(holdout\)\s+0\.\d+\s+—\s+≥ 0\.8\s+pass$/m,
    );
    expect(result.out).toMatch(/^report: s3:\/\/\S+\/evaluations\/\S*[0-9a-f]{64}$/m);
    expect(result.out).toContain('credit: promoted');
    const registry = await keel('registry', 'show', 'credit@production', '--json');
    expect(JSON.parse(registry.out)).toMatchObject({ version: 1, status: 'approved' });
  }, 120_000);

  it('reports a rejection with the gate, and exits 1', async () => {
    // Act: a much weaker model, which also cannot score missing values (raw inputs into a
    // logistic regression); the first gate that fails ends the run, the table shows them all.
    const config = JSON.parse(await readFile(configFile, 'utf8'));
    config.models.credit.features = [{ type: 'log', column: 'debt', offset: 1 }];
    config.models.credit.training = { algorithm: 'lr', seed: 42, holdout: 0.2 };
    await writeFile(configFile, JSON.stringify(config));
    const result = await keel('retrain', '--json');

    // Assess
    expect(result.code).toBe(1);
    const body = JSON.parse(result.out);
    expect(body).toMatchObject({ model: 'credit', status: 'FAILED', error: 'Keel.PerformanceGateFailed' });
    const gate = (check: RegExp) => body.gates.find((g: { check: string }) => check.test(g.check));
    expect(gate(/^AUC difference on holdout/)).toMatchObject({ gate: 'performance', passed: false });
    expect(gate(/^valid outputs \(edge cases\)/)).toMatchObject({ gate: 'safety', passed: false });
    expect(body.reason).toMatch(
      /^performance gate: on holdout the candidate is worse than production by 0\.\d+ AUC/,
    );
  }, 120_000);

  it('shows why a step failed: its cause in the progress, the text and --json, with no ✓ after the ✗', async () => {
    // Prepare: 70 % of incomes missing is a critical audit finding.
    const config = JSON.parse(await readFile(configFile, 'utf8'));
    config.models.credit.data.source = 'synthetic:credit?rows=3000&seed=5&missingIncome=0.7';
    await writeFile(configFile, JSON.stringify(config));

    // Act
    const text = await keel('retrain', 'credit');
    const json = await keel('retrain', 'credit', '--json');

    // Assess
    expect(text.code).toBe(1);
    expect(text.err).toMatch(
      /✗ AuditData: DataAuditFailedError: The data audit found 1 critical problem\(s\): \d+\.\d % of income is missing/,
    );
    expect(text.err).not.toMatch(/✓ AuditData/);
    expect(text.err).toMatch(/\[1\/8\] ✓ PrepareData/);
    expect(text.out).toMatch(
      /^credit: Keel\.PipelineFailed — AuditData failed: DataAuditFailedError: .*% of income is missing/m,
    );
    const body = JSON.parse(json.out);
    expect(body).toMatchObject({
      status: 'FAILED',
      error: 'Keel.PipelineFailed',
      failure: { state: 'AuditData', error: 'DataAuditFailedError' },
      reason: expect.stringMatching(/^AuditData failed: DataAuditFailedError: .*% of income is missing/),
    });
  }, 120_000);

  it.each([
    [['retrain', 'nope'], /model: nope is not in the config/],
    [
      ['retrain', 'credit', '--trigger', 'whim'],
      /trigger: expected manual, drift, schedule or feature-review/,
    ],
    [['retrain', 'credit', '--as-of', 'yesterday'], /as-of: not an ISO 8601 time/],
    [['approve', 'some-execution', '--reason', 'ok'], /decision: give exactly one of --approve and --reject/],
  ])('refuses %j with exit 2', async (args, message) => {
    const result = await keel(...args);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(message);
  });

  it('prints the fairness mitigations tried when the fairness gate fails, and promotes the one that passed', async () => {
    // Prepare: the shipped config's mitigations, and data whose labels are biased against women
    // with a region that gives sex away.
    const config = JSON.parse(await readFile(configFile, 'utf8'));
    config.models.credit = {
      ...original,
      data: {
        ...(original.data as object),
        source: 'synthetic:credit?rows=6000&seed=21&groupBias=2.5&groupProxy=0.9',
      },
    };
    await writeFile(configFile, JSON.stringify(config));

    // Act
    const result = await keel('retrain', 'credit', '--reason', 'biased labels');

    // Assess
    expect(result, result.err + result.out).toMatchObject({ code: 0 });
    expect(result.err).toMatch(/\[4\/8\] ✓ Mitigate {2}\d+\.\d s/);
    expect(result.out).toMatch(/^fairness mitigations \(holdout\):$/m);
    expect(result.out).toMatch(/^none\s+—\s+0\.\d+\s.*FAIL fairness/m);
    // For the constraint that failed (here the odds, at the cost-minimising threshold).
    expect(result.out).toMatch(/^reweighing\s+(demographic-parity|equalized-odds)\s+0\.\d+\s/m);
    expect(result.out).toMatch(/^exponentiated-gradient\s+(demographic-parity|equalized-odds)\s+0\.\d+\s/m);
    expect(result.out).toContain('credit: promoted');
    const registry = JSON.parse((await keel('registry', 'show', 'credit@production', '--json')).out);
    expect(registry.metadata.mitigation).toMatchObject({ attribute: 'sex', attributeIsInput: false });
  }, 240_000);

  it('says where approvals live when nothing is running', async () => {
    const result = await keel('approvals');
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/No running keel up/);
  });
});
