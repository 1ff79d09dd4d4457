/**
 * CDK entry point (`cdk.json`). Reads the same `keel.config.json` as the local runtime;
 * context `keel:config` picks another file and `keel:stage` applies that stage's overrides.
 */
import { App } from 'aws-cdk-lib';
import { loadConfig } from '../functions/contracts/config/load.ts';
import { composeKeel } from './keel-app.ts';

const app = new App();
const configFile = (app.node.tryGetContext('keel:config') as string | undefined) ?? 'keel.config.json';
const stage = app.node.tryGetContext('keel:stage') as string | undefined;
composeKeel(app, await loadConfig(configFile, stage ? { stage } : {}));
app.synth();
