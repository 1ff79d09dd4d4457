/**
 * `keel deploy <model>@<version>`: roll a registered, approved version out on the model's
 * `live` alias with its configured shift (or `--shift`), through CodeDeploy in AWS or through a
 * running `keel up` (whose rollouts, alarms and serving live in that process).
 */
import type { Command } from 'commander';
import { loadConfig, trafficShiftOf } from '../../functions/contracts/config/load.ts';
import { PREDEFINED_SHIFTS } from '../../functions/contracts/config/schema.ts';
import { KeelError, ValidationError } from '../../functions/kernel/errors.ts';
import type { TrafficShift } from '../../functions/ports/deployer.ts';
import type { Io } from '../output.ts';
import { aliasOf, deployTarget, parseShiftOption, rollOut } from '../rollout.ts';
import { defaultActor, parseModelRef } from './registry.ts';

export function registerDeploy(program: Command, io: Io): void {
  program
    .command('deploy')
    .description(
      'Roll an approved model version out on its live alias (canary by default), with alarm rollback',
    )
    .argument('<model@version>', 'model and registry version, e.g. credit@3')
    .option(
      '--shift <name>',
      `traffic shift: ${Object.keys(PREDEFINED_SHIFTS).join(', ')} (default: the model's configured shift)`,
      parseShiftOption,
    )
    .option('--reason <text>', 'why, for the audit log', 'deployed with keel deploy')
    .option('--actor <who>', 'who; default KEEL_ACTOR or user@host')
    .option('--wait', 'wait for the rollout to finish and report its outcome')
    .option('--json', 'print JSON')
    .action(async (ref: string, options, command: Command) => {
      const { model, ref: version } = parseModelRef(ref);
      if (typeof version !== 'number')
        throw new ValidationError('Invalid model reference', [
          { path: 'model', message: `give a version number, e.g. ${model}@3` },
        ]);
      const configFile = (command.optsWithGlobals() as { config: string }).config;
      const config = await loadConfig(configFile);
      const modelConfig = config.models[model];
      if (!modelConfig)
        throw new ValidationError('Unknown model', [
          { path: 'model', message: `${model} is not in the config` },
        ]);
      const request = {
        model,
        version,
        shift: (options.shift as TrafficShift | undefined) ?? trafficShiftOf(modelConfig.serving.shift),
        actor: (options.actor as string | undefined) ?? defaultActor(),
        reason: options.reason as string,
      };
      // Serving the fallback as production leaves nothing different to fall back to.
      if (!(await deployTarget(config)))
        throw new KeelError(
          'No running keel up: start it (`npm start`), or set KEEL_TABLE_NAME to deploy in AWS',
        );
      const fallback = await aliasOf(configFile, model, 'fallback');
      if (fallback === version && !options.json)
        io.err(
          `keel: warning: ${model}@${version} is also the fallback; while it serves production, a failing primary falls back to the same model`,
        );
      const outcome = await rollOut(config, request, { wait: options.wait === true });
      if (options.json) io.out(JSON.stringify({ model, version, ...outcome }));
      else
        io.out(
          `${model}@${version}: rollout ${outcome.deploymentId}${outcome.status ? ` ${outcome.status}` : ' started'}${outcome.reason ? ` (${outcome.reason})` : ''}`,
        );
      if (outcome.status === 'Failed' || outcome.status === 'Stopped')
        throw new KeelError(`rollout rolled back: ${outcome.reason ?? outcome.status}`);
    });
}
