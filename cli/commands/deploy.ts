/**
 * `keel deploy <model>@<version>`: roll a registered, approved version out on the model's
 * `live` alias with its configured shift (or `--shift`), through CodeDeploy in AWS or through a
 * running `keel up` (whose rollouts, alarms and serving live in that process).
 */
import { resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { createRegistry, ports } from '../../functions/commons/composition.ts';
import { loadConfig, trafficShiftOf } from '../../functions/commons/config/load.ts';
import { PREDEFINED_SHIFTS } from '../../functions/commons/config/schema.ts';
import { KeelError, ValidationError } from '../../functions/commons/errors.ts';
import type { DeploymentState, TrafficShift } from '../../functions/commons/ports/deployer.ts';
import { RESOURCE_ENV } from '../../functions/commons/resources.ts';
import { deployAndWait, inferenceFunctionName, startDeployment } from '../../functions/inference/deploy.ts';
import { runningRuntime } from '../../local/runtime.ts';
import { controlApi } from '../control-api.ts';
import type { Io } from '../output.ts';
import { defaultActor, parseModelRef } from './registry.ts';

function parseShift(value: string): TrafficShift {
  if (!(value in PREDEFINED_SHIFTS))
    throw new InvalidArgumentError(
      `expected one of ${Object.keys(PREDEFINED_SHIFTS).join(', ')}, got "${value}"`,
    );
  return PREDEFINED_SHIFTS[value as keyof typeof PREDEFINED_SHIFTS];
}

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
      parseShift,
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
      const config = await loadConfig((command.optsWithGlobals() as { config: string }).config);
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
      let outcome: { deploymentId: string; functionVersion?: string } & Partial<DeploymentState>;
      if (process.env[RESOURCE_ENV.table]) {
        const deps = {
          registry: createRegistry(),
          deployer: ports().deployer,
          functionName: (m: string) => inferenceFunctionName(config.project, m),
        };
        outcome = options.wait ? await deployAndWait(deps, request) : await startDeployment(deps, request);
      } else {
        const running = await runningRuntime(resolve(config.local.stateDir));
        if (!running?.url)
          throw new KeelError(
            'No running keel up: start it (`npm start`), or set KEEL_TABLE_NAME to deploy in AWS',
          );
        const started = await controlApi<{ deploymentId: string; functionVersion: string }>(
          running.url,
          '/_keel/deploy',
          {
            method: 'POST',
            body: JSON.stringify(request),
          },
        );
        outcome = started;
        while (options.wait) {
          const state = await controlApi<DeploymentState>(
            running.url,
            `/_keel/deployments/${started.deploymentId}`,
          );
          outcome = { ...started, ...state };
          if (state.status !== 'InProgress') break;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      if (options.json) io.out(JSON.stringify({ model, version, ...outcome }));
      else
        io.out(
          `${model}@${version}: rollout ${outcome.deploymentId}${outcome.status ? ` ${outcome.status}` : ' started'}${outcome.reason ? ` (${outcome.reason})` : ''}`,
        );
      if (outcome.status === 'Failed' || outcome.status === 'Stopped')
        throw new KeelError(`rollout rolled back: ${outcome.reason ?? outcome.status}`);
    });
}
