import { readFile } from 'node:fs/promises';
import { closest, distance } from 'fastest-levenshtein';
import type { ZodError, z } from 'zod';
import { ConfigError, type FieldIssue } from '../../kernel/errors.ts';
import type { TrafficShift } from '../deployment.ts';
import { type KeelConfig, keelConfigSchema, PREDEFINED_SHIFTS } from './schema.ts';

export const DEFAULT_CONFIG_FILE = 'keel.config.json';

/** The known key closest to a misspelt one, when it is close enough to be what was meant. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  const found = closest(key, [...known]);
  if (found === undefined) return undefined;
  // Within a third of the longer name's length: `modles`→`models`, `retrainCooldwnHours`→…; not `foo`→`owner`.
  return distance(key.toLowerCase(), found.toLowerCase()) <=
    Math.max(1, Math.floor(Math.max(key.length, found.length) / 3))
    ? found
    : undefined;
}

/** Unknown keys come one issue per key, at the key's own path, with a suggestion where one fits. */
const unknownKeys: z.core.$ZodErrorMap = (issue) => {
  if (issue.code !== 'unrecognized_keys') return undefined;
  const shape = (issue.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod
    ?.def?.shape;
  const known = Object.keys(shape ?? {});
  return issue.keys
    .map((key) => {
      const suggestion = closestKey(key, known);
      return `${key}${KEY_SEPARATOR}unknown key${suggestion ? `; did you mean "${suggestion}"?` : `; known keys: ${known.join(', ')}`}`;
    })
    .join(ISSUE_SEPARATOR);
};
const KEY_SEPARATOR = '\u0000';
const ISSUE_SEPARATOR = '\u0001';

function issuesOf(error: ZodError): FieldIssue[] {
  return error.issues.flatMap((issue) => {
    const path = issue.path.map(String);
    if (issue.code !== 'unrecognized_keys' || !issue.message.includes(KEY_SEPARATOR)) {
      return [{ path: path.join('.'), message: issue.message }];
    }
    return issue.message.split(ISSUE_SEPARATOR).map((part) => {
      const [key, message] = part.split(KEY_SEPARATOR) as [string, string];
      return { path: [...path, key].join('.'), message };
    });
  });
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
  const result = keelConfigSchema.safeParse(input, { error: unknownKeys });
  if (!result.success) throw new ConfigError(`${source} is invalid`, issuesOf(result.error));
  // The stages not selected are checked too: a typo in `stages.prod` must not wait for the deploy.
  if (options.stage === undefined && isPlainObject(raw) && isPlainObject(raw.stages)) {
    const issues = Object.entries(raw.stages).flatMap(([stage, overrides]) => {
      const merged = keelConfigSchema.safeParse(deepMerge(raw, overrides), { error: unknownKeys });
      return merged.success
        ? []
        : issuesOf(merged.error).map((issue) => ({ ...issue, path: `stages.${stage}.${issue.path}` }));
    });
    if (issues.length > 0) throw new ConfigError(`${source} is invalid`, issues);
  }
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
