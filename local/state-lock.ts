/**
 * One Keel runtime per state directory (LevelDB and s3rver would corrupt each other's files),
 * held by a pid file created with O_EXCL, so that two `keel up` starting at once cannot both
 * win: the read-then-write it replaces let both through. A lock whose holder is dead (a
 * kill -9) is taken over, under a second O_EXCL file, so that two processes replacing the same
 * stale lock cannot each remove the other's new one.
 */
import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeelError } from '../functions/kernel/errors.ts';

/** Another process already uses the state directory. */
export class StateDirLockedError extends KeelError {}

export const LOCK_FILE = 'keel.pid';

/** A takeover lock older than this belongs to a process that died while taking over. */
const TAKEOVER_STALE_MS = 2_000;

/** A lock file still without a pid after this was left by a process that died writing it. */
const UNWRITTEN_STALE_MS = 1_000;

const ageOf = (path: string) =>
  stat(path).then(
    (s) => Date.now() - s.mtimeMs,
    () => 0,
  );

/** Whether a process of this pid exists (EPERM: it does, owned by another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Creates `path` holding `content`, only if it does not exist; false when it does. */
async function createExclusive(path: string, content: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}

const holderOf = async (path: string) => Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);

/**
 * Takes the state directory's lock for this process, or throws {@link StateDirLockedError}
 * naming the live holder. Resolves to the lock file's path (remove it to release).
 */
export async function acquireStateLock(
  stateDir: string,
  pid = process.pid,
  /** For tests: runs when a stale lock was seen, before taking it over. @default none */
  hooks: { readonly beforeTakeover?: () => Promise<void> } = {},
): Promise<string> {
  await mkdir(stateDir, { recursive: true });
  const lockFile = join(stateDir, LOCK_FILE);
  const takeover = `${lockFile}.takeover`;
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    if (await createExclusive(lockFile, String(pid))) return lockFile;
    const holder = await holderOf(lockFile);
    if (holder === pid) return lockFile;
    if (Number.isInteger(holder) && isAlive(holder))
      throw new StateDirLockedError(
        `${stateDir} is in use by another Keel process (pid ${holder}); stop it first`,
      );
    // No pid yet and young: a holder between creating the file and writing it. Give it a moment.
    if (!Number.isInteger(holder) && (await ageOf(lockFile)) < UNWRITTEN_STALE_MS) {
      await sleep(20);
      continue;
    }
    // The holder is dead (or never wrote): take over, one process at a time.
    await hooks.beforeTakeover?.();
    if (await createExclusive(takeover, String(pid))) {
      try {
        const again = await holderOf(lockFile);
        if (again === holder || Number.isNaN(again)) await rm(lockFile, { force: true });
      } finally {
        await rm(takeover, { force: true });
      }
    } else {
      if ((await ageOf(takeover)) > TAKEOVER_STALE_MS) await rm(takeover, { force: true });
      await sleep(10);
    }
  }
  throw new StateDirLockedError(`${stateDir}: could not take its lock; another Keel process keeps taking it`);
}
