import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type AslState,
  parseDefinition,
  placeholders,
  substitute,
  tasksWithoutErrorHandling,
  walkStates,
} from '../../../functions/contracts/asl.ts';
import { parseConfig } from '../../../functions/contracts/config/load.ts';
import {
  NEVER_ROWS,
  RETRAINING_FUNCTIONS,
  retrainingSettings,
  retrainingSettingsSchema,
  retrainingSubstitutions,
} from '../../../functions/contracts/retraining.ts';
import { RETRAINING_DEFINITION } from '../../../local/retraining.ts';

const text = readFileSync(RETRAINING_DEFINITION, 'utf8');
const config = parseConfig(JSON.parse(readFileSync('keel.config.json', 'utf8')));
const settings = retrainingSettings(config, 'credit', { codeVersion: 'abc1234' });
const substitutions = {
  ...Object.fromEntries(
    Object.keys(RETRAINING_FUNCTIONS).map((k) => [k, `arn:aws:lambda:us-east-1:1:function:${k}`]),
  ),
  ...retrainingSubstitutions(settings, {
    rolloutPollSeconds: 30,
    sageMakerRoleArn: 'arn:aws:iam::1:role/r',
    sageMakerOutputUri: 's3://b/sagemaker/',
  }),
};
const definition = parseDefinition(substitute(text, substitutions));
const states: [string, AslState][] = [];
walkStates(definition, (name, state) => states.push([name, state]));

describe('retraining.asl.json', () => {
  it('has a substitution for every placeholder, and no substitution without a placeholder', () => {
    expect(placeholders(text)).toEqual(Object.keys(substitutions).sort());
  });

  it('gives every Task a Retry and a Catch', () => {
    expect(tasksWithoutErrorHandling(definition)).toEqual([]);
  });

  it.each(states.filter(([, s]) => s.Type === 'Task').map(([name, s]) => [name, s] as const))(
    '%s retries with backoff and jitter, and catches into a recorded failure',
    (_, state) => {
      const retriers = state.Retry as {
        ErrorEquals: string[];
        MaxAttempts?: number;
        BackoffRate?: number;
        JitterStrategy?: string;
      }[];
      const retrying = retriers.filter((r) => r.MaxAttempts !== 0);
      expect(retrying.length).toBeGreaterThan(0);
      for (const r of retrying) expect(r).toMatchObject({ BackoffRate: 2, JitterStrategy: 'FULL' });
      const catchers = state.Catch as { ErrorEquals: string[]; Next: string }[];
      const all = catchers.find((c) => c.ErrorEquals.includes('States.ALL'));
      expect(['RecordFailure', 'NotifyFailure', 'PipelineFailed']).toContain(all?.Next);
    },
  );

  it('does not retry failures that would fail again (bad data, bad input, conflicts)', () => {
    const prepare = definition.States.PrepareData as AslState;
    const [first] = prepare.Retry as { ErrorEquals: string[]; MaxAttempts: number }[];
    expect(first).toMatchObject({ MaxAttempts: 0 });
    expect(first?.ErrorEquals).toEqual(
      expect.arrayContaining(['DataAuditFailedError', 'ValidationError', 'ConflictError']),
    );
    // A refused spend would be refused again, and each try appends a refusal to the ledger.
    const train = definition.States.TrainCandidates as AslState;
    const [none] = train.Retry as { ErrorEquals: string[]; MaxAttempts: number }[];
    expect(none).toMatchObject({ MaxAttempts: 0 });
    expect(none?.ErrorEquals).toContain('PrivacyBudgetExceededError');
  });

  it('names the gate in the Fail state each rejection ends in', () => {
    const fails = states.filter(([, s]) => s.Type === 'Fail').map(([, s]) => s.Error);
    expect(fails).toEqual(
      expect.arrayContaining([
        'Keel.PerformanceGateFailed',
        'Keel.FairnessGateFailed',
        'Keel.SafetyGateFailed',
        'Keel.ApprovalNotGiven',
        'Keel.RolloutRolledBack',
        'Keel.PipelineFailed',
      ]),
    );
  });

  it('sends datasets above the configured size to a SageMaker training job with the user image, and a federated model to be packaged', () => {
    const choose = definition.States.ChooseTrainer as AslState;
    expect(choose.Choices).toEqual([
      { Variable: '$.request.federated', IsPresent: true, Next: 'TrainCandidates' },
      {
        Variable: '$.data.trainingRows',
        NumericGreaterThanPath: '$.settings.sagemaker.rowThreshold',
        Next: 'TrainOnSageMaker',
      },
    ]);
    const job = definition.States.TrainOnSageMaker as AslState & { Parameters: Record<string, unknown> };
    expect(job.Resource).toBe('arn:aws:states:::sagemaker:createTrainingJob.sync');
    expect(job.Parameters).toMatchObject({
      'TrainingJobName.$': '$.data.jobName',
      AlgorithmSpecification: { 'TrainingImage.$': '$.settings.sagemaker.image', TrainingInputMode: 'File' },
      RoleArn: 'arn:aws:iam::1:role/r',
      OutputDataConfig: { S3OutputPath: 's3://b/sagemaker/' },
      StoppingCondition: { 'MaxRuntimeInSeconds.$': '$.settings.sagemaker.maxRuntimeSeconds' },
    });
    expect(job.Next).toBe('CollectSageMakerModel');
    expect((definition.States.CollectSageMakerModel as AslState).Next).toBe('Evaluate');
  });

  it('points every Next and Default at a state that exists', () => {
    const names = new Set(Object.keys(definition.States));
    const targets = states.flatMap(([, s]) => [
      s.Next,
      s.Default,
      ...((s.Choices as { Next: string }[] | undefined) ?? []).map((c) => c.Next),
      ...((s.Catch as { Next: string }[] | undefined) ?? []).map((c) => c.Next),
    ]);
    for (const target of targets.filter((t): t is string => typeof t === 'string'))
      expect(names).toContain(target);
  });
});

describe('retrainingSettings', () => {
  it('carries the config into a valid settings object', () => {
    expect(retrainingSettingsSchema.parse(settings)).toEqual(settings);
    expect(settings.training.configurations[0]).toEqual({ algorithm: 'gbdt', hyperparameters: {} });
    expect(settings.approval).toEqual({ required: false, timeoutSeconds: 72 * 3600 });
    expect(settings.deploy.shift).toEqual({ type: 'canary', percentage: 10, intervalMinutes: 5 });
  });

  it('keeps the SageMaker branch closed without an image', () => {
    expect(settings.sagemaker.rowThreshold).toBe(NEVER_ROWS);
    const raw = JSON.parse(readFileSync('keel.config.json', 'utf8'));
    raw.models.credit.retraining = {
      sagemaker: { image: '1.dkr.ecr.us-east-1.amazonaws.com/trainer:1', rowThreshold: 500000 },
    };
    const withImage = retrainingSettings(parseConfig(raw), 'credit', { codeVersion: 'abc1234' });
    expect(withImage.sagemaker).toMatchObject({
      rowThreshold: 500000,
      instanceType: 'ml.m5.xlarge',
      maxRuntimeSeconds: 14400,
    });
  });

  it('refuses an unknown model', () => {
    expect(() => retrainingSettings(config, 'nope', { codeVersion: 'abc1234' })).toThrow(
      /no model named nope/,
    );
  });
});
