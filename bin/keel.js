#!/usr/bin/env node
// Keel's CLI entry. The CLI is TypeScript run by Node's built-in type stripping (Node >= 22.18),
// so there is no build step; npm scripts get such a Node from the `node@22` dev dependency.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  console.error(
    `keel: Node.js >= 22.18 is required, found ${process.versions.node}. ` +
      'Run it through npm (`npm start`, `npm run keel -- <verb>`), which uses the node@22 package, or install Node 22.',
  );
  process.exit(1);
}
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv);
