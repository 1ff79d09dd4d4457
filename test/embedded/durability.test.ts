import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { openTarget } from '../../cli/target.ts';
import { capturedPredictionIds } from '../support/capture.ts';
import { tempProject } from '../support/cli.ts';
import { referenceModels, registerModelBytes } from '../support/onnx-reference.ts';

const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** `keel up` in its own process, as a user runs it; resolves with its "up" line. */
async function up(configFile: string): Promise<{ child: ChildProcess; url: string }> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_ENDPOINT_URL')),
  );
  const child = spawn(
    process.execPath,
    ['bin/keel.js', '--config', configFile, 'up', '--json', '--port', '0', '--no-bootstrap'],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  const first = JSON.parse((await lines.next()).value as string) as { url: string };
  return { child, url: first.url };
}

describe('capture durability', () => {
  it('keeps every answered prediction across a kill -9 in the middle of a load', async () => {
    // Prepare: a served model on keel up in another process.
    const { dir, configFile } = await tempProject('keel-durable-');
    dirs.push(dir);
    let { child, url } = await up(configFile);
    const target = await openTarget(configFile);
    try {
      await registerModelBytes(
        target.registry,
        target.lineage,
        referenceModels().models[0]?.bytes as Uint8Array,
      );
    } finally {
      await target.close();
    }
    const deployed = await main(
      ['node', 'keel', '--config', configFile, 'deploy', 'credit@1', '--shift', 'all-at-once', '--wait'],
      { out: () => {}, err: () => {} },
    );
    expect(deployed).toBe(0);
    const instance = Object.fromEntries(
      referenceModels().pipeline.inputs.map((i) => [i.name, i.type === 'numeric' ? 1000 : 'north']),
    );

    // Act: 8 callers, 5 rows a request, until the process is killed under them.
    const answered: string[] = [];
    let killed = false;
    const caller = async () => {
      while (!killed) {
        const response = await fetch(`${url}/v1/models/credit:predict`, {
          method: 'POST',
          body: JSON.stringify({ instances: Array.from({ length: 5 }, () => instance) }),
        }).catch(() => undefined);
        if (response?.status !== 200) continue;
        const body = (await response.json().catch(() => undefined)) as
          | { predictions: { prediction_id: string }[] }
          | undefined;
        // A body that arrived whole is an answer the caller has: its predictions must be captured.
        if (body) answered.push(...body.predictions.map((p) => p.prediction_id));
      }
    };
    const callers = Array.from({ length: 8 }, caller);
    while (answered.length < 2_000) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await once(child, 'exit');
    killed = true;
    await Promise.all(callers);
    // Start again on the same state (the journal is replayed), then stop cleanly (flushed).
    ({ child } = await up(configFile));
    child.kill('SIGINT');
    const [code] = await once(child, 'exit');
    const captured = await capturedPredictionIds(configFile, 'keel');

    // Assess
    expect(code).toBe(0);
    const lost = answered.filter((id) => !captured.has(id));
    expect(lost, `${lost.length} of ${answered.length} answered predictions lost`).toEqual([]);
    expect([...captured.values()].filter((n) => n > 1)).toEqual([]);
  }, 120_000);
});
