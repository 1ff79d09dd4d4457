import { App } from 'aws-cdk-lib';
import { loadConfig } from '../../functions/contracts/config/load.ts';
import { composeKeel } from '../../infra/keel-app.ts';

/** The real app, composed from the shipped config as `cdk synth` composes it. */
export async function keelApp(context: Record<string, unknown> = {}) {
  const app = new App({ context });
  const config = await loadConfig('keel.config.json');
  return { app, config, ...composeKeel(app, config) };
}
