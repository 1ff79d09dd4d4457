import { describe, expect, it } from 'vitest';
import { requireEnv } from '../../functions/commons/helpers/env.ts';
import { MissingEnvironmentError } from '../../functions/kernel/errors.ts';

describe('requireEnv', () => {
  it('returns a set variable', () => {
    expect(requireEnv('KEEL_X', { KEEL_X: 'table' })).toBe('table');
  });

  it.each([[{}], [{ KEEL_X: '' }]])('fails fast with the variable name when missing (%j)', (env) => {
    expect(() => requireEnv('KEEL_X', env)).toThrow(MissingEnvironmentError);
    expect(() => requireEnv('KEEL_X', env)).toThrow('KEEL_X');
  });
});
