/**
 * Every port of Keel, in one place. The rule: an interface a use case needs from the outside
 * world (an AWS service, or a local stand-in for one) lives in this folder, one file per port;
 * adapters implement them (`functions/adapters/aws/`, `local/adapters/`), and only the
 * composition roots (`functions/composition/aws.ts`, `local/runtime.ts`) construct adapters.
 */
import type { ModelInput } from '../core/onnx/runtime.ts';
import type { ApprovalStore } from './approval-store.ts';
import type { BlobStore } from './blob-store.ts';
import type { CapturePartitions, CaptureReader, CaptureSink } from './capture.ts';
import type { Deployer } from './deployer.ts';
import type { EventBus } from './event-bus.ts';
import type { FederatedStore } from './federated-store.ts';
import type { FunctionInvoker } from './function-invoker.ts';
import type { LedgerStore } from './ledger-store.ts';
import type { AlarmMonitor, MetricsSink } from './metrics-sink.ts';
import type { PipelineRunner } from './pipeline-runner.ts';
import type { RegistryStore } from './registry-store.ts';
import type { RolloutPlatform } from './rollout.ts';
import type { Scorer } from './scorer.ts';
import type { UrlSigner } from './url-signer.ts';

export type * from './approval-store.ts';
export type * from './blob-store.ts';
export type * from './capture.ts';
export type * from './deployer.ts';
export type * from './event-bus.ts';
export type * from './federated-store.ts';
export type * from './function-invoker.ts';
export type * from './ledger-store.ts';
export type * from './metrics-sink.ts';
export type * from './pipeline-runner.ts';
export type * from './registry-store.ts';
export type * from './rollout.ts';
export type * from './scorer.ts';
export type * from './url-signer.ts';

/**
 * The control-plane ports: the services that differ between AWS and a laptop (EventBridge,
 * CloudWatch, Lambda, Step Functions, CodeDeploy, the capture stream). The local runtime
 * serves its own to the sandboxes its pipeline steps run in.
 */
export interface Ports {
  readonly eventBus: EventBus;
  readonly metricsSink: MetricsSink;
  readonly alarmMonitor: AlarmMonitor;
  readonly functionInvoker: FunctionInvoker;
  readonly pipelineRunner: PipelineRunner;
  readonly deployer: Deployer;
  /** Where prediction and feedback records go, without a network call on the request path. */
  readonly captureSink: CaptureSink;
}

/**
 * The data-plane ports: S3, DynamoDB and SageMaker, reached through the SDK in every
 * environment (an emulator behind `AWS_ENDPOINT_URL` locally), so one set of adapters serves.
 */
export interface DataPorts {
  /** The registry's event log and entities. */
  readonly registryStore: RegistryStore;
  /** The privacy budget ledgers, one log per data source (in the registry's table). */
  readonly ledgerStore: LedgerStore;
  /** The lineage bucket (content-addressed, write-once artifacts). */
  readonly lineageBlobs: BlobStore;
  /** Captured predictions and outcomes, read back. */
  readonly captureReader: CaptureReader & CapturePartitions;
  /** Reads an object named by an `s3://bucket/key` URI (user data sources, SageMaker outputs). */
  readonly objectReader: (uri: string) => Promise<Uint8Array>;
  readonly approvalStore: ApprovalStore;
  /** Federated training's registered clients and pending tasks. */
  readonly federatedStore: FederatedStore;
  /** The federated bucket: what clients upload, and what each is sent. */
  readonly federatedBlobs: BlobStore;
  /** Presigned S3 URLs (federated clients' downloads and uploads). */
  readonly urlSigner: UrlSigner;
  /** What a CodeDeploy lifecycle hook needs (AWS only: locally the deployer runs the checks). */
  readonly rolloutPlatform: RolloutPlatform;
  /** A scorer over a SageMaker endpoint, for models too big for the function. */
  endpointScorer(endpoint: string, version: string, inputs: readonly ModelInput[]): Scorer;
}
