import { readFile } from 'node:fs/promises';
import type { ZodError } from 'zod';
import { ConfigError, type FieldIssue } from '../errors.ts';
import type { TrafficShift } from '../ports/deployer.ts';
import { type KeelConfig, keelConfigSchema, PREDEFINED_SHIFTS } from './schema.ts';

export const DEFAULT_CONFIG_FILE = 'keel.config.json';

function issuesOf(error: ZodError): FieldIssue[] {
  return error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message }));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep-merges `override` over `base`: objects merge, everything else (arrays included) replaces. */
export function deepMerge(base: unknown, override: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(override)) return override === undefined ? base : override;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) merged[key] = deepMerge(base[key], value);
  return merged;
}

/**
 * Validates a parsed config. With `stage`, that stage's overrides are merged first (and the
 * stage must exist, so a typo cannot silently deploy the default settings).
 */
export function parseConfig(raw: unknown, options: { stage?: string; source?: string } = {}): KeelConfig {
  const source = options.source ?? 'config';
  let input = raw;
  if (options.stage !== undefined && isPlainObject(raw)) {
    const stages = isPlainObject(raw.stages) ? raw.stages : {};
    if (!(options.stage in stages)) {
      throw new ConfigError(`${source}: unknown stage "${options.stage}"`, [
        { path: 'stages', message: `defined stages: ${Object.keys(stages).join(', ') || 'none'}` },
      ]);
    }
    input = deepMerge(raw, stages[options.stage] ?? {});
  }
  const result = keelConfigSchema.safeParse(input);
  if (!result.success) throw new ConfigError(`${source} is invalid`, issuesOf(result.error));
  return result.data;
}

/** Reads and validates a config file. */
export async function loadConfig(
  file: string = DEFAULT_CONFIG_FILE,
  options: { stage?: string } = {},
): Promise<KeelConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(`Cannot read ${file}`, [], { cause });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`${file} is not valid JSON: ${(cause as Error).message}`, [], { cause });
  }
  return parseConfig(raw, { ...options, source: file });
}

/** The traffic shift a model's serving config names. */
export function trafficShiftOf(shift: KeelConfig['models'][string]['serving']['shift']): TrafficShift {
  return typeof shift === 'string' ? PREDEFINED_SHIFTS[shift] : shift;
}
