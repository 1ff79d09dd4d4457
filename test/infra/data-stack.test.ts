import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { KeelStorage } from '../../infra/constructs/storage.ts';
import { keelApp } from './helpers.ts';

describe('KeelDataStack', () => {
  let template: Template;

  beforeAll(async () => {
    const { data } = await keelApp();
    template = Template.fromStack(data);
  });

  it('keeps the registry table: PITR, KMS, retained, deletion-protected', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: Match.objectLike({ SSEEnabled: true, SSEType: 'KMS' }),
        DeletionProtectionEnabled: true,
        GlobalSecondaryIndexes: [Match.objectLike({ IndexName: 'gsi1' })],
      }),
    });
  });

  it('versions the lineage bucket, encrypts it with KMS and blocks public access', () => {
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        VersioningConfiguration: { Status: 'Enabled' },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            Match.objectLike({
              ServerSideEncryptionByDefault: Match.objectLike({ SSEAlgorithm: 'aws:kms' }),
            }),
          ],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'lineage/' }),
      }),
    });
  });

  it('denies non-TLS requests on every bucket', () => {
    const policies = template.findResources('AWS::S3::BucketPolicy');
    // Lineage, capture, federated exchanges, and the access logs.
    expect(Object.keys(policies)).toHaveLength(4);
    for (const policy of Object.values(policies)) {
      expect(policy.Properties.PolicyDocument.Statement).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      );
    }
  });

  it('rotates the KMS key', () => {
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('has no Object Lock unless asked for', () => {
    expect(JSON.stringify(template.toJSON())).not.toContain('ObjectLockConfiguration');
  });

  it('creates the Keel event bus', () => {
    template.hasResourceProperties('AWS::Events::EventBus', { Name: 'keel-events' });
  });
});

describe('Object Lock', () => {
  it('turns on compliance-mode retention through context', async () => {
    const { data } = await keelApp({ 'keel:objectLockRetentionDays': 365 });
    Template.fromStack(data).hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockEnabled: true,
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 365 } },
      },
    });
  });

  it.each([0, 1.5, -3, 40_000])('rejects a retention of %d days with the value in the message', (days) => {
    const stack = new Stack(new App(), 'S');
    expect(
      () => new KeelStorage(stack, 'Storage', { project: 'keel', objectLockRetentionDays: days }),
    ).toThrow(`got ${days}`);
  });
});
