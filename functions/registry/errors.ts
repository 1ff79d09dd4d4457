import { ConflictError, NotFoundError } from '../kernel/errors.ts';

/** The model, or the named version or alias of it, does not exist. */
export class ModelNotFoundError extends NotFoundError {
  readonly model: string;

  constructor(model: string, what?: string) {
    super(what ? `${model}: ${what} not found` : `Model ${model} not found`);
    this.model = model;
  }
}

/** The version's state forbids the operation (e.g. approving a rejected version), or registration lost every race. */
export class VersionConflictError extends ConflictError {
  readonly model: string;
  readonly version: number | undefined;

  constructor(model: string, version: number | undefined, message: string) {
    super(`${model}${version === undefined ? '' : `@${version}`}: ${message}`);
    this.model = model;
    this.version = version;
  }
}

/** An alias move named a version it expected to replace, but the alias points elsewhere now. */
export class AliasConflictError extends ConflictError {
  readonly model: string;
  readonly alias: string;
  readonly expected: number | null;
  readonly actual: number | null;

  constructor(model: string, alias: string, expected: number | null, actual: number | null) {
    super(
      `${model}: alias ${alias} points at ${actual === null ? 'nothing' : `version ${actual}`}, not ${expected === null ? 'nothing' : `version ${expected}`} as expected; re-read and retry`,
    );
    this.model = model;
    this.alias = alias;
    this.expected = expected;
    this.actual = actual;
  }
}
