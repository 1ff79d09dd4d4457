/**
 * Inside a simulated client's worker: reads the client's own CSV (nothing else of the data is
 * here), and polls and answers the server over HTTP, as `keel federated client` does, until the
 * parent says stop. Reports each task to the parent.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { readCsv } from '../functions/core/data/csv.ts';
import { FederatedClientWorker, httpFederatedApi, runClient } from '../functions/federated/client.ts';

const channel = parentPort;
if (channel === null) throw new Error('federated-client-host runs only in a worker thread');
const { server, model, client, data } = workerData as {
  server: string;
  model: string;
  client: string;
  data: string;
};

const stop = new AbortController();
channel.on('message', (message: { type: string }) => {
  if (message.type === 'stop') stop.abort();
});
const table = await readCsv(data);
const worker = new FederatedClientWorker(client, table);
channel.postMessage({ type: 'ready', rows: table.rowCount });
await runClient(worker, httpFederatedApi(server, model, client), {
  signal: stop.signal,
  pollMs: 50,
  onTask: (event) => channel.postMessage({ type: 'task', ...event }),
});
channel.postMessage({ type: 'stopped' });
