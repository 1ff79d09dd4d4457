import { type CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { TABLE_SCHEMA } from '../../functions/contracts/resources.ts';

export interface KeelStorageProps {
  /** Prefix for the event bus name. */
  readonly project: string;
  /**
   * Retention of S3 Object Lock in compliance mode on the lineage bucket, for regulated users:
   * no one, root included, can delete or overwrite an artifact during that time.
   * @default no Object Lock; artifacts are still write-once by content addressing and versioning
   */
  readonly objectLockRetentionDays?: number;
  /** @default 90 days, after which raw captured predictions move to Infrequent Access */
  readonly captureInfrequentAccessAfterDays?: number;
  /** @default 30 days, after which federated rounds' exchanges (masked uploads, inboxes) are deleted */
  readonly federatedExchangeDays?: number;
}

/**
 * Keel's data plane: the registry table, the lineage and capture buckets, a bucket for their
 * access logs, a customer-managed KMS key, and the event bus for registry and drift events.
 */
export class KeelStorage extends Construct {
  readonly key: kms.Key;
  readonly table: dynamodb.Table;
  readonly lineageBucket: s3.Bucket;
  readonly captureBucket: s3.Bucket;
  /**
   * Federated rounds' exchanges: what clients upload by presigned PUT (masked contributions)
   * and what each is sent (its inbox of encrypted shares). Transient: expired after
   * `federatedExchangeDays`; the models and records stay in lineage.
   */
  readonly federatedBucket: s3.Bucket;
  /** Least-privilege read access for inference functions (see {@link KeelFunction.bindServingRead}). */
  readonly servingReadPolicy: iam.ManagedPolicy;
  /**
   * What a capture monitor reads besides the serving read: the versions' evaluation profiles
   * (each canary's expected scores). Profiles hold samples of input values, which the inference
   * functions themselves never read.
   */
  readonly profileReadPolicy: iam.ManagedPolicy;
  readonly accessLogsBucket: s3.Bucket;
  readonly eventBus: events.EventBus;

  constructor(scope: Construct, id: string, props: KeelStorageProps) {
    super(scope, id);
    const lockDays = props.objectLockRetentionDays;
    if (lockDays !== undefined && (!Number.isInteger(lockDays) || lockDays < 1 || lockDays > 36_500)) {
      throw new Error(`objectLockRetentionDays must be an integer in [1, 36500], got ${lockDays}`);
    }
    const iaDays = props.captureInfrequentAccessAfterDays ?? 90;
    if (!Number.isInteger(iaDays) || iaDays < 30) {
      throw new Error(
        `captureInfrequentAccessAfterDays must be an integer of at least 30 (an S3 minimum), got ${iaDays}`,
      );
    }

    this.key = new kms.Key(this, 'Key', {
      description: 'Keel registry, lineage and capture data',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const { partitionKey, sortKey, indexes } = TABLE_SCHEMA;
    this.table = new dynamodb.Table(this, 'Registry', {
      partitionKey: { name: partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const index of indexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }

    // S3 server access logs can only be delivered to an SSE-S3 bucket.
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(365) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.accessLogsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the access-log target itself; logging it to itself would loop.',
    });

    // Every data bucket: the project key, no public access, TLS only, logged, kept on delete.
    const protectedBucket = (logPrefix: string) => ({
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: logPrefix,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.lineageBucket = new s3.Bucket(this, 'Lineage', {
      ...protectedBucket('lineage/'),
      versioned: true,
      ...(lockDays !== undefined
        ? {
            objectLockEnabled: true,
            objectLockDefaultRetention: s3.ObjectLockRetention.compliance(Duration.days(lockDays)),
          }
        : {}),
    });

    this.captureBucket = new s3.Bucket(this, 'Capture', {
      ...protectedBucket('capture/'),
      lifecycleRules: [
        {
          transitions: [
            { storageClass: s3.StorageClass.INFREQUENT_ACCESS, transitionAfter: Duration.days(iaDays) },
          ],
        },
      ],
    });

    const exchangeDays = props.federatedExchangeDays ?? 30;
    if (!Number.isInteger(exchangeDays) || exchangeDays < 1)
      throw new Error(`federatedExchangeDays must be a whole number of days ≥ 1, got ${exchangeDays}`);
    this.federatedBucket = new s3.Bucket(this, 'Federated', {
      ...protectedBucket('federated/'),
      lifecycleRules: [{ expiration: Duration.days(exchangeDays) }],
    });

    this.eventBus = new events.EventBus(this, 'Bus', { eventBusName: `${props.project}-events` });

    // What an inference function may read, and nothing more: model artifacts and their explainers (not data or
    // captures), registry items (through the table and its index), and the key that encrypts
    // them. Defined here, beside the resources, so its ARNs are this stack's own.
    this.servingReadPolicy = new iam.ManagedPolicy(this, 'ServingRead', {
      description: 'Keel inference: read model artifacts, their explainers, model cards and registry items',
      statements: [
        new iam.PolicyStatement({
          actions: ['s3:GetObject'],
          // The model, and what explains its predictions (`:explain`, sampled explanations).
          // Model cards (`GET …/card`) are records, made of evaluation aggregates and pipelines
          // (read to generate the card of a version that has none); none of them holds rows.
          resources: [
            this.lineageBucket.arnForObjects('models/*'),
            this.lineageBucket.arnForObjects('explainers/*'),
            this.lineageBucket.arnForObjects('records/*'),
            this.lineageBucket.arnForObjects('evaluations/*'),
            this.lineageBucket.arnForObjects('pipelines/*'),
          ],
        }),
        new iam.PolicyStatement({
          actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:DescribeTable'],
          resources: [this.table.tableArn, `${this.table.tableArn}/index/*`],
        }),
        new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: [this.key.keyArn] }),
      ],
    });
    const logicalId = (c: Construct) => Stack.of(this).getLogicalId(c.node.defaultChild as CfnElement);
    const ack = (resource: string, reason: string) =>
      Validations.of(this.servingReadPolicy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${resource}]`,
        reason,
      });
    ack(
      `<${logicalId(this.lineageBucket)}.Arn>/models/*`,
      'Model artifacts are content-addressed: their keys are not known in advance, only their prefix.',
    );
    ack(
      `<${logicalId(this.lineageBucket)}.Arn>/explainers/*`,
      'Explainers are content-addressed: their keys are not known in advance, only their prefix.',
    );
    for (const kind of ['records', 'evaluations', 'pipelines'])
      ack(
        `<${logicalId(this.lineageBucket)}.Arn>/${kind}/*`,
        `Lineage ${kind} are content-addressed: their keys are not known in advance, only their prefix.`,
      );
    ack(`<${logicalId(this.table)}.Arn>/index/*`, "The registry table's own secondary index.");

    this.profileReadPolicy = new iam.ManagedPolicy(this, 'ProfileRead', {
      description: 'Keel capture monitor: read the evaluation profiles of model versions',
      statements: [
        new iam.PolicyStatement({
          actions: ['s3:GetObject'],
          resources: [this.lineageBucket.arnForObjects('profiles/*')],
        }),
        new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: [this.key.keyArn] }),
      ],
    });
    Validations.of(this.profileReadPolicy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalId(this.lineageBucket)}.Arn>/profiles/*]`,
      reason: 'Profiles are content-addressed: their keys are not known in advance, only their prefix.',
    });
  }
  /**
   * A managed policy, in this stack beside the federated bucket, over round exchanges only
   * (`sessions/*`): reads (with listing, so a missing upload is a 404, not a 403), writes, and
   * the key. Federated steps attach one each.
   */
  exchangePolicy(
    id: string,
    spec: { readonly description: string; readonly read?: boolean; readonly write?: boolean },
  ): iam.ManagedPolicy {
    const sessions = this.federatedBucket.arnForObjects('sessions/*');
    const actions = [...(spec.read ? ['s3:GetObject'] : []), ...(spec.write ? ['s3:PutObject'] : [])];
    const policy = new iam.ManagedPolicy(this, id, {
      description: spec.description,
      statements: [
        new iam.PolicyStatement({ actions, resources: [sessions] }),
        ...(spec.read
          ? [
              new iam.PolicyStatement({
                actions: ['s3:ListBucket'],
                resources: [this.federatedBucket.bucketArn],
                conditions: { StringLike: { 's3:prefix': ['sessions/*'] } },
              }),
            ]
          : []),
        new iam.PolicyStatement({
          actions: spec.write ? ['kms:Decrypt', 'kms:GenerateDataKey'] : ['kms:Decrypt'],
          resources: [this.key.keyArn],
        }),
      ],
    });
    const logicalId = Stack.of(this).getLogicalId(this.federatedBucket.node.defaultChild as CfnElement);
    Validations.of(policy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/sessions/*]`,
      reason: 'Round exchanges are keyed by session, round and client, known only at run time.',
    });
    return policy;
  }

  /**
   * A managed policy, in this stack beside the resources it names, granting exactly: reads of
   * some lineage prefixes, writes (new objects only: lineage is write-once) to others, reads of
   * the capture records, and the registry table. Pipeline steps attach one each.
   */
  accessPolicy(
    id: string,
    spec: {
      readonly description: string;
      readonly lineageRead?: readonly string[];
      readonly lineageWrite?: readonly string[];
      readonly captureRead?: boolean;
      readonly table?: 'read' | 'readWrite';
    },
  ): iam.ManagedPolicy {
    const reads = [...new Set([...(spec.lineageRead ?? []), ...(spec.lineageWrite ?? [])])];
    const writes = spec.lineageWrite ?? [];
    const statements: iam.PolicyStatement[] = [];
    if (reads.length > 0) {
      statements.push(
        new iam.PolicyStatement({
          actions: ['s3:GetObject'],
          resources: reads.map((p) => this.lineageBucket.arnForObjects(`${p}/*`)),
        }),
        // Without it a missing object reads as 403, not 404, and "store if absent" cannot tell.
        new iam.PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [this.lineageBucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': reads.map((p) => `${p}/*`) } },
        }),
      );
    }
    if (writes.length > 0) {
      statements.push(
        new iam.PolicyStatement({
          actions: ['s3:PutObject'],
          resources: writes.map((p) => this.lineageBucket.arnForObjects(`${p}/*`)),
        }),
      );
    }
    if (spec.captureRead) {
      statements.push(
        new iam.PolicyStatement({
          actions: ['s3:GetObject'],
          resources: [this.captureBucket.arnForObjects('capture/*')],
        }),
        new iam.PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [this.captureBucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': ['capture/*'] } },
        }),
      );
    }
    if (spec.table) {
      statements.push(
        new iam.PolicyStatement({
          actions: [
            'dynamodb:GetItem',
            'dynamodb:BatchGetItem',
            'dynamodb:Query',
            'dynamodb:DescribeTable',
            ...(spec.table === 'readWrite' ? ['dynamodb:PutItem', 'dynamodb:UpdateItem'] : []),
          ],
          resources: [this.table.tableArn, `${this.table.tableArn}/index/*`],
        }),
      );
    }
    statements.push(
      new iam.PolicyStatement({
        actions:
          writes.length > 0 || spec.table === 'readWrite'
            ? ['kms:Decrypt', 'kms:GenerateDataKey']
            : ['kms:Decrypt'],
        resources: [this.key.keyArn],
      }),
    );
    const policy = new iam.ManagedPolicy(this, id, { description: spec.description, statements });
    const logicalId = (c: Construct) => Stack.of(this).getLogicalId(c.node.defaultChild as CfnElement);
    const ack = (resource: string, reason: string) =>
      Validations.of(policy).acknowledge({ id: `AwsSolutions-IAM5[Resource::${resource}]`, reason });
    for (const p of reads) {
      ack(
        `<${logicalId(this.lineageBucket)}.Arn>/${p}/*`,
        `Lineage under ${p}/ is content-addressed: keys are hashes known only at run time.`,
      );
    }
    if (spec.captureRead)
      ack(
        `<${logicalId(this.captureBucket)}.Arn>/capture/*`,
        'Capture objects are partitioned by model, date and hour, named by Firehose.',
      );
    if (spec.table)
      ack(`<${logicalId(this.table)}.Arn>/index/*`, "The registry table's own secondary index.");
    return policy;
  }
}
