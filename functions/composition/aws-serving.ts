/**
 * The AWS composition root of the inference function, apart from `aws.ts` so that its bundle
 * holds only what serving touches (DynamoDB, S3, log-line capture): a cold start loads and
 * compiles every module of the bundle, used or not.
 */
import { LogCaptureSink } from '../adapters/aws/capture.ts';
import { PORT_ENV } from '../contracts/resources.ts';
import type { DataPorts, EventBus, Ports, Scorer } from '../ports/index.ts';
import { awsLineageBlobs, awsRegistryStore, lazily } from './aws-stores.ts';

/**
 * The inference function's ports: only what serving touches (DynamoDB, S3, log-line capture),
 * so its bundle leaves out every other client. The registry publishes nothing from serving;
 * should it, EventBridge is loaded then.
 */
export function awsServingPorts(
  env: NodeJS.ProcessEnv = process.env,
): Pick<Ports & DataPorts, 'registryStore' | 'lineageBlobs' | 'captureSink' | 'eventBus' | 'endpointScorer'> {
  // Built here, not from awsDataPorts: its other adapters would bring their clients into the bundle.
  const lazy = lazily();
  let bus: Promise<EventBus> | undefined;
  const captureSink = new LogCaptureSink();
  return {
    get registryStore() {
      return lazy('registryStore', () => awsRegistryStore(env));
    },
    get lineageBlobs() {
      return lazy('lineageBlobs', () => awsLineageBlobs(env));
    },
    captureSink,
    eventBus: {
      publish: async (events) => {
        bus ??= import('../adapters/aws/event-bus.ts').then((m) =>
          m.eventBridgeBus(env[PORT_ENV.eventBusName] || 'default'),
        );
        return (await bus).publish(events);
      },
    },
    // Only models served from a SageMaker endpoint load its client, on their first request.
    endpointScorer: (endpoint, version, inputs) => {
      let scorer: Promise<Scorer> | undefined;
      return {
        version,
        inputs,
        score: async (columns, rows) => {
          scorer ??= import('../adapters/aws/sagemaker-scorer.ts').then((m) =>
            m.endpointScorer(endpoint, version, inputs),
          );
          return (await scorer).score(columns, rows);
        },
      };
    },
  };
}
