import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { EmbeddedAws } from '../../local/embedded-aws.ts';

/** Starts the embedded emulators once for the tier, with state in a temp dir. */
export default async function setup(project: TestProject) {
  const stateDir = await mkdtemp(join(tmpdir(), 'keel-test-'));
  const aws = await EmbeddedAws.start({ stateDir });
  project.provide('awsEnv', aws.env());
  project.provide('awsTier', 'embedded');
  return async () => {
    await aws.stop();
    await rm(stateDir, { recursive: true, force: true });
  };
}
