import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireStateLock, LOCK_FILE, StateDirLockedError } from '../../../local/state-lock.ts';

const run = promisify(execFile);
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-lock-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('acquireStateLock', () => {
  it('takes a free directory, and again for its own holder', async () => {
    const lock = await acquireStateLock(dir);
    expect(await readFile(lock, 'utf8')).toBe(String(process.pid));
    await expect(acquireStateLock(dir)).resolves.toBe(lock);
  });

  it('refuses a directory a live process holds, naming it', async () => {
    await writeFile(join(dir, LOCK_FILE), String(process.ppid));
    await expect(acquireStateLock(dir)).rejects.toBeInstanceOf(StateDirLockedError);
    await expect(acquireStateLock(dir)).rejects.toThrow(`pid ${process.ppid}`);
  });

  it.each([
    ['a dead holder (kill -9)', '999999999'],
    ['garbage in the file', 'not a pid'],
  ])('takes over from %s', async (_, content) => {
    await writeFile(join(dir, LOCK_FILE), content);
    const lock = await acquireStateLock(dir);
    expect(await readFile(lock, 'utf8')).toBe(String(process.pid));
  });

  it('lets one of two contenders that both saw the same stale lock take it over', async () => {
    // Prepare: both see the dead holder before either acts (a barrier in the takeover hook).
    await writeFile(join(dir, LOCK_FILE), '999999999');
    let waiting = 0;
    let release: () => void = () => {};
    const barrier = new Promise<void>((r) => {
      release = r;
    });
    const beforeTakeover = async () => {
      if (++waiting === 2) release();
      await barrier;
    };

    // Act: two live pids (this process and its parent) contend.
    const results = await Promise.allSettled([
      acquireStateLock(dir, process.pid, { beforeTakeover }),
      acquireStateLock(dir, process.ppid, { beforeTakeover }),
    ]);

    // Assess
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(StateDirLockedError);
  });

  it('lets exactly one of eight processes starting at once win, also over a stale lock', async () => {
    // Prepare: a stale lock, which every contender sees and tries to take over.
    await writeFile(join(dir, LOCK_FILE), '999999999');
    const script = `
      const { acquireStateLock } = await import(${JSON.stringify(resolve('local/state-lock.ts'))});
      const start = Number(process.argv[1]);
      await new Promise((r) => setTimeout(r, Math.max(0, start - Date.now())));
      try { await acquireStateLock(process.argv[2]); console.log('won'); await new Promise((r) => setTimeout(r, 1500)); }
      catch (e) { console.log(e.name); }`;
    const start = Date.now() + 1500;

    // Act
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, String(start), dir]),
      ),
    );

    // Assess
    const outcomes = results.map((r) => r.stdout.trim()).sort();
    expect(outcomes.filter((o) => o === 'won')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'StateDirLockedError')).toHaveLength(7);
  }, 30_000);
});
