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
  FEDERATED_FUNCTIONS,
  federatedSettings,
  federatedSettingsSchema,
  federatedSubstitutions,
} from '../../../functions/contracts/federated.ts';
import { FEDERATED_DEFINITION } from '../../../local/federated.ts';

const text = readFileSync(FEDERATED_DEFINITION, 'utf8');
const config = parseConfig(JSON.parse(readFileSync('examples/federated-credit/keel.config.json', 'utf8')));
const settings = federatedSettings(config, 'credit');
const substitutions = {
  ...Object.fromEntries(
    Object.keys(FEDERATED_FUNCTIONS).map((k) => [k, `arn:aws:lambda:us-east-1:1:function:${k}`]),
  ),
  ...federatedSubstitutions(settings, {
    retrainingStateMachineArn: 'arn:aws:states:us-east-1:1:stateMachine:keel-credit-retraining',
  }),
};
const definition = parseDefinition(substitute(text, substitutions));
const states: [string, AslState][] = [];
walkStates(definition, (name, state) => states.push([name, state]));
const byName = Object.fromEntries(states) as Record<string, AslState & Record<string, unknown>>;

describe('federated.asl.json', () => {
  it('has a substitution for every placeholder, and no substitution without a placeholder', () => {
    expect(placeholders(text)).toEqual(Object.keys(substitutions).sort());
  });

  it('gives every Task a Retry and a Catch', () => {
    expect(tasksWithoutErrorHandling(definition)).toEqual([]);
  });

  it('carries settings the steps can parse', () => {
    const configure = definition.States.Configure as AslState & { Parameters: { settings: unknown } };
    expect(federatedSettingsSchema.parse(configure.Parameters.settings)).toEqual(settings);
  });

  it.each(['Advertise', 'Share', 'Train', 'Unmask'])(
    '%s: every client still in the round is asked by a task token, cut off by its heartbeat, and dropped rather than failed',
    (phase) => {
      const ask = byName[`Ask${phase}`] as AslState & Record<string, unknown>;
      expect(ask.Resource).toBe('arn:aws:states:::lambda:invoke.waitForTaskToken');
      expect(ask).toMatchObject({
        HeartbeatSeconds: settings.heartbeatSeconds,
        TimeoutSeconds: settings.taskTimeoutSeconds,
      });
      expect(ask.Catch).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: `Dropped${phase}` },
      ]);
      expect(byName[`Dropped${phase}`]).toMatchObject({ Type: 'Pass', Parameters: { dropped: true } });
    },
  );

  it('runs the four exchanges a round with secure aggregation, only training without, and loops until done', () => {
    const path = (from: string, until: string) => {
      const seen = [from];
      let at = from;
      while (at !== until) {
        const state = byName[at] as AslState & { Next?: string; Default?: string };
        at = (state.Next ?? state.Default) as string;
        seen.push(at);
      }
      return seen;
    };
    expect(path('ConfigureRound', 'NextRound')).toEqual([
      'ConfigureRound',
      'Secure',
      'AdvertiseKeys',
      'Roster',
      'ShareKeys',
      'Route',
      'Train',
      'Collect',
      'Unmasking',
      'Unmask',
      'Aggregate',
      'NextRound',
    ]);
    expect((byName.Secure as unknown as { Choices: unknown[] }).Choices).toEqual([
      { Variable: '$.settings.secureAggregation', BooleanEquals: false, Next: 'Train' },
    ]);
    expect((byName.NextRound as unknown as { Default: string }).Default).toBe('ConfigureRound');
  });

  it('hands the model to the retraining pipeline and its gates; a rejection is recorded, not a failure', () => {
    const evaluate = byName.Evaluate as AslState & { Parameters: Record<string, unknown> };
    expect(evaluate.Resource).toBe('arn:aws:states:::states:startExecution.sync:2');
    expect(evaluate.Parameters).toMatchObject({
      StateMachineArn: 'arn:aws:states:us-east-1:1:stateMachine:keel-credit-retraining',
      Input: { 'federated.$': '$.session.candidate' },
    });
    expect(evaluate.Catch?.[0]).toMatchObject({ ErrorEquals: ['States.TaskFailed'], Next: 'Finish' });
  });
});
