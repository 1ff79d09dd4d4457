import { defineConfig } from 'vitest/config';

/**
 * Test tiers:
 * - unit: pure code and AWS adapters against aws-sdk-client-mock; no network.
 * - embedded: integration tests against the in-process emulators (dynalite, s3rver), plus the
 *   local runtime and CLI.
 * - infra: CDK template assertions, cdk-nag, and checks of the ASL files.
 * - aws: the same integration tests against the endpoint in AWS_ENDPOINT_URL (moto_server in
 *   CI, LocalStack for users with Docker).
 * `npm test` runs unit + embedded + infra; `npm run test:aws` runs aws.
 */
export default defineConfig({
  test: {
    setupFiles: ['test/support/matchers.ts'],
    // Handlers log and emit EMF to stdout; keep test output readable.
    env: {
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_TRACE_ENABLED: 'false',
    },
    restoreMocks: true,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'embedded',
          include: ['test/integration/**/*.test.ts', 'test/embedded/**/*.test.ts'],
          globalSetup: ['test/support/embedded-aws.global.ts'],
          setupFiles: ['test/support/aws-env.ts'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'infra',
          include: ['test/infra/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'aws',
          include: ['test/integration/**/*.test.ts', 'test/aws/**/*.test.ts'],
          globalSetup: ['test/support/aws-endpoint.global.ts'],
          setupFiles: ['test/support/aws-env.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
