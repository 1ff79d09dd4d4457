import { afterAll, inject } from 'vitest';
import { resetClients } from '../../functions/commons/clients.ts';

// Point this worker's SDK clients at the tier's endpoint before any test creates one.
Object.assign(process.env, inject('awsEnv'));
resetClients();

afterAll(() => resetClients());
