import { ArnFormat, type CfnElement, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as authorizers from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import * as integrations from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as logsDestinations from 'aws-cdk-lib/aws-logs-destinations';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { CAPTURE_MARKER } from '../../functions/contracts/capture.ts';
import { trafficShiftOf } from '../../functions/contracts/config/load.ts';
import type { ModelConfig } from '../../functions/contracts/config/schema.ts';
import { codeDeployConfigName } from '../../functions/contracts/deployment.ts';
import { INFERENCE_ENV, requestSettingsOf } from '../../functions/contracts/inference.ts';
import type { KeelCaptureStream } from './capture.ts';
import { KeelFunction } from './keel-function.ts';

/** How cdk-nag prints a stack attribute in a finding: its value, or `<AWS::…>` when unresolved. */
function nagValue(value: string, pseudo: string): string {
  return Token.isUnresolved(value) ? `<${pseudo}>` : value;
}

export interface KeelInferenceServiceProps {
  readonly modelName: string;
  /** Name of the inference function, which the deploy API addresses (`<project>-<model>-inference`). */
  readonly functionName: string;
  readonly model: ModelConfig;
  /** The registry version this deployment pins (a new version rolls out through CodeDeploy). */
  readonly modelVersion: number;
  /** The registry table, lineage bucket and the serving-read policy over them. */
  readonly storage: {
    readonly servingReadPolicy: iam.IManagedPolicy;
    /** The capture monitor's read of version profiles (the canaries' expected scores). */
    readonly profileReadPolicy: iam.IManagedPolicy;
    readonly table: dynamodb.ITable;
    readonly lineageBucket: s3.IBucket;
  };
  /** The onnxruntime-node layer (one architecture, see `layers/onnxruntime.ts`). */
  readonly onnxRuntimeLayer: lambda.ILayerVersion;
  readonly api: apigw.HttpApi;
  /** Who may call the routes. @default IAM (SigV4) */
  readonly authorizer?: apigw.IHttpRouteAuthorizer;
  /** Capture delivery: the function's capture log lines go to S3 through it. @default none */
  readonly capture?: KeelCaptureStream;
  /** Also route the model-independent `/v1/feedback` and `/v2/health/*` here. @default false */
  readonly sharedRoutes?: boolean;
  /** p99 latency of the live alias above which a rollout rolls back. @default 1000 ms */
  readonly p99LatencyAlarm?: Duration;
  /** Share of requests served by the fallback or the safe default that rolls back. @default 0.05 */
  readonly fallbackRateAlarm?: number;
  /** Share of failed invocations that rolls back. @default 0.01 */
  readonly errorRateAlarm?: number;
  /**
   * Population stability index of the canary's predictions against its own at evaluation (the
   * stored profile's score buckets; the other serving versions' for a version without one)
   * that rolls back. @default 0.25
   */
  readonly predictionShiftAlarm?: number;
}

/**
 * One model's serving: the inference Lambda (pinned by its environment to one registry
 * version), the `live` alias that carries traffic, the HTTP routes on the shared API, and a
 * CodeDeploy deployment group that shifts `live` to each new version on the model's configured
 * schedule and rolls back on the error-rate, p99-latency, fallback-rate and prediction-shift
 * alarms.
 */
export class KeelInferenceService extends Construct {
  readonly function: KeelFunction;
  readonly alias: lambda.Alias;
  readonly deploymentGroup: codedeploy.LambdaDeploymentGroup;
  readonly alarms: readonly cloudwatch.Alarm[];
  /** CodeDeploy's BeforeAllowTraffic hook: the golden-set smoke test. */
  readonly preTrafficHook: KeelFunction;
  /** CodeDeploy's AfterAllowTraffic hook: canary against baseline. */
  readonly postTrafficHook: KeelFunction;

  constructor(scope: Construct, id: string, props: KeelInferenceServiceProps) {
    super(scope, id);
    if (!Number.isSafeInteger(props.modelVersion) || props.modelVersion < 1)
      throw new Error(
        `KeelInferenceService ${id}: modelVersion must be a positive integer, got ${props.modelVersion}`,
      );
    const serving = props.model.serving;
    const request = requestSettingsOf(props.model);
    const serviceName = `${props.modelName}-inference`;
    this.function = new KeelFunction(this, 'Function', {
      entry: 'functions/inference/lambda.ts',
      functionName: props.functionName,
      description: `Keel inference for ${props.modelName}@${props.modelVersion}`,
      memorySize: 1769, // one full vCPU on arm64
      timeout: Duration.seconds(10),
      layers: [props.onnxRuntimeLayer],
      externalModules: ['onnxruntime-node'],
      serviceName,
      environment: {
        [INFERENCE_ENV.modelName]: props.modelName,
        [INFERENCE_ENV.modelVersion]: String(props.modelVersion),
        [INFERENCE_ENV.safeDefault]: JSON.stringify(serving.safeDefault),
        [INFERENCE_ENV.timeoutMs]: String(serving.timeoutMs),
        [INFERENCE_ENV.maxBatch]: String(serving.maxBatchRows),
        [INFERENCE_ENV.requestFields]: JSON.stringify(request.requestFields),
        [INFERENCE_ENV.piiFields]: JSON.stringify(request.piiFields),
        [INFERENCE_ENV.inputRange]: JSON.stringify(request.inputRange),
        [INFERENCE_ENV.explanationSampleRate]: String(request.explanationSampleRate),
      },
    }).bindServingRead(props.storage);
    this.alias = new lambda.Alias(this, 'Live', { aliasName: 'live', version: this.function.currentVersion });
    props.capture?.subscribe(this, 'Capture', this.function.logGroup);

    // The capture-stream monitor: each version's prediction shift from its evaluation profile,
    // and shadow scoring when the model samples traffic for a shadow; never on the request path
    // (see shadow-lambda.ts).
    {
      const shadow = new KeelFunction(this, 'Shadow', {
        entry: 'functions/inference/shadow-lambda.ts',
        description: `Keel: capture monitor of ${props.modelName} (version shift, shadow scoring)`,
        memorySize: 1769,
        timeout: Duration.minutes(1),
        layers: [props.onnxRuntimeLayer],
        externalModules: ['onnxruntime-node'],
        serviceName: `${props.modelName}-monitor`,
        environment: {
          [INFERENCE_ENV.modelName]: props.modelName,
          KEEL_SHADOW_SAMPLE_RATE: String(serving.shadowSampleRate),
        },
      }).bindServingRead(props.storage);
      shadow.role?.addManagedPolicy(props.storage.profileReadPolicy);
      new logs.SubscriptionFilter(this, 'ShadowFeed', {
        logGroup: this.function.logGroup,
        destination: new logsDestinations.LambdaDestination(shadow),
        filterPattern: logs.FilterPattern.literal(`{ $.${CAPTURE_MARKER} = 1 }`),
      });
      props.capture?.subscribe(this, 'ShadowCapture', shadow.logGroup);
    }

    const integration = new integrations.HttpLambdaIntegration(`${id}Integration`, this.alias);
    const authorizer = props.authorizer ?? new authorizers.HttpIamAuthorizer();
    const route = (path: string, method: apigw.HttpMethod) =>
      props.api.addRoutes({ path, methods: [method], integration, authorizer });
    const m = props.modelName;
    route(`/v1/models/${m}:predict`, apigw.HttpMethod.POST);
    route(`/v1/models/${m}:explain`, apigw.HttpMethod.POST);
    route(`/v1/models/${m}/feedback`, apigw.HttpMethod.POST);
    route(`/v2/models/${m}`, apigw.HttpMethod.GET);
    route(`/v2/models/${m}/ready`, apigw.HttpMethod.GET);
    route(`/v2/models/${m}/infer`, apigw.HttpMethod.POST);
    route(`/v2/models/${m}/versions/{version}/infer`, apigw.HttpMethod.POST);
    if (props.sharedRoutes) {
      route('/v1/feedback', apigw.HttpMethod.POST);
      route('/v2/health/live', apigw.HttpMethod.GET);
      route('/v2/health/ready', apigw.HttpMethod.GET);
    }

    // Rollback alarms, on the live alias (canary and baseline together) and on this version's
    // own EMF metrics (the `version` dimension the handler sets).
    const dimensions = { service: serviceName, model: m, version: String(props.modelVersion) };
    const emf = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: 'Keel',
        metricName,
        dimensionsMap: dimensions,
        statistic: 'Sum',
        period: Duration.minutes(1),
      });
    const errorRate = new cloudwatch.MathExpression({
      expression: 'IF(invocations > 0, errors / invocations, 0)',
      usingMetrics: {
        errors: this.alias.metricErrors({ period: Duration.minutes(1), statistic: 'Sum' }),
        invocations: this.alias.metricInvocations({ period: Duration.minutes(1), statistic: 'Sum' }),
      },
      period: Duration.minutes(1),
    });
    const fallbackRate = new cloudwatch.MathExpression({
      expression: 'IF(total > 0, (fallback + safe) / total, 0)',
      usingMetrics: {
        fallback: emf('ServedByFallback'),
        safe: emf('ServedByDefault'),
        total: new cloudwatch.MathExpression({
          expression: 'primary + fallbackAll + safeAll',
          usingMetrics: {
            primary: emf('ServedByPrimary'),
            fallbackAll: emf('ServedByFallback'),
            safeAll: emf('ServedByDefault'),
          },
        }),
      },
      period: Duration.minutes(1),
    });
    const alarm = (name: string, metric: cloudwatch.IMetric, threshold: number, description: string) =>
      new cloudwatch.Alarm(this, name, {
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `${m}@${props.modelVersion}: ${description}; rolls back a rollout in progress`,
      });
    const p99 = props.p99LatencyAlarm ?? Duration.seconds(1);
    this.alarms = [
      alarm('ErrorRate', errorRate, props.errorRateAlarm ?? 0.01, 'share of failed invocations'),
      alarm(
        'LatencyP99',
        this.alias.metricDuration({ statistic: 'p99', period: Duration.minutes(1) }),
        p99.toMilliseconds(),
        `p99 latency above ${p99.toMilliseconds()} ms`,
      ),
      alarm(
        'FallbackRate',
        fallbackRate,
        props.fallbackRateAlarm ?? 0.05,
        'share of requests not served by the primary model',
      ),
      alarm(
        'PredictionShift',
        new cloudwatch.Metric({
          namespace: 'Keel',
          metricName: 'PredictionShiftPsi',
          // As the capture monitor publishes it (Powertools adds its service dimension).
          dimensionsMap: { service: `${m}-monitor`, model: m, version: String(props.modelVersion) },
          statistic: 'Maximum',
          period: Duration.minutes(1),
        }),
        props.predictionShiftAlarm ?? 0.25,
        'predictions shifted from what the version scored at evaluation',
      ),
    ];

    const shift = trafficShiftOf(serving.shift);
    const name = codeDeployConfigName(shift);
    const deploymentConfig = name.startsWith('CodeDeployDefault.')
      ? codedeploy.LambdaDeploymentConfig.fromLambdaDeploymentConfigName(this, 'Config', name)
      : new codedeploy.LambdaDeploymentConfig(this, 'Config', {
          deploymentConfigName: name,
          trafficRouting:
            shift.type === 'canary'
              ? new codedeploy.TimeBasedCanaryTrafficRouting({
                  percentage: shift.percentage,
                  interval: Duration.minutes(shift.intervalMinutes),
                })
              : shift.type === 'linear'
                ? new codedeploy.TimeBasedLinearTrafficRouting({
                    percentage: shift.percentage,
                    interval: Duration.minutes(shift.intervalMinutes),
                  })
                : codedeploy.TrafficRouting.allAtOnce(),
        });
    // Before any traffic moves, the new version must answer its golden set (see hooks.ts).
    const preTraffic = new KeelFunction(this, 'PreTraffic', {
      entry: 'functions/inference/pre-traffic.ts',
      description: `Keel: golden-set smoke test of ${props.modelName} rollouts`,
      timeout: Duration.minutes(2),
      serviceName: `${props.modelName}-pre-traffic`,
    }).bindServingRead(props.storage);
    // After the shift: the new version's fallback rate and prediction shift against the old one's.
    const postTraffic = new KeelFunction(this, 'PostTraffic', {
      entry: 'functions/inference/post-traffic.ts',
      description: `Keel: canary against baseline comparison of ${props.modelName} rollouts`,
      timeout: Duration.minutes(2),
      serviceName: `${props.modelName}-post-traffic`,
    });
    postTraffic.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['cloudwatch:GetMetricStatistics'], resources: ['*'] }),
    );
    this.preTrafficHook = preTraffic;
    this.postTrafficHook = postTraffic;
    this.#grantHook(preTraffic, ['lambda:InvokeFunction', 'lambda:GetFunctionConfiguration']);
    this.#grantHook(postTraffic, ['lambda:GetFunctionConfiguration']);

    this.deploymentGroup = new codedeploy.LambdaDeploymentGroup(this, 'Deployment', {
      alias: this.alias,
      deploymentConfig,
      preHook: preTraffic,
      postHook: postTraffic,
      alarms: [...this.alarms],
      autoRollback: { failedDeployment: true, stoppedDeployment: true, deploymentInAlarm: true },
    });
    Validations.of(this.deploymentGroup).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited]',
      reason:
        "AWS's scoped service policy for CodeDeploy Lambda deployments (alias updates, hook invocations).",
    });
    Validations.of(this.deploymentGroup).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(postTraffic.node.defaultChild as CfnElement)}.Arn>:*]`,
      reason: 'CodeDeploy invokes the post-traffic hook function (any of its versions); CDK grants it so.',
    });
    Validations.of(this.deploymentGroup).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(preTraffic.node.defaultChild as CfnElement)}.Arn>:*]`,
      reason: 'CodeDeploy invokes the pre-traffic hook function (any of its versions); CDK grants it so.',
    });
  }

  /**
   * How the deploy API's CodeDeploy adapter finds this service's deployment group and hooks
   * (an entry of `KEEL_DEPLOYMENT_GROUPS`).
   */
  get deploymentGroupRef() {
    return {
      application: this.deploymentGroup.application.applicationName,
      deploymentGroup: this.deploymentGroup.deploymentGroupName,
      hooks: {
        beforeAllowTraffic: this.preTrafficHook.functionName,
        afterAllowTraffic: this.postTrafficHook.functionName,
      },
    };
  }

  #rolloutPolicy: iam.ManagedPolicy | undefined;

  /**
   * Lets `role` roll a new version out: publish a version of the function pinned by its
   * environment, and start and follow a deployment in this service's group. The policy lives
   * in this stack, beside the resources it names.
   */
  grantRollout(role: iam.IRole): void {
    if (!this.#rolloutPolicy) {
      const stack = Stack.of(this);
      const codedeployArn = (resource: string, resourceName: string) =>
        stack.formatArn({
          service: 'codedeploy',
          resource,
          resourceName,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        });
      this.#rolloutPolicy = new iam.ManagedPolicy(this, 'RolloutPolicy', {
        description: `Keel: roll out new versions of ${this.function.node.path}`,
        statements: [
          new iam.PolicyStatement({
            actions: [
              'lambda:GetFunctionConfiguration',
              'lambda:UpdateFunctionConfiguration',
              'lambda:PublishVersion',
              'lambda:GetAlias',
            ],
            resources: [this.function.functionArn, `${this.function.functionArn}:*`],
          }),
          new iam.PolicyStatement({
            actions: ['codedeploy:CreateDeployment', 'codedeploy:GetDeployment'],
            resources: [this.deploymentGroup.deploymentGroupArn],
          }),
          new iam.PolicyStatement({
            actions: ['codedeploy:GetDeploymentConfig'],
            resources: [codedeployArn('deploymentconfig', '*')],
          }),
          new iam.PolicyStatement({
            actions: ['codedeploy:RegisterApplicationRevision', 'codedeploy:GetApplicationRevision'],
            resources: [codedeployArn('application', this.deploymentGroup.application.applicationName)],
          }),
        ],
      });
      const region = nagValue(stack.region, 'AWS::Region');
      const account = nagValue(stack.account, 'AWS::AccountId');
      Validations.of(this.#rolloutPolicy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(this.function.node.defaultChild as CfnElement)}.Arn>:*]`,
        reason:
          'A rollout publishes and addresses a new version of this one function; versions are numbered at run time.',
      });
      Validations.of(this.#rolloutPolicy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:codedeploy:${region}:${account}:deploymentconfig:*]`,
        reason:
          'Deployment configurations (predefined CodeDeploy ones and Keel custom ones) are read by name.',
      });
    }
    role.addManagedPolicy(this.#rolloutPolicy);
  }

  /** What a rollout hook needs on this service's function versions and on CodeDeploy. */
  #grantHook(hook: KeelFunction, lambdaActions: readonly string[]): void {
    const stack = Stack.of(this);
    hook.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [...lambdaActions],
        resources: [this.function.functionArn, `${this.function.functionArn}:*`],
      }),
    );
    hook.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['codedeploy:GetDeployment'],
        resources: [
          stack.formatArn({
            service: 'codedeploy',
            resource: 'deploymentgroup',
            resourceName: '*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
    );
    Validations.of(hook).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(this.function.node.defaultChild as CfnElement)}.Arn>:*]`,
      reason: 'The hook addresses whichever version of this one function a rollout deploys.',
    });
    Validations.of(hook).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:codedeploy:${nagValue(stack.region, 'AWS::Region')}:${nagValue(stack.account, 'AWS::AccountId')}:deploymentgroup:*]`,
      reason: 'GetDeployment authorises on the deployment group, whose generated name is not known here.',
    });
  }
}
