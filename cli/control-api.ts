/**
 * Calls a running `keel up`'s HTTP API (its control routes and the API it serves): a 4xx is
 * the caller's mistake, reported as a validation error with the fields the server named.
 */
import { KeelError, ValidationError } from '../functions/kernel/errors.ts';

export async function controlApi<T>(url: string, path: string, init?: RequestInit): Promise<T> {
  const response = await fetch(`${url}${path}`, {
    ...init,
    headers: { 'content-type': 'application/json' },
  });
  const body = (await response.json()) as T & {
    message?: string;
    issues?: { path: string; message: string }[];
  };
  if (response.status >= 400) {
    if (response.status < 500) throw new ValidationError(body.message ?? 'Refused', body.issues ?? []);
    throw new KeelError(body.message ?? `control API answered ${response.status}`);
  }
  return body;
}
