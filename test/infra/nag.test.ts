import { Stack } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { describe, expect, it } from 'vitest';
import { keelApp } from './helpers.ts';

describe('cdk-nag AwsSolutions checks', () => {
  it('pass on the whole app with only reasoned acknowledgements', async () => {
    const { app } = await keelApp();
    expect(() => app.synth()).not.toThrow();
  });

  it('fail the synth on an unacknowledged finding', async () => {
    // Prepare: a bucket without TLS enforcement or access logs.
    const { app } = await keelApp();
    new s3.Bucket(new Stack(app, 'Careless'), 'Open');

    // Act / Assess
    expect(() => app.synth()).toThrow(/Careless\/Open\/Resource/);
  });
});
