import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { aslDeployments, aslFiles, aslProblems } from '../../infra/asl-checks.ts';
import { KeelStateMachine } from '../../infra/constructs/keel-state-machine.ts';
import { keelApp } from './helpers.ts';

const FIXTURE = 'test/fixtures/state-machines/pipeline.asl.json';
const UNHANDLED = 'test/fixtures/state-machines/unhandled.asl.json';

function stubFunction(stack: Stack, name: string): lambda.IFunction {
  return lambda.Function.fromFunctionAttributes(stack, name, {
    functionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${name}`,
    sameEnvironment: true,
  });
}

function fixtureFunctions(stack: Stack) {
  return {
    PrepareFunctionArn: stubFunction(stack, 'prepare'),
    ScoreFunctionArn: stubFunction(stack, 'score'),
    NotifyFunctionArn: stubFunction(stack, 'notify'),
  };
}

describe('state-machines/*.asl.json', () => {
  it('are each deployed, with every placeholder substituted and every Task handling errors', async () => {
    // Prepare: the shipped config, and one with a federated model (the shipped one has none).
    const { app } = await keelApp();
    const federated = await keelApp({}, 'examples/federated-credit/keel.config.json');

    // Act
    const problems = aslProblems(aslFiles(), [...aslDeployments(app), ...aslDeployments(federated.app)]);

    // Assess
    expect(problems).toEqual([]);
  });
});

describe('aslProblems', () => {
  it('reports a placeholder without a substitution', () => {
    const problems = aslProblems(
      [FIXTURE],
      [{ definitionFile: FIXTURE, substitutionKeys: ['PrepareFunctionArn', 'MinRows'] }],
    );
    expect(problems).toEqual([
      `${FIXTURE}: \${NotifyFunctionArn} has no substitution`,
      `${FIXTURE}: \${ScoreFunctionArn} has no substitution`,
    ]);
  });

  it('reports an undeployed file and a Task without Retry and Catch', () => {
    expect(aslProblems([UNHANDLED], [])).toEqual([
      `${UNHANDLED}: not deployed by any stack`,
      `${UNHANDLED}: Task Work lacks Retry and Catch`,
    ]);
  });

  it('passes a fully substituted definition', () => {
    const keys = ['PrepareFunctionArn', 'ScoreFunctionArn', 'NotifyFunctionArn', 'MinRows'];
    expect(aslProblems([FIXTURE], [{ definitionFile: FIXTURE, substitutionKeys: keys }])).toEqual([]);
  });
});

describe('KeelStateMachine', () => {
  it('deploys from the file with substitutions, ALL-level logging, X-Ray and invoke grants', () => {
    // Prepare
    const stack = new Stack(new App(), 'Sfn');

    // Act
    new KeelStateMachine(stack, 'Pipeline', {
      definitionFile: FIXTURE,
      functions: fixtureFunctions(stack),
      substitutions: { MinRows: '100' },
    });
    const template = Template.fromStack(stack);

    // Assess
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      DefinitionS3Location: Match.anyValue(),
      DefinitionSubstitutions: Match.objectLike({
        PrepareFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:prepare',
        MinRows: '100',
      }),
      LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: true }),
      TracingConfiguration: { Enabled: true },
    });
    const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    expect(policies).toContain('lambda:InvokeFunction');
    expect(policies).toContain('function:score');
  });

  it('refuses a definition with a placeholder that has no substitution, naming it', () => {
    const stack = new Stack(new App(), 'Sfn');
    expect(
      () =>
        new KeelStateMachine(stack, 'Pipeline', {
          definitionFile: FIXTURE,
          functions: fixtureFunctions(stack),
        }),
    ).toThrow('no substitution for ${MinRows}');
  });

  it('refuses a Task without Retry and Catch', () => {
    const stack = new Stack(new App(), 'Sfn');
    expect(
      () =>
        new KeelStateMachine(stack, 'Work', {
          definitionFile: UNHANDLED,
          functions: { WorkFunctionArn: stubFunction(stack, 'work') },
        }),
    ).toThrow('Work lacks Retry and Catch');
  });
});
