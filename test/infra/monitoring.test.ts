import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../functions/contracts/config/load.ts';
import {
  featureReviewSettingsSchema,
  monitoringSettingsSchema,
} from '../../functions/contracts/monitoring.ts';
import { KeelDataStack } from '../../infra/stacks/data-stack.ts';
import { KeelPipelineStack } from '../../infra/stacks/pipeline-stack.ts';
import { KeelServingStack } from '../../infra/stacks/serving-stack.ts';

let template: Template;
let dataTemplate: Template;

type Resource = { Properties: Record<string, unknown> };
const resources = (type: string, from = template) => Object.values(from.findResources(type)) as Resource[];

beforeAll(async () => {
  // Prepare: the shipped model checked by one function on a cron, and a copy fanned out.
  const app = new App();
  const config = await loadConfig('keel.config.json');
  const credit = config.models.credit;
  if (!credit) throw new Error('the shipped config declares credit');
  const models = {
    credit: { ...credit, schedules: { ...credit.schedules, driftCheck: 'cron(15 * * * ? *)' } },
    // No review schedule: no rule for it.
    wide: {
      ...credit,
      monitoring: { ...credit.monitoring, distributed: true, maxConcurrency: 12 },
      schedules: { driftCheck: credit.schedules.driftCheck },
    },
  };
  const withTwo = { ...config, models };
  const data = new KeelDataStack(app, 'data', { config: withTwo });
  const serving = new KeelServingStack(app, 'serving', { config: withTwo, storage: data.storage });
  const pipeline = new KeelPipelineStack(app, 'pipeline', {
    config: withTwo,
    storage: data.storage,
    serving,
    codeVersion: 'abc1234',
  });
  template = Template.fromStack(pipeline);
  dataTemplate = Template.fromStack(data);
}, 120_000);

