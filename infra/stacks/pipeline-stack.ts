import { execFileSync } from 'node:child_process';
import { Duration, Stack, type StackProps, Token, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as authorizers from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import * as integrations from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import type { KeelConfig } from '../../functions/contracts/config/schema.ts';
import { RETRAIN_WITHOUT_EVENT } from '../../functions/contracts/monitoring.ts';
import { PORT_ENV, RESOURCE_ENV } from '../../functions/contracts/resources.ts';
import {
  approvalApiFunctionName,
  DRIFT_EVENT,
  RETRAINING_EVENT_SOURCE,
  RETRAINING_FUNCTIONS,
  RETRAINING_HANDLERS,
  type RetrainingStep,
  retrainingFunctionName,
  retrainingPipelineName,
  retrainingSettings,
  retrainingSubstitutions,
} from '../../functions/contracts/retraining.ts';
import { buildHighsLayer } from '../../layers/highs.ts';
import type { KeelCaptureStream } from '../constructs/capture.ts';
import { KeelFederated } from '../constructs/federated.ts';
import { KEEL_RUNTIME, KeelFunction } from '../constructs/keel-function.ts';
import { KeelStateMachine } from '../constructs/keel-state-machine.ts';
import { KeelMonitoring } from '../constructs/monitoring.ts';
import type { KeelStorage } from '../constructs/storage.ts';
import type { ApiAuth, KeelServingStack } from './serving-stack.ts';

export interface KeelPipelineStackProps extends StackProps {
  readonly config: KeelConfig;
  readonly storage: KeelStorage;
  readonly serving: KeelServingStack;
  /**
   * Git commit recorded with every version the pipeline registers.
   * @default `git rev-parse HEAD` at synth, or context `keel:codeVersion`
   */
  readonly codeVersion?: string;
  /** Authorisation of the approvals routes. @default IAM (SigV4), as the serving API */
  readonly auth?: ApiAuth;
  /** The capture stream, whose delivery alarms go to the outcomes topic. @default no capture alarms */
  readonly capture?: KeelCaptureStream;
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return undefined;
  }
}

/**
 * The retraining pipeline: one Lambda function per step with least-privilege grants, and per
 * model a state machine from `state-machines/retraining.asl.json` (its settings substituted
 * from the config), the drift and schedule rules that start it, an alarm on failed executions,
 * the SageMaker training role, the approvals API routes, and an SNS topic with every outcome;
 * and monitoring ({@link KeelMonitoring}), whose alarms go to the same topic.
 */
export class KeelPipelineStack extends Stack {
  readonly functions: Readonly<Record<RetrainingStep, KeelFunction>>;
  readonly approvalApi: KeelFunction;
  readonly stateMachines: Readonly<Record<string, KeelStateMachine>>;
  readonly outcomes: sns.Topic;
  readonly sageMakerRole: iam.Role;
  /** Drift checks, their schedules, alarms and dashboards. */
  readonly monitoring: KeelMonitoring;
  /** Federated training, when a model declares it. */
  readonly federated?: KeelFederated;

