import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cruise } from 'dependency-cruiser';
import { afterEach, describe, expect, it } from 'vitest';

// The rules the repository is held to: `.dependency-cruiser.cjs`, as `npx depcruise` reads them.
const config = createRequire(import.meta.url)('../../.dependency-cruiser.cjs') as {
  forbidden: unknown[];
  options: Record<string, unknown>;
};

interface Violation {
  readonly rule: { readonly name: string };
  readonly from: string;
  readonly to: string;
}

async function violations(files: string[], baseDir = process.cwd()): Promise<Violation[]> {
  const result = await cruise(
    files,
    {
      ...config.options,
      baseDir,
      // A planted tree links the repository's node_modules: resolve through the link.
      preserveSymlinks: true,
      ruleSet: { forbidden: config.forbidden } as never,
      validate: true,
    } as never,
    undefined,
    { tsConfig: { fileName: join(process.cwd(), 'tsconfig.json') } } as never,
  );
  const output = result.output as { summary: { violations: Violation[] } };
  return output.summary.violations;
}

describe('the dependency rule', () => {
  it('holds for every module of functions, local, cli, infra and layers', async () => {
    // Act
    const found = await violations(['functions', 'local', 'cli', 'infra', 'layers']);

    // Assess
    expect(found.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`)).toEqual([]);
  });

  describe('fails on a planted violation', () => {
    let dir: string | undefined;
    afterEach(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
      dir = undefined;
    });

    /** A throwaway tree laid out like the repository: `files` maps paths to their source. */
    async function plant(files: Record<string, string>) {
      dir = mkdtempSync(join(tmpdir(), 'keel-layering-'));
      // npm packages resolve as they do in the repository.
      symlinkSync(join(process.cwd(), 'node_modules'), join(dir, 'node_modules'), 'dir');
      for (const [path, source] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, path)), { recursive: true });
        writeFileSync(join(dir, path), source);
      }
      return violations(
        ['functions', 'local', 'cli', 'infra'].filter((d) => Object.keys(files).some((f) => f.startsWith(d))),
        dir,
      );
    }

    it.each([
      [
        'core-is-pure',
        'core importing an AWS adapter',
        {
          'functions/core/models/planted.ts':
            "import { x } from '../../adapters/aws/s3.ts';\nexport const y = x;\n",
          'functions/adapters/aws/s3.ts': 'export const x = 1;\n',
        },
      ],
      [
        'kernel-at-the-bottom',
        'the kernel importing core',
        {
          'functions/kernel/errors.ts': "import { x } from '../core/x.ts';\nexport const y = x;\n",
          'functions/core/x.ts': 'export const x = 1;\n',
        },
      ],
      [
        'infra-imports-contracts',
        'infra importing a runtime module',
        {
          'infra/stacks/planted.ts':
            "import { x } from '../../functions/retraining/steps.ts';\nexport const y = x;\n",
          'functions/retraining/steps.ts': 'export const x = 1;\n',
        },
      ],
      [
        'no-cycles',
        'two modules importing each other',
        {
          'functions/monitoring/a.ts': "import { b } from './b.ts';\nexport const a = () => b;\n",
          'functions/monitoring/b.ts': "import { a } from './a.ts';\nexport const b = () => a;\n",
        },
      ],
      [
        'domain-over-ports',
        'a use case constructing an adapter',
        {
          'functions/retraining/steps.ts':
            "import { S3 } from '../adapters/aws/s3.ts';\nexport const s = new S3();\n",
          'functions/adapters/aws/s3.ts': 'export class S3 {}\n',
        },
      ],
      [
        'reports-render-only',
        'a report reading the registry itself',
        {
          'functions/reports/planted.ts':
            "import { get } from '../registry/registry.ts';\nexport const y = get;\n",
          'functions/registry/registry.ts': 'export const get = 1;\n',
        },
      ],
      [
        'ports-are-interfaces',
        'a port importing code, not types',
        {
          'functions/ports/store.ts': "import { x } from '../kernel/errors.ts';\nexport const y = x;\n",
          'functions/kernel/errors.ts': 'export const x = 1;\n',
        },
      ],
      [
        'contracts-use-only-core-types',
        'a contract loading core code',
        {
          'functions/contracts/config/schema.ts':
            "import { fit } from '../../core/fit.ts';\nexport const y = fit;\n",
          'functions/core/fit.ts': 'export const fit = 1;\n',
        },
      ],
      [
        'sdk-clients-in-adapters',
        'a handler module using an SDK client itself',
        {
          'functions/inference/planted.ts':
            "import { S3Client } from '@aws-sdk/client-s3';\nexport const s3 = new S3Client({});\n",
        },
      ],
      [
        'core-no-platform',
        'core logging with Powertools',
        {
          'functions/core/planted.ts':
            "import { Logger } from '@aws-lambda-powertools/logger';\nexport const log = new Logger();\n",
        },
      ],
      [
        'pipelines-apart',
        'monitoring importing retraining',
        {
          'functions/monitoring/check.ts':
            "import { x } from '../retraining/settings.ts';\nexport const y = x;\n",
          'functions/retraining/settings.ts': 'export const x = 1;\n',
        },
      ],
    ])('%s: %s', async (rule, _, files) => {
      // Act
      const found = await plant(files);

      // Assess
      expect(found.map((v) => v.rule.name)).toContain(rule);
    });

    it('accepts the same tree without the planted import', async () => {
      // Prepare: the layering as it should be, core under adapters.
      const found = await plant({
        'functions/adapters/aws/s3.ts': "import { x } from '../../core/x.ts';\nexport const y = x;\n",
        'functions/core/x.ts': 'export const x = 1;\n',
      });

      // Assess
      expect(found).toEqual([]);
    });
  });
});
