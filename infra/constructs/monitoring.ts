import { ArnFormat, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { KeelConfig } from '../../functions/contracts/config/schema.ts';
import {
  DRIFT_CHECK_FUNCTIONS,
  DRIFT_CHECK_HANDLERS,
  type DriftCheckStep,
  driftCheckFunctionName,
  driftCheckPipelineName,
  driftCheckSubstitutions,
  FEATURE_REVIEW_HANDLER,
  featureReviewFunctionName,
  featureReviewSettings,
  MONITORING_METRICS,
  MONITORING_NAMESPACE,
  monitoringSettings,
} from '../../functions/contracts/monitoring.ts';
import { RESOURCE_ENV } from '../../functions/contracts/resources.ts';
import type { KeelInferenceService } from './inference-service.ts';
import { KeelFunction } from './keel-function.ts';
import { KeelStateMachine } from './keel-state-machine.ts';
import type { KeelStorage } from './storage.ts';

export interface KeelMonitoringProps {
  readonly config: KeelConfig;
  readonly storage: KeelStorage;
  /** Where alarms go (alerts over budget, failed checks). */
  readonly alarmTopic: sns.ITopic;
  /** The inference services, for the serving half of each model's dashboard. @default no serving widgets */
  readonly services?: Readonly<Record<string, KeelInferenceService>>;
  /** Layer and bundling shared with the pipeline functions (the bundle imports the ONNX core). */
  readonly layers?: readonly lambda.ILayerVersion[];
  /** @default none */
  readonly externalModules?: readonly string[];
}

/**
 * Monitoring: the drift-check function (one for every model: the schedule passes the model's
 * settings), per model a drift-check state machine from `state-machines/drift-check.asl.json`
 * (a Distributed Map over hour partitions), the schedule rule that runs the check (the function,
 * or the state machine when `monitoring.distributed` is set), alarms to SNS on alerts and
 * failed checks, and a CloudWatch dashboard.
 */
export class KeelMonitoring extends Construct {
  readonly functions: Readonly<Record<DriftCheckStep, KeelFunction>>;
  /** The stale-feature review (one for every model: its schedule passes the model's settings). */
  readonly featureReview: KeelFunction;
  /** Each model's review schedule, where `schedules.featureReview` sets one. */
  readonly reviewSchedules: Readonly<Record<string, events.Rule>>;
  readonly stateMachines: Readonly<Record<string, KeelStateMachine>>;
  readonly schedules: Readonly<Record<string, events.Rule>>;
  readonly dashboards: Readonly<Record<string, cloudwatch.Dashboard>>;
  readonly alarms: Readonly<Record<string, readonly cloudwatch.Alarm[]>>;

  constructor(scope: Construct, id: string, props: KeelMonitoringProps) {
    super(scope, id);
    const { config, storage } = props;
    const fn = (step: DriftCheckStep, memorySize: number, timeout: Duration) => {
      const f = new KeelFunction(this, `Step-${step}`, {
        entry: 'functions/monitoring/lambda.ts',
        handler: DRIFT_CHECK_HANDLERS[step],
        functionName: driftCheckFunctionName(config.project, step),
        description: `Keel drift check: ${step}`,
        memorySize,
        timeout,
        serviceName: `drift-${step}`,
        ...(props.layers ? { layers: [...props.layers] } : {}),
        ...(props.externalModules ? { externalModules: [...props.externalModules] } : {}),
      });
      // Reads captures, baselines and partials; writes partials and reports (write-once lineage).
      // The steps that judge also read the version's model and explainer, for attribution.
      const judges = step === 'check' || step === 'reduce';
      f.role?.addManagedPolicy(
        storage.accessPolicy(`Monitoring-${step}`, {
          description: `Keel drift check: ${step}`,
          lineageRead: ['profiles', ...(judges ? ['models', 'explainers'] : [])],
          lineageWrite: ['drift'],
          captureRead: true,
          table: 'readWrite',
        }),
      );
      f.addEnvironment(RESOURCE_ENV.lineageBucket, storage.lineageBucket.bucketName);
      f.addEnvironment(RESOURCE_ENV.captureBucket, storage.captureBucket.bucketName);
      f.addEnvironment(RESOURCE_ENV.table, storage.table.tableName);
      f.bindEventBus(storage.eventBus);
      return f;
    };
    const long = Duration.minutes(15);
    const f: Record<DriftCheckStep, KeelFunction> = {
      check: fn('check', 3008, long),
      'list-partitions': fn('list-partitions', 1024, Duration.minutes(5)),
      'profile-partition': fn('profile-partition', 3008, long),
      reduce: fn('reduce', 3008, long),
    };
    this.functions = f;

    // The stale-feature review: reads captures, the version's model, explainer, manifest and
    // evaluation (for its card); writes the review and the regenerated card (records/), appends
    // to the registry's log and announces the review on the bus.
    const review = new KeelFunction(this, 'FeatureReview', {
      entry: 'functions/monitoring/lambda.ts',
      handler: FEATURE_REVIEW_HANDLER,
      functionName: featureReviewFunctionName(config.project),
      description: 'Keel stale-feature review',
      memorySize: 3008,
      timeout: long,
      serviceName: 'feature-review',
      ...(props.layers ? { layers: [...props.layers] } : {}),
      ...(props.externalModules ? { externalModules: [...props.externalModules] } : {}),
    });
    review.role?.addManagedPolicy(
      storage.accessPolicy('FeatureReview', {
        description: 'Keel stale-feature review',
        lineageRead: ['models', 'explainers', 'evaluations', 'pipelines'],
        lineageWrite: ['records'],
        captureRead: true,
        table: 'readWrite',
      }),
    );
    review.addEnvironment(RESOURCE_ENV.lineageBucket, storage.lineageBucket.bucketName);
    review.addEnvironment(RESOURCE_ENV.captureBucket, storage.captureBucket.bucketName);
    review.addEnvironment(RESOURCE_ENV.table, storage.table.tableName);
    review.bindEventBus(storage.eventBus);
    this.featureReview = review;
    const reviewSchedules: Record<string, events.Rule> = {};
    for (const [model, m] of Object.entries(config.models)) {
      if (!m.schedules.featureReview) continue;
      reviewSchedules[model] = new events.Rule(this, `FeatureReview-${model}`, {
        description: `Keel stale-feature review of ${model}`,
        schedule: events.Schedule.expression(m.schedules.featureReview),
        targets: [
          new targets.LambdaFunction(review, {
            event: events.RuleTargetInput.fromObject({ settings: featureReviewSettings(config, model) }),
            retryAttempts: 2,
          }),
        ],
      });
    }
    this.reviewSchedules = reviewSchedules;

    const machines: Record<string, KeelStateMachine> = {};
    const schedules: Record<string, events.Rule> = {};
    const dashboards: Record<string, cloudwatch.Dashboard> = {};
    const alarms: Record<string, cloudwatch.Alarm[]> = {};
    const alarmAction = new cloudwatchActions.SnsAction(props.alarmTopic);
    for (const [model, m] of Object.entries(config.models)) {
      const settings = monitoringSettings(config, model);
      const name = driftCheckPipelineName(config.project, model);
      const machine = new KeelStateMachine(this, `DriftCheck-${model}`, {
        definitionFile: 'state-machines/drift-check.asl.json',
        stateMachineName: name,
        timeout: Duration.hours(2),
        functions: Object.fromEntries(
          Object.entries(DRIFT_CHECK_FUNCTIONS).map(([placeholder, step]) => [placeholder, f[step]]),
        ),
        substitutions: driftCheckSubstitutions(settings, { maxConcurrency: m.monitoring.maxConcurrency }),
      });
      const sm = machine.stateMachine;
      // A Distributed Map runs its children as executions of this state machine.
      const stack = Stack.of(this);
      const selfArn = stack.formatArn({
        service: 'states',
        resource: 'stateMachine',
        resourceName: name,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
      sm.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [selfArn] }),
      );
      sm.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['states:DescribeExecution', 'states:StopExecution'],
          resources: [
            stack.formatArn({
              service: 'states',
              resource: 'execution',
              resourceName: `${name}:*`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          ],
        }),
      );
      const region = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
      const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
      Validations.of(sm).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:${region}:${account}:execution:${name}:*]`,
        reason:
          "The Distributed Map's child executions are named by Step Functions; only this state machine's.",
      });
      machines[model] = machine;

      schedules[model] = new events.Rule(this, `Schedule-${model}`, {
        description: `Keel drift check of ${model} (${m.monitoring.distributed ? 'Distributed Map' : 'one function'})`,
        schedule: events.Schedule.expression(m.schedules.driftCheck),
        targets: [
          m.monitoring.distributed
            ? new targets.SfnStateMachine(sm, { input: events.RuleTargetInput.fromObject({}) })
            : new targets.LambdaFunction(f.check, {
                event: events.RuleTargetInput.fromObject({ settings }),
                retryAttempts: 2,
              }),
        ],
      });

      // Alarms: an alert (money at risk over budget, or drift when so configured), and a failed check.
      const metric = (
        metricName: string,
        statistic: string,
        dimensions: Record<string, string> = { model },
      ) =>
        new cloudwatch.Metric({
          namespace: MONITORING_NAMESPACE,
          metricName,
          dimensionsMap: dimensions,
          statistic,
          period: Duration.hours(1),
        });
      const alert = new cloudwatch.Alarm(this, `Alert-${model}`, {
        alarmDescription: `${model}: the drift check alerted (${settings.alerts.on === 'impact' ? `money at risk over ${settings.costs.currency} ${settings.alerts.dailyBudget}/day` : `alerts on ${settings.alerts.on}`}); see the report in lineage`,
        metric: metric(MONITORING_METRICS.alert, 'Maximum'),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      const failed = new cloudwatch.Alarm(this, `CheckFailed-${model}`, {
        alarmDescription: `${model}: a drift check failed`,
        metric: m.monitoring.distributed
          ? sm.metricFailed({ period: Duration.hours(1), statistic: 'Sum' })
          : f.check.metricErrors({ period: Duration.hours(1), statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      for (const a of [alert, failed]) a.addAlarmAction(alarmAction);
      alarms[model] = [alert, failed];

      dashboards[model] = this.#dashboard(
        model,
        settings.alerts.dailyBudget,
        metric,
        props.services?.[model],
      );
    }
    this.stateMachines = machines;
    this.schedules = schedules;
    this.dashboards = dashboards;
    this.alarms = alarms;
  }

  #dashboard(
    model: string,
    budget: number,
    metric: (name: string, statistic: string, dimensions?: Record<string, string>) => cloudwatch.Metric,
    service: KeelInferenceService | undefined,
  ): cloudwatch.Dashboard {
    const project = Stack.of(this).stackName;
    const dashboard = new cloudwatch.Dashboard(this, `Dashboard-${model}`, {
      dashboardName: `${project}-${model}`.replaceAll(/[^A-Za-z0-9_-]/g, '-'),
      defaultInterval: Duration.days(7),
    });
    const minute = Duration.minutes(1);
    // Serving metrics carry a `version` dimension (one series per deployed version): SEARCH sums them.
    const servedBy = (kind: string) =>
      new cloudwatch.MathExpression({
        expression: `SUM(SEARCH('{Keel,model,service,version} MetricName="ServedBy${kind}" model="${model}"', 'Sum', 300))`,
        label: kind.toLowerCase(),
        period: Duration.minutes(5),
      });
    if (service) {
      const fnName = service.function.functionName;
      dashboard.addWidgets(
        new cloudwatch.GraphWidget({
          title: 'Latency (live alias)',
          left: [
            service.alias.metricDuration({ statistic: 'p50', period: minute, label: 'p50' }),
            service.alias.metricDuration({ statistic: 'p99', period: minute, label: 'p99' }),
          ],
          width: 8,
        }),
        new cloudwatch.GraphWidget({
          title: 'Errors and throttles',
          left: [
            service.alias.metricErrors({ period: minute, statistic: 'Sum', label: 'errors' }),
            service.alias.metricThrottles({ period: minute, statistic: 'Sum', label: 'throttles' }),
          ],
          width: 8,
        }),
        new cloudwatch.GraphWidget({
          title: 'Served by',
          left: ['Primary', 'Fallback', 'Default'].map(servedBy),
          stacked: true,
          width: 8,
        }),
        new cloudwatch.GraphWidget({
          title: 'Canary split (invocations per version)',
          left: [
            new cloudwatch.MathExpression({
              expression: `SEARCH('{AWS/Lambda,FunctionName,Resource,ExecutedVersion} MetricName="Invocations" FunctionName="${fnName}"', 'Sum', 60)`,
              label: 'version',
              period: minute,
            }),
          ],
          stacked: true,
          width: 8,
        }),
      );
    }
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Money at risk per day',
        left: [
          metric(MONITORING_METRICS.moneyAtRisk, 'Maximum').with({ label: 'estimate' }),
          metric(MONITORING_METRICS.moneyAtRiskLower, 'Maximum').with({ label: 'lower bound (alerts)' }),
        ],
        leftAnnotations: [{ value: budget, label: 'budget', color: cloudwatch.Color.RED }],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Drift scores',
        left: [
          new cloudwatch.MathExpression({
            expression: `SEARCH('{${MONITORING_NAMESPACE},feature,model} MetricName="${MONITORING_METRICS.featurePsi}" model="${model}"', 'Maximum', 3600)`,
            label: 'PSI',
            period: Duration.hours(1),
          }),
          metric(MONITORING_METRICS.predictionPsi, 'Maximum').with({ label: 'prediction PSI' }),
        ],
        right: [metric(MONITORING_METRICS.shareDrifted, 'Maximum').with({ label: 'share drifted' })],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Outcomes (labelled decisions)',
        left: [
          metric(MONITORING_METRICS.auc, 'Average').with({ label: 'AUC' }),
          metric(MONITORING_METRICS.precision, 'Average').with({ label: 'precision' }),
          metric(MONITORING_METRICS.recall, 'Average').with({ label: 'recall' }),
          metric(MONITORING_METRICS.ece, 'Average').with({ label: 'calibration error' }),
        ],
        right: [metric(MONITORING_METRICS.coverage, 'Average').with({ label: 'share labelled' })],
        width: 8,
      }),
    );
    return dashboard;
  }
}