describe('KeelMonitoring', () => {
  it('runs the check of a model on its schedule: the function with its settings, or the Distributed Map when switched on', () => {
    const rules = resources('AWS::Events::Rule').filter((r) =>
      String(r.Properties.Description).startsWith('Keel drift check of'),
    );
    const credit = rules.find((r) => String(r.Properties.Description).includes('of credit'));
    const wide = rules.find((r) => String(r.Properties.Description).includes('of wide'));
    expect(credit?.Properties.ScheduleExpression).toBe('cron(15 * * * ? *)');
    expect(wide?.Properties.ScheduleExpression).toBe('rate(1 hour)');
    const [creditTarget] = (credit?.Properties.Targets ?? []) as { Arn: unknown; Input: string }[];
    const settings = monitoringSettingsSchema.parse(JSON.parse(creditTarget?.Input ?? '{}').settings);
    expect(settings).toMatchObject({
      model: 'credit',
      windowHours: 24,
      alerts: { dailyBudget: expect.any(Number), on: 'impact' },
    });
    expect(JSON.stringify(creditTarget?.Arn)).toMatch(/Stepcheck/);
    const [wideTarget] = (wide?.Properties.Targets ?? []) as { Arn: unknown }[];
    expect(JSON.stringify(wideTarget?.Arn)).toMatch(/DriftCheckwide/);
  });

  it('deploys drift-check.asl.json per model with its settings and concurrency, able to start its child executions', () => {
    const machine = resources('AWS::StepFunctions::StateMachine').find(
      (m) => m.Properties.StateMachineName === 'keel-wide-drift-check',
    );
    const substitutions = machine?.Properties.DefinitionSubstitutions as Record<string, unknown>;
    expect(substitutions.MaxConcurrency).toBe('12');
    expect(monitoringSettingsSchema.parse(JSON.parse(String(substitutions.Settings))).model).toBe('wide');
    expect(Object.keys(substitutions)).toEqual(
      expect.arrayContaining(['ListPartitionsFunction', 'ProfilePartitionFunction', 'ReduceFunction']),
    );
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'states:StartExecution',
            Resource: {
              'Fn::Join': [
                '',
                Match.arrayWith([Match.stringLikeRegexp(':stateMachine:keel-wide-drift-check$')]),
              ],
            },
          }),
        ]),
      },
    });
  });

  it('alarms to SNS when a check alerts or fails', () => {
    const alarms = resources('AWS::CloudWatch::Alarm');
    const alert = alarms.find(
      (a) =>
        a.Properties.MetricName === 'DriftAlert' &&
        JSON.stringify(a.Properties.Dimensions).includes('"credit"'),
    );
    expect(alert?.Properties).toMatchObject({
      Namespace: 'Keel/Monitoring',
      Statistic: 'Maximum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    expect(JSON.stringify(alert?.Properties.AlarmActions)).toMatch(/Outcomes/);
    const failed = alarms.filter((a) =>
      String(a.Properties.AlarmDescription).endsWith('a drift check failed'),
    );
    expect(failed).toHaveLength(2);
    // One function's errors for credit, the state machine's failed executions for wide.
    expect(failed.map((a) => a.Properties.MetricName).sort()).toEqual(['Errors', 'ExecutionsFailed']);
  });

  it('draws a dashboard per model: latency, errors, served-by mix, canary split, drift, outcomes, money at risk', () => {
    const dashboards = resources('AWS::CloudWatch::Dashboard');
    expect(dashboards).toHaveLength(2);
    const body = JSON.stringify(dashboards[0]?.Properties.DashboardBody);
    for (const title of [
      'Latency (live alias)',
      'Errors and throttles',
      'Served by',
      'Canary split (invocations per version)',
      'Money at risk per day',
      'Drift scores',
      'Outcomes (labelled decisions)',
    ])
      expect(body).toContain(title);
    expect(body).toMatch(/MoneyAtRisk/);
    expect(body).toMatch(/FeaturePsi/);
  });

  it('lets the check read captures and baselines and write only new drift artifacts', () => {
    // Managed policies live beside the resources they name, in the data stack.
    const policies = resources('AWS::IAM::ManagedPolicy', dataTemplate).filter((p) =>
      String(p.Properties.Description).startsWith('Keel drift check:'),
    );
    expect(policies).toHaveLength(4);
    const text = JSON.stringify(policies);
    expect(text).not.toMatch(/s3:DeleteObject/);
    expect(text).toMatch(/drift\/\*/);
    expect(text).toMatch(/profiles\/\*/);
    // Only the steps that judge read the version's model and explainer (drift attribution).
    for (const policy of policies) {
      const judges = /: (check|reduce)$/.test(String(policy.Properties.Description));
      const own = JSON.stringify(policy);
      expect(own.includes('/models/*'), String(policy.Properties.Description)).toBe(judges);
      expect(own.includes('/explainers/*'), String(policy.Properties.Description)).toBe(judges);
    }
  });

  it('runs the stale-feature review of a model on its own schedule, with its settings', () => {
    const rules = resources('AWS::Events::Rule').filter((r) =>
      String(r.Properties.Description).startsWith('Keel stale-feature review of'),
    );
    expect(rules.map((r) => r.Properties.Description)).toEqual(['Keel stale-feature review of credit']);
    expect(rules[0]?.Properties.ScheduleExpression).toBe('rate(1 day)');
    const [target] = (rules[0]?.Properties.Targets ?? []) as { Arn: unknown; Input: string }[];
    expect(JSON.stringify(target?.Arn)).toMatch(/MonitoringFeatureReview/);
    const settings = featureReviewSettingsSchema.parse(JSON.parse(target?.Input ?? '{}').settings);
    expect(settings).toMatchObject({
      model: 'credit',
      label: 'default',
      windowDays: 30,
      retrainWithout: false,
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'keel-feature-review',
      Handler: 'index.featureReviewHandler',
      Timeout: 900,
    });
  });

  it('lets the review read models, explainers and captures and write only new records', () => {
    const [policy, ...others] = resources('AWS::IAM::ManagedPolicy', dataTemplate).filter(
      (p) => p.Properties.Description === 'Keel stale-feature review',
    );
    expect(others).toHaveLength(0);
    const text = JSON.stringify(policy);
    expect(text).not.toMatch(/s3:DeleteObject/);
    for (const prefix of ['models', 'explainers', 'evaluations', 'pipelines', 'records'])
      expect(text).toContain(`/${prefix}/*`);
    expect(text).not.toMatch(/\/datasets\/\*/);
    expect(text).toMatch(/dynamodb:PutItem/);
  });
});
