import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../functions/contracts/config/load.ts';
import { retrainingSettingsSchema } from '../../functions/contracts/retraining.ts';
import { KeelDataStack } from '../../infra/stacks/data-stack.ts';
import { KeelPipelineStack } from '../../infra/stacks/pipeline-stack.ts';
import { KeelServingStack } from '../../infra/stacks/serving-stack.ts';

let pipeline: Template;
let data: Template;
let serving: Template;

beforeAll(async () => {
  const app = new App();
  const config = await loadConfig('keel.config.json');
  const credit = config.models.credit;
  if (!credit) throw new Error('the shipped config declares credit');
  const withSchedule = {
    ...config,
    models: { credit: { ...credit, schedules: { ...credit.schedules, retrain: 'rate(7 days)' } } },
  };
  const dataStack = new KeelDataStack(app, 'data', { config: withSchedule });
  const servingStack = new KeelServingStack(app, 'serving', {
    config: withSchedule,
    storage: dataStack.storage,
  });
  const stack = new KeelPipelineStack(app, 'pipeline', {
    config: withSchedule,
    storage: dataStack.storage,
    serving: servingStack,
    capture: dataStack.capture,
    codeVersion: 'abc1234',
  });
  pipeline = Template.fromStack(stack);
  data = Template.fromStack(dataStack);
  serving = Template.fromStack(servingStack);
}, 120_000);

function policiesOf(template: Template, description: RegExp) {
  return Object.values(template.findResources('AWS::IAM::ManagedPolicy')).filter((p) =>
    description.test(String((p as { Properties: { Description?: string } }).Properties.Description)),
  ) as {
    Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } };
  }[];
}

const actionsOf = (policy: ReturnType<typeof policiesOf>[number]) =>
  policy.Properties.PolicyDocument.Statement.flatMap((s) =>
    Array.isArray(s.Action) ? s.Action : [s.Action],
  );

