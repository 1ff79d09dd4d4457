/**
 * Typed errors shared by every Keel module.
 *
 * Each error keeps the underlying `cause` so that logs and callers see the whole chain, and
 * carries a stable `name` that Step Functions `Retry`/`Catch` and the Lambda runtime use as
 * the error type.
 */
export class KeelError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
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

  constructor(message: string, issues: readonly FieldIssue[] = [], options?: { cause?: unknown }) {
    super(
      issues.length > 0
        ? `${message}: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`
        : message,
      options,
    );
    this.issues = issues;
    this.summary = message;
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
export class NotFoundError extends KeelError {}

/** The caller raced another writer or named a stale state (optimistic concurrency). */
export class ConflictError extends KeelError {}

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
