/**
 * Helpers over Amazon States Language definitions, shared by the CDK construct that deploys a
 * state machine and the local runner that executes the same file, so both substitute and
 * check `${Placeholders}` identically.
 */
import { ValidationError } from '../kernel/errors.ts';

/** A state as found in an ASL definition; only the fields Keel inspects are typed. */
export interface AslState {
  readonly Type: string;
  readonly Resource?: string;
  readonly Parameters?: unknown;
  readonly Retry?: readonly unknown[];
  readonly Catch?: readonly unknown[];
  readonly Seconds?: number;
  readonly Branches?: readonly AslDefinition[];
  readonly Iterator?: AslDefinition;
  readonly ItemProcessor?: AslDefinition;
  readonly [key: string]: unknown;
}

export interface AslDefinition {
  readonly StartAt: string;
  readonly States: Readonly<Record<string, AslState>>;
  readonly [key: string]: unknown;
}

const PLACEHOLDER = /\$\{([A-Za-z][A-Za-z0-9_]*)\}/g;

/** The distinct `${Name}` placeholders in an ASL text, sorted. */
export function placeholders(aslText: string): string[] {
  return [...new Set([...aslText.matchAll(PLACEHOLDER)].map((m) => m[1] as string))].sort();
}

/**
 * Replaces every `${Name}` with its substitution, as Step Functions does for
 * `DefinitionSubstitutions`. A placeholder without a substitution is an error, never left in.
 */
export function substitute(aslText: string, substitutions: Readonly<Record<string, string>>): string {
  const missing = placeholders(aslText).filter((name) => !(name in substitutions));
  if (missing.length > 0) {
    throw new ValidationError(
      'State machine definition has placeholders without a substitution',
      missing.map((name) => ({ path: `\${${name}}`, message: 'no substitution given' })),
    );
  }
  return aslText.replace(PLACEHOLDER, (_, name: string) => substitutions[name] as string);
}

/** Parses an ASL text, reporting malformed JSON or a missing `StartAt`/`States` as a validation error. */
export function parseDefinition(aslText: string, source = 'definition'): AslDefinition {
  let parsed: unknown;
  try {
    parsed = JSON.parse(aslText);
  } catch (cause) {
    throw new ValidationError(`${source} is not valid JSON`, [], { cause });
  }
  const candidate = parsed as Partial<AslDefinition> | null;
  if (
    typeof candidate?.StartAt !== 'string' ||
    typeof candidate.States !== 'object' ||
    candidate.States === null
  ) {
    throw new ValidationError(`${source} is not a state machine`, [
      { path: 'StartAt/States', message: 'an ASL definition needs StartAt and States' },
    ]);
  }
  return candidate as AslDefinition;
}

/**
 * Visits every state, including those nested in Parallel branches and Map processors.
 * `path` names the enclosing states, e.g. `['FanOut', 'ProfilePartition']`.
 */
export function walkStates(
  definition: AslDefinition,
  visit: (name: string, state: AslState, path: readonly string[]) => void,
  path: readonly string[] = [],
): void {
  for (const [name, state] of Object.entries(definition.States)) {
    visit(name, state, [...path, name]);
    for (const branch of state.Branches ?? []) walkStates(branch, visit, [...path, name]);
    const processor = state.ItemProcessor ?? state.Iterator;
    if (processor) walkStates(processor, visit, [...path, name]);
  }
}

/** Task states lacking a `Retry` or a `Catch`; every Keel Task must have both. */
export function tasksWithoutErrorHandling(
  definition: AslDefinition,
): { state: string; missing: ('Retry' | 'Catch')[] }[] {
  const found: { state: string; missing: ('Retry' | 'Catch')[] }[] = [];
  walkStates(definition, (_name, state, path) => {
    if (state.Type !== 'Task') return;
    const missing: ('Retry' | 'Catch')[] = [];
    if (!state.Retry?.length) missing.push('Retry');
    if (!state.Catch?.length) missing.push('Catch');
    if (missing.length > 0) found.push({ state: path.join('/'), missing });
  });
  return found;
}
