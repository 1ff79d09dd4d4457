import { Command, CommanderError } from 'commander';
import { DEFAULT_CONFIG_FILE } from '../functions/contracts/config/load.ts';
import { registerDeploy } from './commands/deploy.ts';
import { registerDiagnostics } from './commands/diagnostics.ts';
import { registerDrift } from './commands/drift.ts';
import { registerExplain } from './commands/explain.ts';
import { registerFeatures } from './commands/features.ts';
import { registerFederated } from './commands/federated.ts';
import { registerLineage } from './commands/lineage.ts';
import { registerModel } from './commands/model.ts';
import { registerMonitor } from './commands/monitor.ts';
import { registerPrivacy } from './commands/privacy.ts';
import { registerRegistry } from './commands/registry.ts';
import { registerRetrain } from './commands/retrain.ts';
import { registerSimulate } from './commands/simulate.ts';
import { registerUp } from './commands/up.ts';
import { EXIT, type Io, processIo, reportError } from './output.ts';

/** Builds the `keel` program. Verbs register themselves; each has `--help`. */
export function buildProgram(io: Io = processIo): Command {
  const program = new Command('keel')
    .description(
      'Keel: serverless MLOps for tabular models — serve, monitor, retrain, with gates and lineage',
    )
    .option('-c, --config <file>', 'project configuration file', DEFAULT_CONFIG_FILE)
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });
  registerUp(program, io);
  registerModel(program, io);
  registerExplain(program, io);
  registerDiagnostics(program, io);
  registerFeatures(program, io);
  registerPrivacy(program, io);
  registerFederated(program, io);
  registerRegistry(program, io);
  registerLineage(program, io);
  registerDeploy(program, io);
  registerRetrain(program, io);
  registerDrift(program, io);
  registerMonitor(program, io);
  registerSimulate(program, io);
  return program;
}

/** Runs the CLI and returns its exit code. */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  const program = buildProgram(io);
  // Every (sub)command reports errors to main() instead of exiting the process.
  const override = (command: Command): void => {
    command.exitOverride();
    command.configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });
    command.commands.forEach(override);
  };
  override(program);
  try {
    await program.parseAsync(argv as string[]);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version exit with 0; everything else commander rejects is a usage error.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    return reportError(io, error);
  }
}
