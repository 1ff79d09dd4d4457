// A sandbox worker's entry (see sandbox.ts). Plain JavaScript: a worker thread starts with
// Node's own loader, so it registers tsx (as bin/keel.js does) before loading the TypeScript host.
import { register } from 'tsx/esm/api';

register();
await import('./sandbox-host.ts');
