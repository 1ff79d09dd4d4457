import type { CaptureSink } from '../../inference/capture.ts';
import type { Deployer } from './deployer.ts';
import type { EventBus } from './event-bus.ts';
import type { FunctionInvoker } from './function-invoker.ts';
import type { AlarmMonitor, MetricsSink } from './metrics-sink.ts';
import type { PipelineRunner } from './pipeline-runner.ts';

export type * from './deployer.ts';
export type * from './event-bus.ts';
export type * from './function-invoker.ts';
export type * from './metrics-sink.ts';
export type * from './pipeline-runner.ts';

/** Every control-plane port, as wired by the composition root. */
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
