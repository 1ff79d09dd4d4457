/**
 * Typed errors shared by every Keel module.
 *
 * Each error keeps the underlying `cause` so that logs and callers see the whole chain, and
 * carries a stable `name` that Step Functions `Retry`/`Catch` and the Lambda runtime use as
 * the error type.
 */
export class KeelError extends Error {
  /** The HTTP status this error answers with at an API edge; undefined for "ours" (a 500). */
  readonly status?: number;
  /** Headers that go with the status (`allow` on a 405). */
  readonly headers?: Readonly<Record<string, string>>;

  constructor(message: string, options?: KeelErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    const status = options?.status ?? (new.target as { readonly status?: number }).status;
    if (status !== undefined) this.status = status;
    if (options?.headers) this.headers = options.headers;
  }
}

export interface KeelErrorOptions {
  readonly cause?: unknown;
  /** @default the class's own status, if it has one */
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
}

/** The issues of a schema validation failure, as zod reports them (structurally: the kernel loads no zod). */
export interface SchemaIssues {
  readonly issues: readonly { readonly path: readonly PropertyKey[]; readonly message: string }[];
}

/** One field-level problem in a caller's input. */
export interface FieldIssue {
  /** Dotted path of the offending field, e.g. `models.credit.costs.falsePositive`. */
  readonly path: string;
  readonly message: string;
}

/** A caller's input is invalid. Carries every field-level issue, not just the first. */
export class ValidationError extends KeelError {
  readonly issues: readonly FieldIssue[];
  /** The message without the issues appended to it. */
  readonly summary: string;

  static readonly status = 400;

  constructor(message: string, issues: readonly FieldIssue[] = [], options?: KeelErrorOptions) {
    super(
      issues.length > 0
        ? `${message}: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`
        : message,
      options,
    );
    this.issues = issues;
    this.summary = message;
  }

  /** Field issues from a schema failure (zod's `error.issues`), every one, paths dotted; `prefix` roots them. */
  static issuesOf(error: SchemaIssues, prefix = ''): FieldIssue[] {
    return error.issues.map((i) => {
      const path = i.path.map(String).join('.');
      return { path: prefix && path ? `${prefix}.${path}` : prefix || path, message: i.message };
    });
  }

  /** A validation error from a schema failure, naming every bad field; the schema error is its cause. */
  static fromZod<T extends typeof ValidationError>(
    this: T,
    message: string,
    error: SchemaIssues,
    options: { readonly prefix?: string } = {},
  ): InstanceType<T> {
    return new this(message, ValidationError.issuesOf(error, options.prefix), {
      cause: error,
    }) as InstanceType<T>;
  }
}

/** The project configuration file is missing or invalid. */
export class ConfigError extends ValidationError {}

/** A required environment variable is missing at start-up. */
export class MissingEnvironmentError extends KeelError {
  readonly variable: string;

  constructor(variable: string) {
    super(`Environment variable ${variable} is required but not set`);
    this.variable = variable;
  }
}

/** An emulator or endpoint that a run depends on does not answer. */
export class EndpointUnavailableError extends KeelError {
  readonly endpoint: string;

  constructor(endpoint: string, options?: { cause?: unknown }) {
    super(`No AWS-compatible endpoint answers at ${endpoint}`, options);
    this.endpoint = endpoint;
  }
}

/** A Lambda function (real or local) returned a function error. `name` is the function's error type. */
export class FunctionInvocationError extends KeelError {
  readonly functionName: string;
  readonly errorType: string;
  /** The function's own error message. */
  readonly errorMessage: string;

  constructor(functionName: string, errorType: string, errorMessage: string, options?: { cause?: unknown }) {
    super(`${functionName} failed with ${errorType}: ${errorMessage}`, options);
    this.functionName = functionName;
    this.errorType = errorType;
    this.errorMessage = errorMessage;
  }
}

/** Some events could not be published. */
export class EventPublishError extends KeelError {
  readonly failures: readonly {
    readonly detailType: string;
    readonly code?: string;
    readonly message?: string;
  }[];

  constructor(failures: EventPublishError['failures']) {
    super(
      `${failures.length} event(s) were not published: ${failures.map((f) => `${f.detailType} (${f.code ?? 'unknown'}: ${f.message ?? ''})`).join(', ')}`,
    );
    this.failures = failures;
  }
}

/** A deployment, pipeline or execution named by the caller does not exist. */
export class NotFoundError extends KeelError {
  static readonly status = 404;
}

/** The caller raced another writer or named a stale state (optimistic concurrency). */
export class ConflictError extends KeelError {
  static readonly status = 409;
}

/** The caller is who it says, but may not do this. */
export class ForbiddenError extends KeelError {
  static readonly status = 403;
}

/** A `.waitForTaskToken` task is no longer open: answered, timed out, or its execution ended. */
export class TaskClosedError extends ConflictError {}

/** The caller used a method the resource does not take; `allow` names those it does. */
export class MethodNotAllowedError extends KeelError {
  static readonly status = 405;
  readonly allowed: readonly string[];

  constructor(allowed: readonly string[]) {
    super(`method not allowed; use ${allowed.join(' or ')}`, { headers: { allow: allowed.join(', ') } });
    this.allowed = allowed;
  }
}

/** The request body is larger than the API takes. */
export class PayloadTooLargeError extends KeelError {
  static readonly status = 413;
}

/** Stored data failed its integrity check (hash mismatch, or a record that no longer matches its schema). */
export class IntegrityError extends KeelError {}

/**
 * A failure's cause in one line: a Lambda error's `Cause` is JSON (`errorType`, `errorMessage`,
 * `trace`); a local one is the message itself.
 */
export function failureMessage(failure: { readonly Error?: string; readonly Cause?: string }): string {
  const error = failure.Error ?? 'Error';
  const cause = failure.Cause ?? '';
  try {
    const parsed = JSON.parse(cause) as { errorType?: unknown; errorMessage?: unknown };
    if (typeof parsed?.errorMessage === 'string')
      return `${typeof parsed.errorType === 'string' ? parsed.errorType : error}: ${parsed.errorMessage}`;
  } catch {
    /* not JSON: the message itself */
  }
  return cause ? `${error}: ${cause}` : error;
}

/** Errors that mean "slow down", retried by the registry's append loop like contention. */
export function isThrottling(error: unknown): boolean {
  const name = (error as { name?: string } | null)?.name ?? '';
  return [
    'ProvisionedThroughputExceededException',
    'ThrottlingException',
    'RequestLimitExceeded',
    'TooManyRequestsException',
  ].includes(name);
}