  constructor(scope: Construct, id: string, props: KeelPipelineStackProps) {
    super(scope, id, props);
    const { config, storage } = props;
    const codeVersion =
      props.codeVersion ?? (this.node.tryGetContext('keel:codeVersion') as string | undefined) ?? gitCommit();
    if (!codeVersion || !/^[0-9a-f]{7,40}$/.test(codeVersion))
      throw new Error(
        `KeelPipelineStack ${id}: codeVersion must be a git commit sha, got ${JSON.stringify(codeVersion)}`,
      );

    // One bundle holds every step; it imports onnxruntime-node and (for threshold
    // post-processing, in Mitigate) HiGHS, which the layers provide.
    const highsLayer = buildHighsLayer();
    const highs = new lambda.LayerVersion(this, 'Highs', {
      code: lambda.Code.fromAsset(highsLayer.dir),
      compatibleRuntimes: [KEEL_RUNTIME],
      description: 'HiGHS linear-programming solver (WebAssembly) for threshold post-processing',
    });
    const onnx = { layers: [props.serving.layer, highs], externalModules: ['onnxruntime-node', 'highs'] };
    const fn = (step: RetrainingStep, options: { memorySize?: number; timeout?: Duration } = {}) =>
      new KeelFunction(this, `Step-${step}`, {
        entry: 'functions/retraining/lambda.ts',
        handler: RETRAINING_HANDLERS[step],
        functionName: retrainingFunctionName(config.project, step),
        description: `Keel retraining: ${step}`,
        memorySize: options.memorySize ?? 1024,
        timeout: options.timeout ?? Duration.minutes(1),
        serviceName: `retraining-${step}`,
        ...onnx,
      });
    const long = Duration.minutes(15);
    const f: Record<RetrainingStep, KeelFunction> = {
      'prepare-data': fn('prepare-data', { memorySize: 3008, timeout: long }),
      'audit-data': fn('audit-data', { memorySize: 3008, timeout: long }),
      train: fn('train', { memorySize: 10_240, timeout: long }),
      'collect-sagemaker-model': fn('collect-sagemaker-model', {
        memorySize: 2048,
        timeout: Duration.minutes(5),
      }),
      evaluate: fn('evaluate', { memorySize: 3008, timeout: long }),
      // Trains a candidate again per configured mitigation and judges each as Evaluate does.
      mitigate: fn('mitigate', { memorySize: 10_240, timeout: long }),
      'record-rejection': fn('record-rejection'),
      'request-approval': fn('request-approval'),
      register: fn('register'),
      'start-rollout': fn('start-rollout', { timeout: Duration.minutes(5) }),
      'check-rollout': fn('check-rollout'),
      notify: fn('notify'),
      'record-failure': fn('record-failure'),
    };
    this.functions = f;

    // Least privilege per step: each reads and writes only what its step touches (lineage is
    // write-once: no step may delete or overwrite), through policies defined beside the resources.
    // What a training run stores: `storeTrainingResult`'s kinds (the drift baseline and the explainer included).
    const ALL_ARTIFACTS = [
      'models',
      'pipelines',
      'evaluations',
      'audits',
      'records',
      'profiles',
      'explainers',
    ];
    const access: Record<RetrainingStep | 'approvals', Parameters<KeelStorage['accessPolicy']>[1]> = {
      'prepare-data': {
        description: 'prepare data',
        lineageWrite: ['datasets', 'records'],
        captureRead: true,
      },
      'audit-data': { description: 'audit data', lineageRead: ['datasets'], lineageWrite: ['audits'] },
      // The table: private training spends from its data source's privacy ledger first.
      train: {
        description: 'train',
        lineageRead: ['datasets', 'records', 'pipelines'],
        lineageWrite: ALL_ARTIFACTS,
        table: 'readWrite',
      },
      'collect-sagemaker-model': {
        description: 'collect SageMaker models',
        lineageRead: ['sagemaker'],
        lineageWrite: ALL_ARTIFACTS,
      },
      evaluate: {
        description: 'evaluate',
        // The candidate's explainer too: its diagnostics (mean |SHAP|) go in the report.
        lineageRead: ['datasets', 'models', 'records', 'explainers'],
        // The report, and the candidate's monitoring baseline on production rows.
        lineageWrite: ['evaluations', 'profiles'],
        table: 'read',
      },
      mitigate: {
        description: 'mitigate',
        // Train's reads and writes, and Evaluate's: it trains and judges the mitigated candidates.
        lineageRead: ['datasets', 'models', 'records', 'explainers'],
        lineageWrite: ALL_ARTIFACTS,
        table: 'read',
      },
      // Registering writes the version's model card: it reads the evaluation and the pipeline.
      'record-rejection': {
        description: 'record rejections',
        table: 'readWrite',
        lineageRead: ['evaluations', 'pipelines'],
        lineageWrite: ['records'],
      },
      'request-approval': { description: 'request approvals', table: 'readWrite' },
      register: {
        description: 'register candidates',
        table: 'readWrite',
        lineageRead: ['evaluations', 'pipelines'],
        lineageWrite: ['records'],
      },
      'start-rollout': { description: 'start rollouts', table: 'readWrite' },
      // A rollout that succeeds regenerates the promoted version's model card.
      'check-rollout': {
        description: 'check rollouts',
        table: 'readWrite',
        lineageRead: ['evaluations', 'pipelines'],
        lineageWrite: ['records'],
      },
      // A run that ends without promotion is recorded on the production version's audit trail.
      notify: { description: 'notify', table: 'readWrite' },
      'record-failure': { description: 'record failures', lineageWrite: ['records'] },
      approvals: { description: 'decide approvals', table: 'readWrite' },
    };
    const lineage = storage.lineageBucket;
    const bind = (target: KeelFunction, key: keyof typeof access) => {
      const spec = access[key];
      target.role?.addManagedPolicy(
        storage.accessPolicy(`Retraining-${key}`, {
          ...spec,
          description: `Keel retraining: ${spec.description}`,
        }),
      );
      // Every handler builds the same dependencies, so each gets the resource names; its access stays its own.
      target.addEnvironment(RESOURCE_ENV.lineageBucket, lineage.bucketName);
      target.addEnvironment(RESOURCE_ENV.captureBucket, storage.captureBucket.bucketName);
      target.addEnvironment(RESOURCE_ENV.table, storage.table.tableName);
    };
    for (const step of Object.keys(f) as RetrainingStep[]) bind(f[step], step);
    const sources = Object.values(config.models)
      .map((m) => m.data.source)
      .filter((s) => s.startsWith('s3://'));
    if (sources.length > 0) {
      f['prepare-data'].addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['s3:GetObject'],
          resources: sources.map((s) => `arn:${this.partition}:s3:::${s.slice('s3://'.length)}`),
        }),
      );
    }
    for (const step of [
      // Privacy ledger entries are announced on the bus.
      'train',
      'record-rejection',
      'register',
      'request-approval',
      'start-rollout',
      'check-rollout',
      'notify',
    ] as const)
      f[step].bindEventBus(storage.eventBus);
    // Metrics: EMF log lines in Lambda (the metrics port's adapter there), so no PutMetricData grant.
    const groups = Object.fromEntries(
      Object.values(props.serving.services).map((service) => [
        service.function.functionName,
        service.deploymentGroupRef,
      ]),
    );
    for (const step of ['start-rollout', 'check-rollout'] as const) {
      for (const service of Object.values(props.serving.services))
        service.grantRollout(f[step].role as iam.IRole);
      f[step].addEnvironment(PORT_ENV.deploymentGroups, Stack.of(this).toJsonString(groups));
    }

    // SageMaker trains large datasets with the user's image: reads the job's inputs, writes its outputs.
    this.sageMakerRole = new iam.Role(this, 'SageMakerTraining', {
      assumedBy: new iam.ServicePrincipal('sagemaker.amazonaws.com'),
      description: 'Keel retraining: SageMaker training jobs',
    });
    this.sageMakerRole.addManagedPolicy(
      storage.accessPolicy('Retraining-sagemaker', {
        description: 'Keel retraining: SageMaker training jobs',
        lineageRead: ['datasets', 'records'],
        lineageWrite: ['sagemaker'],
      }),
    );
    this.sageMakerRole.addToPolicy(
      new iam.PolicyStatement({
        actions: [
          'ecr:GetAuthorizationToken',
          'cloudwatch:PutMetricData',
          'logs:CreateLogStream',
          'logs:CreateLogGroup',
          'logs:PutLogEvents',
          'logs:DescribeLogStreams',
        ],
        resources: ['*'],
      }),
    );
    this.sageMakerRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
        resources: [this.formatArn({ service: 'ecr', resource: 'repository', resourceName: '*' })],
      }),
    );
    const region = Token.isUnresolved(this.region) ? '<AWS::Region>' : this.region;
    const account = Token.isUnresolved(this.account) ? '<AWS::AccountId>' : this.account;
    Validations.of(this.sageMakerRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecr:GetAuthorizationToken and the CloudWatch writes of a training job have no resource-level permissions.',
    });
    Validations.of(this.sageMakerRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecr:${region}:${account}:repository/*]`,
      reason:
        "The training image is the user's, named in keel.config.json per model; any repository of this account.",
    });

    // Its own key: EventBridge and CloudWatch alarms must be able to encrypt to the topic.
    const outcomesKey = new kms.Key(this, 'OutcomesKey', {
      description: 'Keel retraining outcomes topic',
      enableKeyRotation: true,
    });
    for (const service of ['events.amazonaws.com', 'cloudwatch.amazonaws.com'])
      outcomesKey.grant(new iam.ServicePrincipal(service), 'kms:Decrypt', 'kms:GenerateDataKey');
    this.outcomes = new sns.Topic(this, 'Outcomes', {
      displayName: 'Keel retraining outcomes',
      masterKey: outcomesKey,
      enforceSSL: true,
    });
    new events.Rule(this, 'OutcomesToSns', {
      eventBus: storage.eventBus,
      description: 'Every retraining outcome, to the outcomes topic',
      eventPattern: { source: [RETRAINING_EVENT_SOURCE] },
      targets: [new targets.SnsTopic(this.outcomes)],
    });

    // The capture path's own failure modes (delivery delayed or failing) alarm to the same topic.
    props.capture?.addAlarms(this, 'Capture', new cloudwatchActions.SnsAction(this.outcomes));

    this.monitoring = new KeelMonitoring(this, 'Monitoring', {
      config,
      storage,
      alarmTopic: this.outcomes,
      services: props.serving.services,
      ...onnx,
    });

    const machines: Record<string, KeelStateMachine> = {};
    for (const [model, modelConfig] of Object.entries(config.models)) {
      const settings = retrainingSettings(config, model, { codeVersion });
      const machine = new KeelStateMachine(this, `Retraining-${model}`, {
        definitionFile: 'state-machines/retraining.asl.json',
        stateMachineName: retrainingPipelineName(config.project, model),
        timeout: Duration.seconds(settings.approval.timeoutSeconds).plus(Duration.days(1)),
        functions: Object.fromEntries(
          Object.entries(RETRAINING_FUNCTIONS).map(([placeholder, step]) => [placeholder, f[step]]),
        ),
        substitutions: retrainingSubstitutions(settings, {
          rolloutPollSeconds: modelConfig.retraining.rolloutPollSeconds,
          sageMakerRoleArn: this.sageMakerRole.roleArn,
          sageMakerOutputUri: lineage.s3UrlForObject('sagemaker/'),
        }),
      });
      const sm = machine.stateMachine;
      // `createTrainingJob.sync`: start, follow (through an EventBridge rule Step Functions manages), stop.
      sm.addToRolePolicy(
        new iam.PolicyStatement({
          actions: [
            'sagemaker:CreateTrainingJob',
            'sagemaker:DescribeTrainingJob',
            'sagemaker:StopTrainingJob',
            'sagemaker:AddTags',
          ],
          resources: [
            this.formatArn({
              service: 'sagemaker',
              resource: 'training-job',
              resourceName: `${model.slice(0, 30)}-*`,
            }),
          ],
        }),
      );
      sm.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
          resources: [
            this.formatArn({
              service: 'events',
              resource: 'rule',
              resourceName: 'StepFunctionsGetEventsForSageMakerTrainingJobsRule',
            }),
          ],
        }),
      );
      this.sageMakerRole.grantPassRole(sm.role);
      Validations.of(sm).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:${region}:${account}:training-job/${model.slice(0, 30)}-*]`,
        reason: "Training jobs are named per execution (model + hash); only this model's.",
      });

      // Triggers: drift reported by monitoring, and the model's retraining schedule.
      new events.Rule(this, `DriftTrigger-${model}`, {
        eventBus: storage.eventBus,
        description: `Retrain ${model} when monitoring reports drift`,
        eventPattern: {
          source: [DRIFT_EVENT.source],
          detailType: [DRIFT_EVENT.detailType],
          detail: { model: [model] },
        },
        targets: [
          new targets.SfnStateMachine(sm, {
            input: events.RuleTargetInput.fromObject({
              trigger: { type: 'drift', reason: events.EventField.fromPath('$.detail.reason') },
            }),
          }),
        ],
      });
      // A stale-feature review that flagged columns, with `featureReview.retrainWithout` set.
      new events.Rule(this, `RetrainWithoutTrigger-${model}`, {
        eventBus: storage.eventBus,
        description: `Retrain ${model} without the columns a stale-feature review flagged`,
        eventPattern: {
          source: [RETRAIN_WITHOUT_EVENT.source],
          detailType: [RETRAIN_WITHOUT_EVENT.detailType],
          detail: { model: [model] },
        },
        targets: [
          new targets.SfnStateMachine(sm, {
            input: events.RuleTargetInput.fromObject({
              trigger: { type: 'feature-review', reason: events.EventField.fromPath('$.detail.reason') },
              without: events.EventField.fromPath('$.detail.without'),
            }),
          }),
        ],
      });
      if (modelConfig.schedules.retrain) {
        new events.Rule(this, `ScheduleTrigger-${model}`, {
          description: `Retrain ${model} on its schedule`,
          schedule: events.Schedule.expression(modelConfig.schedules.retrain),
          targets: [
            new targets.SfnStateMachine(sm, {
              input: events.RuleTargetInput.fromObject({
                trigger: { type: 'schedule', reason: `scheduled ${modelConfig.schedules.retrain}` },
              }),
            }),
          ],
        });
      }
      for (const [metric, name] of [
        [sm.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }), 'Failed'],
        [sm.metricTimedOut({ period: Duration.minutes(5), statistic: 'Sum' }), 'TimedOut'],
      ] as const) {
        new cloudwatch.Alarm(this, `Executions${name}-${model}`, {
          alarmDescription: `A ${model} retraining execution ${name === 'Failed' ? 'failed (a gate rejection, a rollback or a broken step)' : 'timed out'}`,
          metric,
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }).addAlarmAction(new cloudwatchActions.SnsAction(this.outcomes));
      }
      machines[model] = machine;
    }
    this.stateMachines = machines;

    // The approvals API, on the serving API: `GET /v1/approvals`, `POST /v1/approvals/{execution}`.
    this.approvalApi = new KeelFunction(this, 'ApprovalApi', {
      entry: 'functions/retraining/lambda.ts',
      handler: 'approvalApiHandler',
      functionName: approvalApiFunctionName(config.project),
      description: 'Keel: approve or reject retraining candidates',
      serviceName: 'approvals-api',
      ...onnx,
    });
    bind(this.approvalApi, 'approvals');
    this.approvalApi.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'],
        resources: Object.values(machines).map((m) => m.stateMachine.stateMachineArn),
      }),
    );
    const auth = props.auth ?? { type: 'iam' };
    const authorizer =
      auth.type === 'iam'
        ? new authorizers.HttpIamAuthorizer()
        : new authorizers.HttpJwtAuthorizer('ApprovalsJwt', auth.issuer, { jwtAudience: [...auth.audience] });
    const integration = new integrations.HttpLambdaIntegration('Approvals', this.approvalApi);
    if (Object.values(config.models).some((m) => m.federated)) {
      this.federated = new KeelFederated(this, 'Federated', {
        config,
        storage,
        retraining: Object.fromEntries(
          Object.entries(machines).map(([m, machine]) => [m, machine.stateMachine]),
        ),
        api: props.serving.api,
        // Clients speak as IAM roles, whatever authorises the approvals.
        authorizer: new authorizers.HttpIamAuthorizer(),
        alarmTopic: this.outcomes,
      });
    }
    for (const [path, method] of [
      ['/v1/approvals', apigw.HttpMethod.GET],
      ['/v1/approvals/{execution}', apigw.HttpMethod.POST],
    ] as const) {
      new apigw.HttpRoute(this, `Route${method}${path.replaceAll(/[^A-Za-z]/g, '')}`, {
        httpApi: props.serving.api,
        routeKey: apigw.HttpRouteKey.with(path, method),
        integration,
        authorizer,
      });
    }
  }
}
