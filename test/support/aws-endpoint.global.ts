import type { TestProject } from 'vitest/node';
import { EndpointUnavailableError } from '../../functions/kernel/errors.ts';

/**
 * The AWS-emulator tier runs against `AWS_ENDPOINT_URL` (moto_server, LocalStack). It fails
 * loudly when none is set or nothing answers, rather than passing vacuously.
 */
export default async function setup(project: TestProject) {
  const endpoint = process.env.AWS_ENDPOINT_URL;
  if (!endpoint) {
    throw new EndpointUnavailableError(
      '(unset): set AWS_ENDPOINT_URL, e.g. http://127.0.0.1:5000 for moto_server or http://localhost:4566 for LocalStack',
    );
  }
  try {
    // Any HTTP answer will do; a refused or hanging connection will not.
    await fetch(endpoint, { signal: AbortSignal.timeout(5000) });
  } catch (cause) {
    throw new EndpointUnavailableError(endpoint, { cause });
  }
  project.provide('awsEnv', {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: process.env.AWS_REGION || 'us-east-1',
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID || 'testing',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY || 'testing',
  });
  project.provide('awsTier', 'aws');
}
