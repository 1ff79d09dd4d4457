import type { Command } from 'commander';
import { KeelError } from '../../functions/kernel/errors.ts';
import { brokenArtifacts, lineageTree, renderTree } from '../../functions/registry/lineage-graph.ts';
import type { Io } from '../output.ts';
import { openTarget } from '../target.ts';
import { parseModelRef } from './registry.ts';

export function registerLineage(program: Command, io: Io): void {
  const lineage = program
    .command('lineage')
    .description('Trace models to their data, pipeline, code and parents');
  lineage
    .command('show')
    .description('Print the lineage of model@version|alias as a tree')
    .argument('<model>', 'model@3 or model@production')
    .option('--verify', 'download and hash every artifact instead of checking it exists')
    .option('--depth <n>', 'parent generations to follow', (v) => Number.parseInt(v, 10), 10)
    .option('--json', 'print JSON')
    .action(
      async (
        text: string,
        options: { verify?: boolean; depth: number; json?: boolean },
        command: Command,
      ) => {
        const { model, ref } = parseModelRef(text);
        const target = await openTarget((command.optsWithGlobals() as { config: string }).config);
        try {
          const tree = await lineageTree(target.registry, target.lineage, model, ref ?? 'production', {
            verify: options.verify ?? false,
            depth: options.depth,
          });
          io.out(options.json ? JSON.stringify(tree, null, 2) : renderTree(tree));
          // A broken lineage must fail a script that checks it, not only print a word in a tree.
          const broken = brokenArtifacts(tree);
          if (broken.length > 0)
            throw new KeelError(
              `${broken.length} artifact(s) of ${text} are corrupt or missing: ${broken.map((n) => `${n.check} ${n.label}`).join('; ')}`,
            );
        } finally {
          await target.close();
        }
      },
    );
}
