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
