import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { KeelConfig } from '../../functions/contracts/config/schema.ts';
import { KeelCaptureStream } from '../constructs/capture.ts';
import { KeelStorage } from '../constructs/storage.ts';

export interface KeelDataStackProps extends StackProps {
  readonly config: KeelConfig;
  /** @default no Object Lock (see {@link KeelStorage}) */
  readonly objectLockRetentionDays?: number;
}

/** The stateful stack: everything that must outlive redeploys of the compute stacks. */
export class KeelDataStack extends Stack {
  readonly storage: KeelStorage;
  readonly capture: KeelCaptureStream;

  constructor(scope: Construct, id: string, props: KeelDataStackProps) {
    super(scope, id, props);
    this.storage = new KeelStorage(this, 'Storage', {
      project: props.config.project,
      ...(props.objectLockRetentionDays !== undefined
        ? { objectLockRetentionDays: props.objectLockRetentionDays }
        : {}),
    });
    this.capture = new KeelCaptureStream(this, 'Capture', {
      captureBucket: this.storage.captureBucket,
      key: this.storage.key,
    });
  }
}
