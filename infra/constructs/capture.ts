import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as destinations from 'aws-cdk-lib/aws-logs-destinations';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { CAPTURE_MARKER, CAPTURE_PARTITION_QUERY } from '../../functions/contracts/capture.ts';

export interface KeelCaptureStreamProps {
  readonly captureBucket: s3.IBucket;
  /** The key the capture bucket is encrypted with. */
  readonly key: kms.IKey;
  /** How long Firehose buffers before writing an object. @default 60 seconds */
  readonly bufferInterval?: Duration;
}

/**
 * Prediction and feedback capture in AWS: inference functions print capture records as JSON
 * log lines (no network call on the request path); a subscription filter on their log groups
 * sends the marked lines to Firehose, which unpacks the CloudWatch Logs envelopes and writes the
 * records to the capture bucket partitioned exactly as the local runtime does:
 * `capture/<type>/model=<model>/date=<yyyy-mm-dd>/hour=<hh>/`.
 */
export class KeelCaptureStream extends Construct {
  readonly deliveryStream: firehose.IDeliveryStream;
  readonly #streamName: string;

  constructor(scope: Construct, id: string, props: KeelCaptureStreamProps) {
    super(scope, id);
    const interval = props.bufferInterval ?? Duration.seconds(60);
    if (interval.toSeconds() < 0 || interval.toSeconds() > 900)
      throw new Error(
        `KeelCaptureStream ${id}: bufferInterval must be 0-900 seconds, got ${interval.toSeconds()}`,
      );
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com'),
    });
    // Exactly what Firehose's S3 delivery needs, rather than the broader grant* action sets.
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
        resources: [
          props.captureBucket.arnForObjects('capture/*'),
          props.captureBucket.arnForObjects('capture-errors/*'),
        ],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
        resources: [props.captureBucket.bucketArn],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [props.key.keyArn],
      }),
    );
    const stream = new firehose.CfnDeliveryStream(this, 'Stream', {
      deliveryStreamType: 'DirectPut',
      deliveryStreamEncryptionConfigurationInput: { keyType: 'AWS_OWNED_CMK' },
      extendedS3DestinationConfiguration: {
        bucketArn: props.captureBucket.bucketArn,
        roleArn: role.roleArn,
        prefix:
          'capture/!{partitionKeyFromQuery:type}/model=!{partitionKeyFromQuery:model}/date=!{partitionKeyFromQuery:date}/hour=!{partitionKeyFromQuery:hour}/',
        errorOutputPrefix: 'capture-errors/!{firehose:error-output-type}/!{timestamp:yyyy-MM-dd}/',
        // Dynamic partitioning needs a buffer of at least 64 MB.
        bufferingHints: { intervalInSeconds: interval.toSeconds(), sizeInMBs: 64 },
        encryptionConfiguration: { kmsEncryptionConfig: { awskmsKeyArn: props.key.keyArn } },
        dynamicPartitioningConfiguration: { enabled: true },
        processingConfiguration: {
          enabled: true,
          processors: [
            {
              type: 'Decompression',
              parameters: [{ parameterName: 'CompressionFormat', parameterValue: 'GZIP' }],
            },
            {
              type: 'CloudWatchLogProcessing',
              parameters: [{ parameterName: 'DataMessageExtraction', parameterValue: 'true' }],
            },
            {
              type: 'MetadataExtraction',
              parameters: [
                {
                  parameterName: 'MetadataExtractionQuery',
                  parameterValue: CAPTURE_PARTITION_QUERY,
                },
                { parameterName: 'JsonParsingEngine', parameterValue: 'JQ-1.6' },
              ],
            },
            {
              type: 'AppendDelimiterToRecord',
              parameters: [{ parameterName: 'Delimiter', parameterValue: '\\n' }],
            },
          ],
        },
      },
    });
    this.deliveryStream = firehose.DeliveryStream.fromDeliveryStreamAttributes(this, 'Imported', {
      deliveryStreamArn: stream.attrArn,
    });
    this.#streamName = stream.ref;
    Validations.of(Stack.of(this)).acknowledge({
      id: 'CloudFormation-Validate::W7001',
      reason:
        'The Firehose L2 import adds a CIDR mapping for VPC destinations; this stream writes to S3 and never reads it.',
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(props.captureBucket.node.defaultChild as never)}.Arn>/capture/*]`,
      reason: 'Firehose writes objects under partition prefixes only known at delivery time.',
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(props.captureBucket.node.defaultChild as never)}.Arn>/capture-errors/*]`,
      reason: 'Failed deliveries land under a dated error prefix.',
    });
  }

  /**
   * Alarms on the capture path's failure modes, created in `scope` (the stack that owns the
   * alarm topic, so the data stack depends on nothing above it), each with `action`:
   * - records have waited over an hour for S3 delivery (Firehose retries S3 for 24 hours, then
   *   drops them);
   * - S3 deliveries failed for an hour.
   * A record that fails partitioning (a line that is not a capture record) is not retried: it
   * lands under `capture-errors/` at once, never nowhere.
   */
  addAlarms(scope: Construct, id: string, action: cloudwatch.IAlarmAction): cloudwatch.Alarm[] {
    const dimensionsMap = { DeliveryStreamName: this.#streamName };
    const delay = new cloudwatch.Alarm(scope, `${id}DeliveryDelay`, {
      alarmDescription:
        'Captured predictions have waited over an hour for S3 delivery; Firehose drops them after 24 hours.',
      metric: new cloudwatch.Metric({
        namespace: 'AWS/Firehose',
        metricName: 'DeliveryToS3.DataFreshness',
        dimensionsMap,
        statistic: 'Maximum',
        period: Duration.minutes(5),
      }),
      threshold: 3600,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const failing = new cloudwatch.Alarm(scope, `${id}DeliveryFailing`, {
      alarmDescription:
        'Capture deliveries to S3 have failed for an hour (DeliveryToS3.Success below 1); Firehose is retrying them.',
      metric: new cloudwatch.Metric({
        namespace: 'AWS/Firehose',
        metricName: 'DeliveryToS3.Success',
        dimensionsMap,
        statistic: 'Minimum',
        period: Duration.minutes(15),
      }),
      threshold: 1,
      evaluationPeriods: 4,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const alarm of [delay, failing]) alarm.addAlarmAction(action);
    return [delay, failing];
  }

  /**
   * Routes the capture lines of a function's log group into the stream; the filter is created
   * in `scope` (the function's stack), so the data stack never depends on a compute stack.
   */
  subscribe(scope: Construct, id: string, logGroup: logs.ILogGroup): logs.SubscriptionFilter {
    return new logs.SubscriptionFilter(scope, id, {
      logGroup,
      destination: new destinations.FirehoseDestination(this.deliveryStream),
      filterPattern: logs.FilterPattern.literal(`{ $.${CAPTURE_MARKER} = 1 }`),
    });
  }
}