describe('KeelPipelineStack', () => {
  it('deploys the ASL file per model with its settings, ALL logging and X-Ray', () => {
    const machine = (
      Object.values(pipeline.findResources('AWS::StepFunctions::StateMachine')) as {
        Properties: {
          StateMachineName: string;
          DefinitionSubstitutions: Record<string, unknown>;
          TracingConfiguration: unknown;
          LoggingConfiguration: { Level: string };
        };
      }[]
    ).find((m) => m.Properties.StateMachineName.endsWith('-retraining'));
    expect(machine?.Properties.StateMachineName).toBe('keel-credit-retraining');
    expect(machine?.Properties.TracingConfiguration).toEqual({ Enabled: true });
    expect(machine?.Properties.LoggingConfiguration.Level).toBe('ALL');
    const substitutions = machine?.Properties.DefinitionSubstitutions ?? {};
    const settings = retrainingSettingsSchema.parse(JSON.parse(String(substitutions.Settings)));
    expect(settings).toMatchObject({
      model: 'credit',
      codeVersion: 'abc1234',
      gates: { minDemographicParityRatio: 0.8 },
    });
    expect(substitutions.ApprovalTimeoutSeconds).toBe(String(72 * 3600));
    expect(Object.keys(substitutions)).toEqual(
      expect.arrayContaining([
        'PrepareDataFunction',
        'EvaluateFunction',
        'SageMakerRoleArn',
        'SageMakerOutputUri',
      ]),
    );
  });

  it('starts retraining on drift events for the model and on its schedule', () => {
    pipeline.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['keel.monitoring'],
        'detail-type': ['keel.drift.detected'],
        detail: { model: ['credit'] },
      },
      Targets: [
        Match.objectLike({
          InputTransformer: Match.objectLike({ InputTemplate: Match.stringLikeRegexp('"type":"drift"') }),
        }),
      ],
    });
    pipeline.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(7 days)',
      Targets: [Match.objectLike({ Input: Match.stringLikeRegexp('"type":"schedule"') })],
    });
  });

  it('retrains without the columns a stale-feature review flagged, when it asks', () => {
    pipeline.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['keel.monitoring'],
        'detail-type': ['keel.features.retrain-without'],
        detail: { model: ['credit'] },
      },
      Targets: [
        Match.objectLike({
          InputTransformer: {
            InputPathsMap: { 'detail-reason': '$.detail.reason', 'detail-without': '$.detail.without' },
            // The list goes in as JSON, unquoted.
            InputTemplate:
              '{"trigger":{"type":"feature-review","reason":<detail-reason>},"without":<detail-without>}',
          },
        }),
      ],
    });
  });

  it('alarms on failed and timed-out executions, to the outcomes topic', () => {
    for (const metric of ['ExecutionsFailed', 'ExecutionsTimedOut']) {
      pipeline.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: metric,
        Namespace: 'AWS/States',
        Threshold: 1,
        AlarmActions: [Match.objectLike({ Ref: Match.stringLikeRegexp('Outcomes') })],
      });
    }
    pipeline.hasResourceProperties('AWS::Events::Rule', { EventPattern: { source: ['keel.retraining'] } });
  });

  it("alarms on the capture path's failure modes, and keeps records that fail partitioning", () => {
    // Delivery delayed past an hour (Firehose drops records after 24 h), or failing for an hour.
    pipeline.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Firehose',
      MetricName: 'DeliveryToS3.DataFreshness',
      Statistic: 'Maximum',
      Threshold: 3600,
      Dimensions: [{ Name: 'DeliveryStreamName', Value: Match.anyValue() }],
      AlarmActions: [Match.objectLike({ Ref: Match.stringLikeRegexp('Outcomes') })],
    });
    pipeline.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Firehose',
      MetricName: 'DeliveryToS3.Success',
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      AlarmActions: [Match.objectLike({ Ref: Match.stringLikeRegexp('Outcomes') })],
    });
    // What fails partitioning lands under an error prefix the stream may write to, not nowhere.
    data.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
      ExtendedS3DestinationConfiguration: Match.objectLike({
        ErrorOutputPrefix: Match.stringLikeRegexp('^capture-errors/'),
      }),
    });
  });

  it('gives each step only what it touches, and no step may delete lineage', () => {
    const train = policiesOf(data, /Keel retraining: train$/)[0];
    expect(train && actionsOf(train)).toEqual(expect.arrayContaining(['s3:GetObject', 's3:PutObject']));
    // Every kind a training run stores, the drift baseline and the explainer included.
    for (const kind of ['models', 'pipelines', 'evaluations', 'audits', 'records', 'profiles', 'explainers'])
      expect(JSON.stringify(train)).toContain(`/${kind}/*`);
    const evaluate = policiesOf(data, /Keel retraining: evaluate$/)[0];
    expect(JSON.stringify(evaluate)).toContain('/profiles/*');
    // Mitigate trains and judges: a training run's kinds, and the datasets and explainers read.
    const mitigate = policiesOf(data, /Keel retraining: mitigate$/)[0];
    for (const kind of ['models', 'evaluations', 'profiles', 'explainers', 'datasets'])
      expect(JSON.stringify(mitigate)).toContain(`/${kind}/*`);
    pipeline.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.mitigateHandler',
      MemorySize: 10_240,
      Timeout: 900,
    });
    // HiGHS (threshold post-processing) comes from its own layer, never from the bundle.
    const layers = pipeline.findResources('AWS::Lambda::LayerVersion', {
      Properties: { Description: Match.stringLikeRegexp('HiGHS') },
    });
    expect(Object.keys(layers)).toHaveLength(1);
    const [highsLayer] = Object.keys(layers);
    const mitigateFn = Object.values(
      pipeline.findResources('AWS::Lambda::Function', { Properties: { Handler: 'index.mitigateHandler' } }),
    )[0] as { Properties: { Layers: unknown[] } };
    expect(JSON.stringify(mitigateFn.Properties.Layers)).toContain(highsLayer as string);
    const all = policiesOf(data, /^Keel retraining/);
    expect(all.length).toBeGreaterThanOrEqual(13);
    for (const policy of all) expect(actionsOf(policy).filter((a) => /Delete|\*/.test(a))).toEqual([]);
    // Notify records a run that ended without promotion in the registry's audit log: the table, no lineage.
    const notify = policiesOf(data, /Keel retraining: notify$/)[0];
    expect(notify && actionsOf(notify).filter((a) => a.startsWith('s3:'))).toEqual([]);
    expect(notify && actionsOf(notify)).toEqual(
      expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:Query']),
    );
    const rollout = policiesOf(serving, /roll out new versions/)[0];
    expect(rollout && actionsOf(rollout)).toEqual(
      expect.arrayContaining([
        'lambda:PublishVersion',
        'codedeploy:CreateDeployment',
        'codedeploy:GetDeployment',
      ]),
    );
  });

  it('lets the state machine run SageMaker jobs for this model only, as the SageMaker role', () => {
    pipeline.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: [
              'sagemaker:CreateTrainingJob',
              'sagemaker:DescribeTrainingJob',
              'sagemaker:StopTrainingJob',
              'sagemaker:AddTags',
            ],
            Resource: {
              'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp(':training-job/credit-\\*$')])],
            },
          }),
          Match.objectLike({
            Action: 'iam:PassRole',
            Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('SageMakerTraining'), 'Arn'] },
          }),
        ]),
      },
    });
    pipeline.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Principal: { Service: 'sagemaker.amazonaws.com' } })],
      },
    });
  });

  it('serves the approvals API on the serving API with IAM auth, completing only its own tasks', () => {
    for (const route of ['GET /v1/approvals', 'POST /v1/approvals/{execution}']) {
      pipeline.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: route,
        AuthorizationType: 'AWS_IAM',
      });
    }
    pipeline.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['states:SendTaskSuccess', 'states:SendTaskFailure'],
            Resource: { Ref: Match.stringLikeRegexp('Retrainingcredit') },
          }),
        ]),
      },
    });
  });

  it('refuses a code version that is not a commit', async () => {
    const app = new App();
    const config = await loadConfig('keel.config.json');
    const dataStack = new KeelDataStack(app, 'd', { config });
    const servingStack = new KeelServingStack(app, 's', { config, storage: dataStack.storage });
    expect(
      () =>
        new KeelPipelineStack(app, 'p', {
          config,
          storage: dataStack.storage,
          serving: servingStack,
          codeVersion: 'v1.2',
        }),
    ).toThrow(/codeVersion must be a git commit sha, got "v1.2"/);
  });
});
