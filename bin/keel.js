#!/usr/bin/env node
// Keel's CLI entry. The CLI is TypeScript, loaded through tsx (esbuild) so there is no build
// step. Not Node's own type stripping: hot numeric loops in stripped modules ran 2-3x slower
// here (a float64 dot product: 3.3 ns/element vs 1.4 ns under tsx, Node 22.23), and training
// runs through this entry.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  console.error(
    `keel: Node.js >= 22.12 is required, found ${process.versions.node}. ` +
      'Run it through npm (`npm start`, `npm run keel -- <verb>`), which uses the node@22 package, or install Node 22.',
  );
  process.exit(1);
}
// A closed pipe (`keel predict --json | head`) ends the output, not the program with a trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
}
// Handlers run in this process: their EMF lines and logs would only clutter the terminal (the
// local runtime keeps its own metrics; keel up shows a status panel). The environment decides:
// POWERTOOLS_LOG_LEVEL=INFO shows the handlers' logs.
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv);
