/**
 * A module hook (`node --import`) for the synth test: makes the runtime's heavy modules
 * unloadable (onnxruntime-node, the SDK clients, Powertools, middy), and records every Keel
 * module that is loaded, so the test can show `cdk synth` needs none of them.
 */
import { appendFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const FORBIDDEN = /^(onnxruntime-node|@aws-sdk\/|@aws-lambda-powertools\/|@middy\/)/;
const record = process.env.KEEL_LOADED_MODULES;

registerHooks({
  resolve(specifier, context, next) {
    if (FORBIDDEN.test(specifier)) {
      const error = new Error(
        `${specifier} may not be loaded by cdk synth (imported from ${context.parentURL})`,
      );
      error.code = 'ERR_KEEL_FORBIDDEN';
      throw error;
    }
    const resolved = next(specifier, context);
    if (record && resolved.url.startsWith('file:') && !resolved.url.includes('/node_modules/'))
      appendFileSync(record, `${resolved.url}\n`);
    return resolved;
  },
});
