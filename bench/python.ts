/**
 * Finds a Python with the reference libraries for baseline timings: `KEEL_PYTHON`, else the
 * repository's `.venv` (see README, "Reference fixtures"). Benchmarks whose baseline needs it
 * report themselves skipped when there is none, rather than failing the whole run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export function referencePython(modules: readonly string[]): string | undefined {
  const candidates = [process.env.KEEL_PYTHON, join(import.meta.dirname, '..', '.venv', 'bin', 'python')];
  for (const python of candidates) {
    if (!python || (python.includes('/') && !existsSync(python))) continue;
    const probe = spawnSync(python, ['-c', `import ${modules.join(', ')}`], { encoding: 'utf8' });
    if (probe.status === 0) return python;
  }
  return undefined;
}
