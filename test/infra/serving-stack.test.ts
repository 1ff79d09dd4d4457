import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../functions/contracts/config/load.ts';
import { KeelDataStack } from '../../infra/stacks/data-stack.ts';
import { type ApiAuth, KeelServingStack } from '../../infra/stacks/serving-stack.ts';

async function serving(options: { auth?: ApiAuth; shift?: unknown; versions?: Record<string, number> } = {}) {
  const app = new App();
  const config = await loadConfig('keel.config.json');
  const credit = config.models.credit;
  if (!credit) throw new Error('the shipped config declares credit');
  const models = options.shift
    ? {
        credit: {
          ...credit,
          serving: { ...credit.serving, shift: options.shift as typeof credit.serving.shift },
        },
      }
    : config.models;
  const data = new KeelDataStack(app, 'data', { config });
  const stack = new KeelServingStack(app, 'serving', {
    config: { ...config, models },
    storage: data.storage,
    ...(options.auth ? { auth: options.auth } : {}),
    ...(options.versions ? { modelVersions: options.versions } : {}),
  });
  return Template.fromStack(stack);
}

describe('KeelServingStack', () => {
  it('runs inference on Node 22 arm64 with the onnxruntime layer, pinned to a model version', async () => {
    // Act
    const template = await serving({ versions: { credit: 4 } });

    // Assess
    template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'keel-credit-inference',
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Layers: [Match.objectLike({ Ref: Match.stringLikeRegexp('OnnxRuntime') })],
      Environment: {
        Variables: Match.objectLike({
          KEEL_MODEL_NAME: 'credit',
          KEEL_MODEL_VERSION: '4',
          KEEL_SAFE_DEFAULT: JSON.stringify({ probability: 0.5, label: 0 }),
        }),
      },
    });
    template.hasResourceProperties('AWS::Lambda::LayerVersion', { CompatibleArchitectures: ['arm64'] });
    template.hasResourceProperties('AWS::Lambda::Alias', { Name: 'live' });
  });

  it('rolls out through CodeDeploy with the configured canary and rolls back on four alarms', async () => {
    // Act
    const template = await serving();

    // Assess
    template.hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
      DeploymentConfigName: 'CodeDeployDefault.LambdaCanary10Percent5Minutes',
      AutoRollbackConfiguration: {
        Enabled: true,
        Events: Match.arrayWith([
          'DEPLOYMENT_FAILURE',
          'DEPLOYMENT_STOP_ON_REQUEST',
          'DEPLOYMENT_STOP_ON_ALARM',
        ]),
      },
      AlarmConfiguration: Match.objectLike({ Enabled: true }),
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('golden-set smoke test'),
      Handler: 'index.handler',
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('canary against baseline'),
    });
    const aliasResource = Object.values(template.findResources('AWS::Lambda::Alias'))[0] as {
      UpdatePolicy: {
        CodeDeployLambdaAliasUpdate: { BeforeAllowTrafficHook: unknown; AfterAllowTrafficHook: unknown };
      };
    };
    expect(aliasResource.UpdatePolicy.CodeDeployLambdaAliasUpdate.BeforeAllowTrafficHook).toBeDefined();
    expect(aliasResource.UpdatePolicy.CodeDeployLambdaAliasUpdate.AfterAllowTrafficHook).toBeDefined();
    const group = Object.values(template.findResources('AWS::CodeDeploy::DeploymentGroup'))[0] as {
      Properties: { AlarmConfiguration: { Alarms: unknown[] } };
    };
    expect(group.Properties.AlarmConfiguration.Alarms).toHaveLength(4);
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as {
      Properties: { AlarmDescription: string };
    }[];
    expect(alarms.map((a) => a.Properties.AlarmDescription).join('\n')).toMatch(
      /failed invocations[\s\S]*p99 latency[\s\S]*not served by the primary[\s\S]*what the version scored at evaluation/,
    );
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'PredictionShiftPsi',
      Namespace: 'Keel',
      Threshold: 0.25,
    });
  });

  it('creates a custom deployment configuration for a shift CodeDeploy does not predefine', async () => {
    // Act
    const template = await serving({ shift: { type: 'linear', percentage: 25, intervalMinutes: 2 } });

    // Assess
    template.hasResourceProperties('AWS::CodeDeploy::DeploymentConfig', {
      DeploymentConfigName: 'KeelLinear25PercentEvery2Minutes',
      TrafficRoutingConfig: {
        Type: 'TimeBasedLinear',
        TimeBasedLinear: { LinearPercentage: 25, LinearInterval: 2 },
      },
    });
  });

  it('authorises every route with IAM by default, throttles and logs access', async () => {
    // Act
    const template = await serving();

    // Assess
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')) as {
      Properties: { RouteKey: string; AuthorizationType: string };
    }[];
    expect(routes.map((r) => r.Properties.RouteKey).sort()).toEqual(
      [
        'GET /v2/health/live',
        'GET /v2/health/ready',
        'GET /v2/models/credit',
        'GET /v2/models/credit/ready',
        'POST /v1/feedback',
        'POST /v1/models/credit:predict',
        'POST /v1/models/credit:explain',
        'POST /v1/models/credit/feedback',
        'POST /v2/models/credit/infer',
        'POST /v2/models/credit/versions/{version}/infer',
      ].sort(),
    );
    for (const route of routes) expect(route.Properties.AuthorizationType).toBe('AWS_IAM');
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
      AccessLogSettings: Match.objectLike({ DestinationArn: Match.anyValue() }),
    });
  });

  it('takes a JWT authorizer as an option', async () => {
    // Act
    const template = await serving({
      auth: { type: 'jwt', issuer: 'https://issuer.example.com', audience: ['keel'] },
    });

    // Assess
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      JwtConfiguration: { Issuer: 'https://issuer.example.com', Audience: ['keel'] },
    });
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')) as {
      Properties: { AuthorizationType: string };
    }[];
    for (const route of routes) expect(route.Properties.AuthorizationType).toBe('JWT');
  });

  it('gives inference read access to model artifacts, their explainers and model cards only: no data, no captures', async () => {
    // Act
    const app = new App();
    const config = await loadConfig('keel.config.json');
    const data = new KeelDataStack(app, 'data', { config });
    const template = Template.fromStack(data);

    // Assess
    const prefix = (p: string) => ({
      'Fn::Join': ['', [Match.objectLike({ 'Fn::GetAtt': Match.anyValue() }), `/${p}/*`]],
    });
    template.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      Description: Match.stringLikeRegexp('^Keel inference'),
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Action: 's3:GetObject',
            Effect: 'Allow',
            // Cards are records, made of evaluation aggregates and pipelines; none holds rows.
            Resource: [
              prefix('models'),
              prefix('explainers'),
              prefix('records'),
              prefix('evaluations'),
              prefix('pipelines'),
            ],
          },
        ]),
      },
    });
  });

  it('refuses a model version that is not a positive integer, naming it', async () => {
    await expect(serving({ versions: { credit: 0 } })).rejects.toThrow(
      /modelVersion must be a positive integer, got 0/,
    );
  });
});

