// A simulated federated client's worker (see federated-simulation.ts). Plain JavaScript: a worker
// thread starts with Node's own loader, so it registers tsx before loading the TypeScript client.
import { register } from 'tsx/esm/api';

register();
await import('./federated-client-host.ts');
