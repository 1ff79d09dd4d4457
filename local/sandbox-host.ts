/**
 * Inside a sandbox worker: loads the entry module, installs proxies for the runtime's ports
 * (each call goes to the pool's thread and back), and runs one handler at a time with a Lambda
 * `Context` rebuilt from the pool's fields.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Context } from 'aws-lambda';
import { installPorts } from '../functions/composition/aws.ts';
import type { Ports } from '../functions/ports/index.ts';
import type { SandboxContext } from './sandbox-protocol.ts';
import { deserializeError, type SandboxMessage, serializeError } from './sandbox-protocol.ts';

const channel = parentPort;
if (channel === null) throw new Error('sandbox-host runs only in a worker thread');
const { module } = workerData as { module: string };

const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
let nextCall = 0;

function portProxy(port: keyof Ports): unknown {
  return new Proxy(
    {},
    {
      get(_, method) {
        // Not thenable: `await ports().eventBus` must not look like a promise.
        if (typeof method !== 'string' || method === 'then') return undefined;
        return (...args: unknown[]) => {
          const id = nextCall++;
          const call = new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
          // Fire-and-forget methods (CaptureSink.write) must not leave an unhandled rejection.
          call.catch(() => {});
          channel?.postMessage({ type: 'port', id, port, method, args } satisfies SandboxMessage);
          return call;
        };
      },
    },
  );
}

const PORTS: readonly (keyof Ports)[] = [
  'eventBus',
  'metricsSink',
  'alarmMonitor',
  'functionInvoker',
  'pipelineRunner',
  'deployer',
  'captureSink',
];
installPorts(Object.fromEntries(PORTS.map((port) => [port, portProxy(port)])) as unknown as Ports);

const handlers = (await import(module)) as Record<string, unknown>;

function lambdaContext(fields: SandboxContext): Context {
  const { timeoutMs, ...plain } = fields;
  const deadline = Date.now() + timeoutMs;
  const unsupported = (what: string) => () => {
    throw new Error(`context.${what}() is deprecated; return or throw from an async handler`);
  };
  return {
    ...plain,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported('done'),
    fail: unsupported('fail'),
    succeed: unsupported('succeed'),
  };
}

channel.on('message', (message: SandboxMessage) => {
  if (message.type === 'port-result') {
    const call = pending.get(message.id);
    pending.delete(message.id);
    if (message.ok) call?.resolve(message.value);
    else call?.reject(deserializeError(message.error));
    return;
  }
  if (message.type !== 'invoke') return;
  const handler = handlers[message.exportName];
  void (async () => {
    try {
      if (typeof handler !== 'function') {
        throw new Error(`${module} has no handler export ${message.exportName}`);
      }
      const result: unknown = await handler(JSON.parse(message.event), lambdaContext(message.context));
      channel.postMessage({
        type: 'result',
        ok: true,
        response: result === undefined ? undefined : JSON.stringify(result),
      } satisfies SandboxMessage);
    } catch (error) {
      channel.postMessage({
        type: 'result',
        ok: false,
        error: serializeError(error),
      } satisfies SandboxMessage);
    }
  })();
});

channel.postMessage({ type: 'ready' } satisfies SandboxMessage);