describe('shadow scoring', () => {
  it('feeds the capture lines to a shadow function when the model samples traffic for it', async () => {
    // Prepare
    const app = new App();
    const config = await loadConfig('keel.config.json');
    const credit = config.models.credit;
    if (!credit) throw new Error('the shipped config declares credit');
    const models = { credit: { ...credit, serving: { ...credit.serving, shadowSampleRate: 0.2 } } };
    const data = new KeelDataStack(app, 'data', { config });
    const stack = new KeelServingStack(app, 'serving', {
      config: { ...config, models },
      storage: data.storage,
    });

    // Act
    const template = Template.fromStack(stack);

    // Assess
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('capture monitor'),
      Environment: { Variables: Match.objectLike({ KEEL_SHADOW_SAMPLE_RATE: '0.2' }) },
    });
    template.hasResourceProperties('AWS::Logs::SubscriptionFilter', {
      FilterPattern: '{ $.keel_capture = 1 }',
      DestinationArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('Shadow'), 'Arn'] },
    });
    // The monitor reads the versions' evaluation profiles (their expected scores); the
    // inference function, which never needs the data samples in them, does not.
    const dataTemplate = Template.fromStack(data);
    const profileRead = Object.entries(dataTemplate.findResources('AWS::IAM::ManagedPolicy')).find(([, r]) =>
      String(r.Properties?.Description).includes('evaluation profiles'),
    );
    expect(JSON.stringify(profileRead?.[1].Properties?.PolicyDocument)).toContain('/profiles/*');
    expect(JSON.stringify(profileRead?.[1].Properties?.PolicyDocument)).not.toContain('/models/*');
    const rolesWithProfileRead = Object.keys(template.findResources('AWS::IAM::Role')).filter((id) =>
      JSON.stringify(template.toJSON().Resources[id].Properties.ManagedPolicyArns ?? []).includes(
        'ProfileRead',
      ),
    );
    expect(rolesWithProfileRead).toHaveLength(1);
    expect(rolesWithProfileRead[0]).toMatch(/Shadow/);
  });
});

describe('capture delivery', () => {
  it('routes marked log lines through Firehose into the capture bucket, partitioned like the local runtime', async () => {
    // Prepare
    const app = new App();
    const config = await loadConfig('keel.config.json');
    const data = new KeelDataStack(app, 'data', { config });
    const stack = new KeelServingStack(app, 'serving', {
      config,
      storage: data.storage,
      capture: data.capture,
    });

    // Act
    const dataTemplate = Template.fromStack(data);
    const servingTemplate = Template.fromStack(stack);

    // Assess
    dataTemplate.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
      ExtendedS3DestinationConfiguration: Match.objectLike({
        Prefix:
          'capture/!{partitionKeyFromQuery:type}/model=!{partitionKeyFromQuery:model}/date=!{partitionKeyFromQuery:date}/hour=!{partitionKeyFromQuery:hour}/',
        DynamicPartitioningConfiguration: { Enabled: true },
      }),
    });
    servingTemplate.hasResourceProperties('AWS::Logs::SubscriptionFilter', {
      FilterPattern: '{ $.keel_capture = 1 }',
    });
  });
});
