import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../cli/main.ts';
import type { Io } from '../../cli/output.ts';

export interface CliResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** `keel train` on synthetic credit data: label `default`, `sex` protected, the id left out. */
export function creditTrainArgs(data: string, out: string, ...extra: string[]): string[] {
  return [
    'train',
    '--data',
    data,
    '--label',
    'default',
    '--protected',
    'sex',
    '--exclude',
    'applicant_id',
    ...extra,
    '--out',
    out,
  ];
}

/** Runs the CLI in-process against `configFile`, capturing its output. */
export async function runKeel(configFile: string, ...args: string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => (out += `${t}\n`), err: (t) => (err += `${t}\n`) };
  const code = await main(['node', 'keel', '--config', configFile, ...args], io);
  return { code, out, err };
}

/** A temporary project: the shipped config with its local state in a fresh directory. */
export async function tempProject(prefix: string): Promise<{ dir: string; configFile: string }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const config = JSON.parse(await readFile('keel.config.json', 'utf8'));
  config.local.stateDir = join(dir, 'state');
  const configFile = join(dir, 'keel.config.json');
  await writeFile(configFile, JSON.stringify(config));
  return { dir, configFile };
}

/**
 * A temporary project with a small, quick credit model (2,000 synthetic rows, judged on `sex`
 * only) on a fast clock: for tests that bring up a runtime and train through the pipeline.
 */
export async function smallModelProject(
  prefix: string,
  options: { readonly trees: number; readonly requireApproval?: boolean },
): Promise<{ dir: string; configFile: string }> {
  const project = await tempProject(prefix);
  const config = JSON.parse(await readFile(project.configFile, 'utf8'));
  const credit = config.models.credit;
  credit.data = { ...credit.data, source: 'synthetic:credit?rows=2000&seed=5', protectedAttributes: ['sex'] };
  credit.training = { ...credit.training, hyperparameters: { trees: options.trees } };
  credit.gates = {
    ...credit.gates,
    bootstrapSamples: 200,
    ...(options.requireApproval ? { requireApproval: true } : {}),
  };
  credit.retraining = { rolloutPollSeconds: 1 };
  config.local.timeScale = 0.002;
  delete config.stages;
  await writeFile(project.configFile, JSON.stringify(config));
  return project;
}
