import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { IConstruct } from 'constructs';
import {
  parseDefinition,
  placeholders,
  substitute,
  tasksWithoutErrorHandling,
} from '../functions/contracts/asl.ts';
import { KeelStateMachine } from './constructs/keel-state-machine.ts';

/** Where a state machine is deployed from, and what CDK substitutes into it. */
export interface AslDeployment {
  readonly definitionFile: string;
  readonly substitutionKeys: readonly string[];
}

/** Every {@link KeelStateMachine} under `scope`. */
export function aslDeployments(scope: IConstruct): AslDeployment[] {
  return scope.node.findAll().filter((c): c is KeelStateMachine => c instanceof KeelStateMachine);
}

/** The ASL files of a directory (default `state-machines/`). */
export function aslFiles(dir = 'state-machines'): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.asl.json'))
    .map((f) => join(dir, f))
    .sort();
}

/**
 * Problems between ASL files and their deployments: a file no stack deploys, a deployment of
 * a file outside the list, a placeholder without a substitution, a Task without Retry and
 * Catch. CloudFormation assertions cannot see `fromFile` definitions (they become S3 assets),
 * so this reads the files themselves.
 */
export function aslProblems(files: readonly string[], deployments: readonly AslDeployment[]): string[] {
  const problems: string[] = [];
  const key = (file: string) => relative(process.cwd(), resolve(file));
  const deployedFiles = new Set(deployments.map((d) => key(d.definitionFile)));
  for (const file of files) {
    if (!deployedFiles.has(key(file))) problems.push(`${file}: not deployed by any stack`);
    const text = readFileSync(file, 'utf8');
    const neutral = Object.fromEntries(placeholders(text).map((name) => [name, '0']));
    const definition = parseDefinition(substitute(text, neutral), file);
    for (const task of tasksWithoutErrorHandling(definition)) {
      problems.push(`${file}: Task ${task.state} lacks ${task.missing.join(' and ')}`);
    }
  }
  const known = new Set(files.map(key));
  for (const deployment of deployments) {
    const file = key(deployment.definitionFile);
    if (!known.has(file)) {
      problems.push(`${deployment.definitionFile}: deployed but not among the checked ASL files`);
      continue;
    }
    const given = new Set(deployment.substitutionKeys);
    for (const name of placeholders(readFileSync(deployment.definitionFile, 'utf8'))) {
      if (!given.has(name)) problems.push(`${deployment.definitionFile}: \${${name}} has no substitution`);
    }
  }
  return problems;
}
