/**
 * What the local Lambda runtime adds over calling a handler directly: JSON round trips of the
 * payload, the context object and the timeout race. It bounds how far local runs can be from
 * the handlers' own cost.
 */
import { LocalLambdaRuntime } from '../local/lambda-runtime.ts';
import { type Comparison, compare } from './harness.ts';

const handler = async (event: { features: Record<string, number> }) => {
  let sum = 0;
  for (const value of Object.values(event.features)) sum += value;
  return { score: 1 / (1 + Math.exp(-sum / 100)) };
};

export async function run(): Promise<Comparison[]> {
  const runtime = new LocalLambdaRuntime().register({ name: 'score', handler });
  const event = { features: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}`, i * 1.5])) };
  return [
    await compare({
      suite: 'local Lambda runtime',
      baseline: { name: 'direct handler call', fn: () => handler(event) },
      subject: { name: 'LocalLambdaRuntime.invoke', fn: () => runtime.invoke('score', event) },
      goal: 'overhead well under a millisecond per invocation',
    }),
    await compare({
      suite: 'local Lambda runtime',
      baseline: { name: 'JSON round trip of the event', fn: () => JSON.parse(JSON.stringify(event)) },
      subject: { name: 'LocalLambdaRuntime.invoke', fn: () => runtime.invoke('score', event) },
    }),
  ];
}
