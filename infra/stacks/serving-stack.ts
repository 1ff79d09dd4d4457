import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as authorizers from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { KeelConfig } from '../../functions/contracts/config/schema.ts';
import { inferenceFunctionName } from '../../functions/contracts/inference.ts';
import { buildOnnxRuntimeLayer } from '../../layers/onnxruntime.ts';
import type { KeelCaptureStream } from '../constructs/capture.ts';
import { KeelInferenceService } from '../constructs/inference-service.ts';
import { KEEL_RUNTIME } from '../constructs/keel-function.ts';
import type { KeelStorage } from '../constructs/storage.ts';

export type ApiAuth =
  | { readonly type: 'iam' }
  | { readonly type: 'jwt'; readonly issuer: string; readonly audience: readonly string[] };

export interface KeelServingStackProps extends StackProps {
  readonly config: KeelConfig;
  readonly storage: KeelStorage;
  /** Where the inference functions' capture log lines go. @default no capture delivery (records stay in the logs) */
  readonly capture?: KeelCaptureStream;
  /** Registry version each model's deployment pins. @default 1 for every model */
  readonly modelVersions?: Readonly<Record<string, number>>;
  /** @default IAM (SigV4) on every route */
  readonly auth?: ApiAuth;
  /** Requests per second across the API, and the burst above it. @default 100 and 200 */
  readonly throttle?: { readonly rateLimit: number; readonly burstLimit: number };
}

/**
 * The serving stack: one HTTP API (API Gateway v2) with IAM auth by default (a JWT authorizer
 * as an option), throttling and access logs; the onnxruntime-node layer; and per model a
 * {@link KeelInferenceService} with its canary deployment group.
 */
export class KeelServingStack extends Stack {
  readonly api: apigw.HttpApi;
  readonly layer: lambda.LayerVersion;
  readonly services: Readonly<Record<string, KeelInferenceService>>;

  constructor(scope: Construct, id: string, props: KeelServingStackProps) {
    super(scope, id, props);
    const throttle = props.throttle ?? { rateLimit: 100, burstLimit: 200 };
    if (!(throttle.rateLimit > 0 && throttle.burstLimit >= throttle.rateLimit))
      throw new Error(
        `KeelServingStack ${id}: throttle needs rateLimit > 0 and burstLimit >= rateLimit, got ${JSON.stringify(throttle)}`,
      );
    const build = buildOnnxRuntimeLayer('arm64');
    this.layer = new lambda.LayerVersion(this, 'OnnxRuntime', {
      code: lambda.Code.fromAsset(build.dir),
      compatibleArchitectures: [lambda.Architecture.ARM_64],
      compatibleRuntimes: [KEEL_RUNTIME],
      description: 'onnxruntime-node CPU binaries for linux/arm64',
    });
    this.api = new apigw.HttpApi(this, 'Api', {
      apiName: `${props.config.project}-inference`,
      createDefaultStage: false,
    });
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    new apigw.HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle,
      accessLogSettings: { destination: new apigw.LogGroupLogDestination(accessLogs) },
    });
    const auth = props.auth ?? { type: 'iam' };
    const authorizer =
      auth.type === 'iam'
        ? new authorizers.HttpIamAuthorizer()
        : new authorizers.HttpJwtAuthorizer('Jwt', auth.issuer, { jwtAudience: [...auth.audience] });
    const services: Record<string, KeelInferenceService> = {};
    Object.entries(props.config.models).forEach(([name, model], k) => {
      services[name] = new KeelInferenceService(this, `Model-${name}`, {
        modelName: name,
        functionName: inferenceFunctionName(props.config.project, name),
        model,
        modelVersion: props.modelVersions?.[name] ?? 1,
        storage: props.storage,
        onnxRuntimeLayer: this.layer,
        api: this.api,
        authorizer,
        sharedRoutes: k === 0,
        ...(props.capture ? { capture: props.capture } : {}),
        p99LatencyAlarm: Duration.millis(Math.max(1000, model.serving.timeoutMs * 5)),
      });
    });
    this.services = services;
  }
}
