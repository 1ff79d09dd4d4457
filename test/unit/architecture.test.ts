import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

const importsOf = (file: string) =>
  [...readFileSync(file, 'utf8').matchAll(/^\s*import[^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1] as string);

describe('architecture', () => {
  it('keeps the ML and statistics core free of any AWS import', () => {
    const offenders = files('functions/core').flatMap((file) =>
      importsOf(file)
        .filter(
          (spec) => spec.startsWith('@aws-sdk/') || spec.includes('/adapters/') || spec.includes('clients'),
        )
        .map((spec) => `${file} imports ${spec}`),
    );
    expect(offenders).toEqual([]);
  });

  it('creates SDK clients only in the client factory and uses them only in adapters, local provisioning and tests', () => {
    const allowed =
      /^(functions\/commons\/clients\.ts|functions\/commons\/adapters\/aws\/|local\/provision\.ts|local\/embedded-aws\.ts)/;
    const offenders = [...files('functions'), ...files('local'), ...files('cli'), ...files('infra')].flatMap(
      (file) =>
        importsOf(file)
          .filter((spec) => spec.startsWith('@aws-sdk/client-') || spec === '@aws-sdk/lib-dynamodb')
          .filter(() => !allowed.test(file))
          .map((spec) => `${file} imports ${spec}`),
    );
    expect(offenders).toEqual([]);
  });
});
