import { afterEach, describe, expect, it } from 'vitest';
import { CodeDeployDeployer } from '../../functions/adapters/aws/deployer.ts';
import { EventBridgeEventBus } from '../../functions/adapters/aws/event-bus.ts';
import { LambdaFunctionInvoker } from '../../functions/adapters/aws/function-invoker.ts';
import { CloudWatchAlarmMonitor, CloudWatchMetricsSink } from '../../functions/adapters/aws/metrics.ts';
import { StepFunctionsPipelineRunner } from '../../functions/adapters/aws/pipeline-runner.ts';
import { awsPorts, installPorts, ports, resetPorts } from '../../functions/composition/aws.ts';
import { ConfigError } from '../../functions/kernel/errors.ts';
import type { Ports } from '../../functions/ports/index.ts';
import { LocalEventBus } from '../../local/adapters/event-bus.ts';

afterEach(() => resetPorts());

describe('awsPorts', () => {
  it('wires every port to its AWS adapter', () => {
    // Act
    const wired = awsPorts({ KEEL_EVENT_BUS_NAME: 'keel-events' });

    // Assess
    expect(wired.eventBus).toBeInstanceOf(EventBridgeEventBus);
    expect(wired.metricsSink).toBeInstanceOf(CloudWatchMetricsSink);
    expect(wired.alarmMonitor).toBeInstanceOf(CloudWatchAlarmMonitor);
    expect(wired.functionInvoker).toBeInstanceOf(LambdaFunctionInvoker);
    expect(wired.pipelineRunner).toBeInstanceOf(StepFunctionsPipelineRunner);
    expect(wired.deployer).toBeInstanceOf(CodeDeployDeployer);
    expect(wired.eventBus).toBe(wired.eventBus);
  });

  it.each([
    ['KEEL_STATE_MACHINE_ARNS', '{not json', 'pipelineRunner'],
    ['KEEL_STATE_MACHINE_ARNS', '{"retraining":"not-an-arn"}', 'pipelineRunner'],
    ['KEEL_DEPLOYMENT_GROUPS', '{"fn":{"application":""}}', 'deployer'],
  ] as const)('rejects a malformed %s (%s) when the port is first used', (variable, value, port) => {
    const wired = awsPorts({ [variable]: value });
    expect(() => wired[port]).toThrow(ConfigError);
    expect(() => wired[port]).toThrow(variable);
  });

  it('needs no variable for ports a handler does not use', () => {
    const wired = awsPorts({ KEEL_DEPLOYMENT_GROUPS: '{broken' });
    expect(wired.eventBus).toBeInstanceOf(EventBridgeEventBus);
  });
});

describe('ports', () => {
  it('defaults to the AWS adapters', () => {
    expect(ports().eventBus).toBeInstanceOf(EventBridgeEventBus);
  });

  it('returns what a runtime installed', () => {
    // Prepare
    const local = new LocalEventBus();
    installPorts({ ...awsPorts({}), eventBus: local } as Ports);

    // Act / Assess
    expect(ports().eventBus).toBe(local);
    resetPorts();
    expect(ports().eventBus).toBeInstanceOf(EventBridgeEventBus);
  });
});
