import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { up } from '../../cli/commands/up.ts';
import type { Io } from '../../cli/output.ts';
import { createLineageStore, createRegistry } from '../../functions/composition/aws.ts';
import { tempProject } from '../support/cli.ts';
import { referenceModels, registerModelBytes } from '../support/onnx-reference.ts';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('keel up status panel', () => {
  it.each([
    [true, 'redraws in place on a terminal'],
    [false, 'prints each new panel below the last elsewhere'],
  ])(
    'tty %s: %s',
    async (tty) => {
      // Prepare: keel up in this process, its output captured.
      const { dir, configFile } = await tempProject('keel-up-panel-');
      dirs.push(dir);
      const outputs: string[] = [];
      const io: Io = { out: (t) => outputs.push(t), err: () => {}, outIsTty: tty };
      const stop = new AbortController();
      const running = up(
        { config: configFile, ephemeral: true, port: 0, bootstrap: false, statusEveryMs: 50 },
        io,
        stop.signal,
      );
      const panels = () => outputs.filter((o) => o.includes('live:'));
      await expect.poll(panels, { timeout: 20_000 }).toHaveLength(1);
      const first = panels()[0] as string;

      // Act: the panel changes (a version and an alias appear).
      const registry = createRegistry();
      const version = await registerModelBytes(
        registry,
        createLineageStore(),
        referenceModels().models[0]?.bytes as Uint8Array,
      );
      await registry.moveAlias(
        'credit',
        'candidate',
        { to: version, expected: null },
        { actor: 't', reason: 'panel' },
      );
      await expect.poll(panels, { timeout: 20_000 }).toHaveLength(2);
      stop.abort();
      await running;

      // Assess: on a terminal the cursor goes back over the old panel's lines, which are cleared.
      const second = panels()[1] as string;
      const lines = first.replace(/^\n/, '').split('\n').length;
      if (tty) expect(second.startsWith(`\x1b[${lines}F\x1b[J`)).toBe(true);
      else expect(second.startsWith('\n')).toBe(true);
      expect(second).toContain('candidate=v1');
    },
    60_000,
  );
});
