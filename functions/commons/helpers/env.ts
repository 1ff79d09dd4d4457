import { MissingEnvironmentError } from '../../kernel/errors.ts';

/**
 * Reads a required environment variable. Handlers call it at module load so that a
 * misconfigured function fails at cold start, not on the first request.
 */
export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') throw new MissingEnvironmentError(name);
  return value;
}
