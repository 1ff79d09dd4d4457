import { App } from 'aws-cdk-lib';
import { loadConfig } from '../../functions/contracts/config/load.ts';
import { composeKeel } from '../../infra/keel-app.ts';

/** The real app, composed from the shipped config (or `configFile`) as `cdk synth` composes it. */
export async function keelApp(context: Record<string, unknown> = {}, configFile = 'keel.config.json') {
  const app = new App({ context });
  const config = await loadConfig(configFile);
  return { app, config, ...composeKeel(app, config) };
}
