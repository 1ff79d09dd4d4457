/**
 * Keel's layering, enforced by `test/unit/architecture.test.ts` (and `npx depcruise` by hand).
 *
 *   kernel       errors, canonical JSON: imports nothing of Keel
 *   contracts    names, env vars, events, capture layout, config: kernel (and core's types)
 *   core         pure ML and statistics: kernel only; no AWS, no platform
 *   ports        interfaces only (type imports): kernel, contracts, core
 *   reports      HTML reports and their charts: core, contracts and kernel only
 *   domain       registry, lineage, inference, retraining, monitoring, federated: the use cases, over ports
 *   adapters     AWS adapters, implementing ports
 *   composition  the AWS root: the one place that constructs adapters
 *   local, cli   the local root and runtime, and the CLI on top
 *   infra        CDK: contracts, kernel and constructs only, so synth never loads the runtime
 */
const LOCAL = '^(functions|local|cli|infra|layers)/';
const DOMAIN = '^functions/(registry|lineage|inference|retraining|monitoring|federated)/';
// Modules that bind a use case to its ports: Lambda entries and their handler modules.
const ENTRY = `${DOMAIN}.*(lambda|handlers|pre-traffic|post-traffic)\\.ts$`;
const SDK = '^node_modules/@aws-sdk/(client-|lib-)';

/** Forbids `from` to import any Keel module but those matching `allowed`. */
const only = (name, from, allowed, comment, extra = {}) => ({
  name,
  comment,
  severity: 'error',
  from: { path: from, ...(extra.fromNot ? { pathNot: extra.fromNot } : {}) },
  to: { path: LOCAL, pathNot: allowed },
});

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'Modules that import each other cannot be read, tested or loaded on their own.',
      severity: 'error',
      from: { path: LOCAL },
      to: { circular: true },
    },
    only(
      'kernel-at-the-bottom',
      '^functions/kernel/',
      '^functions/kernel/',
      'The kernel imports nothing of Keel.',
    ),
    only(
      'contracts-are-dependency-free',
      '^functions/contracts/',
      '^functions/(contracts|kernel|core)/',
      'Contracts are what infra, functions and local share: kernel only (and core for its types, below).',
    ),
    {
      name: 'contracts-use-only-core-types',
      comment: 'The config schema refers to core types (Transform); it never loads core code.',
      severity: 'error',
      from: { path: '^functions/contracts/' },
      to: { path: '^functions/core/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'contracts-npm',
      comment: 'Contracts stay light: zod and fastest-levenshtein (did-you-mean) only.',
      severity: 'error',
      from: { path: '^functions/contracts/' },
      to: { dependencyTypes: ['npm'], pathNot: '^node_modules/(zod|fastest-levenshtein)/' },
    },
    only('core-is-pure', '^functions/core/', '^functions/(core|kernel)/', 'Core is pure ML and statistics.'),
    {
      name: 'core-no-platform',
      comment: 'Core runs in a browser or a notebook too: no AWS SDK, Powertools or middy.',
      severity: 'error',
      from: { path: '^functions/core/' },
      to: { path: '^node_modules/(@aws-sdk|@smithy|@aws-lambda-powertools|@middy|aws-lambda)/' },
    },
    {
      name: 'ports-are-interfaces',
      comment: 'Ports declare; they import types only, and nothing above core.',
      severity: 'error',
      from: { path: '^functions/ports/' },
      to: { path: `${LOCAL}|^node_modules/`, dependencyTypesNot: ['type-only'] },
    },
    only(
      'reports-render-only',
      '^functions/reports/',
      '^functions/(reports|contracts|kernel|core)/',
      'Reports render what the use cases computed: no ports, no use case, no adapter.',
    ),
    only(
      'ports-below-domain',
      '^functions/ports/',
      '^functions/(ports|contracts|kernel|core)/',
      'Ports sit below the use cases.',
    ),
    only(
      'domain-over-ports',
      DOMAIN,
      '^functions/(registry|lineage|inference|retraining|monitoring|federated|reports|ports|contracts|kernel|core)/|^functions/commons/(middleware|powertools|xray-mode|http|helpers/)',
      'Use cases reach the world through ports; only entry modules take them from the composition root.',
      { fromNot: ENTRY },
    ),
    only(
      'entries-bind-use-cases',
      ENTRY,
      '^functions/(registry|lineage|inference|retraining|monitoring|federated|reports|ports|contracts|kernel|core|composition)/|^functions/commons/(middleware|powertools|xray-mode|http|helpers/)',
      'Entry modules bind a use case to the ports of the composition root; they construct no adapter.',
    ),
    {
      name: 'lineage-below-registry',
      comment: 'The registry records lineage; lineage knows nothing of the registry.',
      severity: 'error',
      from: { path: '^functions/lineage/' },
      to: { path: '^functions/(registry|inference|retraining|monitoring)/' },
    },
    {
      name: 'registry-below-use-cases',
      severity: 'error',
      from: { path: '^functions/registry/' },
      to: { path: '^functions/(inference|retraining|monitoring|federated)/' },
    },
    {
      name: 'inference-below-pipelines',
      comment: 'Serving does not know the pipelines that feed it.',
      severity: 'error',
      from: { path: '^functions/inference/' },
      to: { path: '^functions/(retraining|monitoring|federated)/' },
    },
    {
      name: 'pipelines-apart',
      comment: 'Monitoring and retraining talk through events (contracts), not imports.',
      severity: 'error',
      from: { path: '^functions/monitoring/' },
      to: { path: '^functions/retraining/' },
    },
    {
      name: 'pipelines-apart-too',
      comment: 'Monitoring and retraining talk through events (contracts), not imports.',
      severity: 'error',
      from: { path: '^functions/retraining/' },
      to: { path: '^functions/monitoring/' },
    },
    only(
      'adapters-implement-ports',
      '^functions/adapters/',
      '^functions/(adapters|ports|contracts|kernel|core)/|^functions/commons/',
      'Adapters implement ports; they know no use case and no root.',
    ),
    only(
      'commons-is-platform',
      '^functions/commons/',
      '^functions/(commons|contracts|kernel)/',
      'Lambda platform code (clients, Powertools, middleware) under the use cases.',
    ),
    only(
      'composition-is-functions',
      '^functions/composition/',
      '^functions/',
      'The AWS root knows nothing of local, cli or infra.',
    ),
    only(
      'infra-imports-contracts',
      '^infra/',
      '^(infra|layers)/|^functions/(contracts|kernel)/',
      'cdk synth must not load the runtime: infra imports contracts, kernel and constructs only.',
    ),
    only(
      'local-below-cli',
      '^local/',
      '^(local|functions)/',
      'The local runtime knows nothing of the CLI or infra.',
    ),
    only('cli-on-top', '^cli/', '^(cli|local|functions)/', 'The CLI does not load infra.'),
    {
      name: 'sdk-clients-in-adapters',
      comment: 'SDK clients are created in commons/clients.ts and used by adapters (and local provisioning).',
      severity: 'error',
      from: {
        path: LOCAL,
        pathNot:
          '^functions/commons/clients\\.ts$|^functions/adapters/aws/|^local/(provision|embedded-aws)\\.ts$',
      },
      to: { path: SDK, dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
    },
    exclude: { path: '^(test|bench|scripts)/' },
  },
};
