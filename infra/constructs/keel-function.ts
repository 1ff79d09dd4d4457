import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { PORT_ENV } from '../../functions/commons/composition.ts';
import { RESOURCE_ENV } from '../../functions/commons/resources.ts';

export interface KeelFunctionProps {
  /** Path of the handler module, e.g. `functions/registry/handler.ts`. */
  readonly entry: string;
  /** @default 'handler' */
  readonly handler?: string;
  readonly description?: string;
  /** @default 30 seconds */
  readonly timeout?: Duration;
  /** @default 1024 MB; on arm64 this also buys proportionally more CPU. */
  readonly memorySize?: number;
  readonly environment?: Readonly<Record<string, string>>;
  /** @default no layers */
  readonly layers?: lambda.ILayerVersion[];
  /** Modules provided by a layer instead of the bundle (e.g. `onnxruntime-node`). @default only the AWS SDK v3, which the runtime provides */
  readonly externalModules?: readonly string[];
  /** @default one month, then CloudWatch deletes log events */
  readonly logRetention?: logs.RetentionDays;
  /** Powertools service name, used in logs, metrics and traces. @default the construct id */
  readonly serviceName?: string;
}

/** Node 22 on arm64, as the whole project targets. */
export const KEEL_RUNTIME = lambda.Runtime.NODEJS_22_X;

/**
 * Every Keel Lambda function: Node 22 on arm64, X-Ray active tracing, its own log group with a
 * retention, JSON logs, and an ESM bundle built by the local esbuild (never Docker).
 */
export class KeelFunction extends nodejs.NodejsFunction {
  constructor(scope: Construct, id: string, props: KeelFunctionProps) {
    const memorySize = props.memorySize ?? 1024;
    if (!Number.isInteger(memorySize) || memorySize < 128 || memorySize > 10_240) {
      throw new Error(
        `KeelFunction ${id}: memorySize must be an integer in [128, 10240] MB, got ${memorySize}`,
      );
    }
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    super(scope, id, {
      entry: props.entry,
      handler: props.handler ?? 'handler',
      description: props.description,
      runtime: KEEL_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize,
      timeout: props.timeout ?? Duration.seconds(30),
      tracing: lambda.Tracing.ACTIVE,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      layers: props.layers,
      environment: {
        POWERTOOLS_SERVICE_NAME: props.serviceName ?? id,
        POWERTOOLS_METRICS_NAMESPACE: 'Keel',
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        format: nodejs.OutputFormat.ESM,
        target: 'node22',
        minify: true,
        sourceMap: true,
        forceDockerBundling: false,
        externalModules: ['@aws-sdk/*', ...(props.externalModules ?? [])],
        // ESM bundles still contain CommonJS dependencies that call require().
        banner:
          "import { createRequire as __keelCreateRequire } from 'node:module'; const require = __keelCreateRequire(import.meta.url);",
      },
    });
    const ack = (id: string, reason: string) => Validations.of(this).acknowledge({ id, reason });
    ack(
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      "Lambda's standard policy: CloudWatch Logs writes only, into the function's own log group.",
    );
    ack(
      'AwsSolutions-IAM5[Resource::*]',
      'X-Ray PutTraceSegments/PutTelemetryRecords have no resource-level permissions.',
    );
    ack(
      'AwsSolutions-L1',
      'Keel targets Node 22 (nodejs22.x) on purpose: the version it is built and tested on.',
    );
  }

  /** Grants access to the registry table and tells the function its name. */
  bindTable(table: dynamodb.ITable, access: 'read' | 'readWrite'): this {
    if (access === 'read') table.grantReadData(this);
    else table.grantReadWriteData(this);
    this.addEnvironment(RESOURCE_ENV.table, table.tableName);
    return this;
  }

  /**
   * Grants access to the lineage bucket and tells the function its name.
   * @param prefix key pattern the grant covers, e.g. `models/*` for a function that only loads models @default every key
   */
  bindLineageBucket(bucket: s3.IBucket, access: 'read' | 'readWrite', prefix = '*'): this {
    if (access === 'read') bucket.grantRead(this, prefix);
    else bucket.grantReadWrite(this, prefix);
    this.addEnvironment(RESOURCE_ENV.lineageBucket, bucket.bucketName);
    return this;
  }

  /** Grants write access to the capture bucket and tells the function its name. */
  bindCaptureBucket(bucket: s3.IBucket, access: 'read' | 'write'): this {
    if (access === 'read') bucket.grantRead(this);
    else bucket.grantPut(this);
    this.addEnvironment(RESOURCE_ENV.captureBucket, bucket.bucketName);
    return this;
  }

  /**
   * Attaches the storage's serving-read policy (model artifacts, registry items, their key) and
   * tells the function the table and bucket names: what an inference function needs.
   */
  bindServingRead(storage: {
    servingReadPolicy: iam.IManagedPolicy;
    table: dynamodb.ITable;
    lineageBucket: s3.IBucket;
  }): this {
    this.role?.addManagedPolicy(storage.servingReadPolicy);
    this.addEnvironment(RESOURCE_ENV.table, storage.table.tableName);
    this.addEnvironment(RESOURCE_ENV.lineageBucket, storage.lineageBucket.bucketName);
    return this;
  }

  /** Grants PutEvents on the Keel bus and tells the function its name. */
  bindEventBus(bus: events.IEventBus): this {
    bus.grantPutEventsTo(this);
    this.addEnvironment(PORT_ENV.eventBusName, bus.eventBusName);
    return this;
  }
}
