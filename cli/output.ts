import { KeelError, ValidationError } from '../functions/kernel/errors.ts';

/** Where the CLI writes; injectable so commands are testable without a terminal. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Whether `out` is a terminal (a panel may redraw in place). @default false */
  readonly outIsTty?: boolean;
  /** Whether `err` is a terminal (a progress line may rewrite itself). @default false */
  readonly errIsTty?: boolean;
  /** Writes to `err` as is, without a newline (progress lines). @default err */
  errRaw?(text: string): void;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  outIsTty: process.stdout.isTTY === true,
  errIsTty: process.stderr.isTTY === true,
  errRaw: (text) => process.stderr.write(text),
};

/** Exit codes: 0 ok, 1 failure, 2 the caller's mistake (bad flags, config or input). */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Prints an error for a person (one line per field issue) and returns the exit code it deserves. */
export function reportError(io: Io, error: unknown): number {
  if (error instanceof ValidationError) {
    io.err(`keel: ${error.summary}`);
    for (const issue of error.issues) io.err(`  - ${issue.path || '(root)'}: ${issue.message}`);
    return EXIT.usage;
  }
  if (error instanceof KeelError) {
    io.err(`keel: ${error.message}`);
    return EXIT.failure;
  }
  io.err(
    `keel: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  );
  return EXIT.failure;
}
