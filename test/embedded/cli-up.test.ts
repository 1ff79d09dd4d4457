import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { openTarget } from '../../cli/target.ts';
import { smallModelProject, tempProject } from '../support/cli.ts';
import { isListening } from '../support/net.ts';
import { referenceModels, registerModelBytes } from '../support/onnx-reference.ts';

const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Runs the real CLI entry point as a user would, in a clean environment without endpoint variables. */
function keel(args: string[], extraEnv: Record<string, string> = {}): ChildProcess {
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_ENDPOINT_URL'))),
    ...extraEnv,
  };
  const child = spawn(process.execPath, ['bin/keel.js', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return child;
}

async function run(
  args: string[],
  extraEnv: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = keel(args, extraEnv);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => {
    stdout += d;
  });
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const [code] = await once(child, 'exit');
  return { code: code as number | null, stdout, stderr };
}

describe('keel up', () => {
  it.each([['abc'], ['-1'], ['70000']])(
    'refuses PORT=%s with a usage error, not a stack trace',
    async (port) => {
      // Act
      const { code, stderr } = await run(['up', '--ephemeral', '--no-bootstrap'], { PORT: port });

      // Assess
      expect(code).toBe(2);
      expect(stderr).toContain(`PORT: expected a port number from 0 to 65535, got "${port}"`);
      expect(stderr).not.toMatch(/\n\s+at /);
    },
  );

  it('comes up, reports what runs where, and stops cleanly on Ctrl-C', async () => {
    // Prepare
    const stateDir = await mkdtemp(join(tmpdir(), 'keel-up-'));
    dirs.push(stateDir);
    const child = keel(['up', '--json', '--port', '0', '--state-dir', stateDir, '--no-bootstrap']);
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const iterator = lines[Symbol.asyncIterator]();

    // Act
    const first = JSON.parse((await iterator.next()).value as string);
    expect(await isListening(first.aws.dynamodb)).toBe(true);
    expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await isListening(first.url)).toBe(true);
    child.kill('SIGINT');
    // Status and schedule events may come first; the stop is the last line.
    let next: string | undefined;
    for (;;) {
      const line = await iterator.next();
      if (line.done) break;
      next = line.value as string;
    }
    const [code, signal] =
      child.exitCode !== null ? [child.exitCode, child.signalCode] : await once(child, 'exit');
    // The child's stderr explains a missing line (a stop that threw, a crash on shutdown).
    expect(next, `no line after SIGINT (exit ${code}, signal ${signal}); stderr: ${stderr}`).toBeDefined();
    const second = JSON.parse(next as string);

    // Assess
    expect(first).toMatchObject({
      status: 'up',
      stateDir,
      aws: { mode: 'embedded' },
      resources: { table: 'keel-registry', lineageBucket: 'keel-lineage' },
    });
    // The child's stderr explains a failure here (a stop that threw, a warning on shutdown).
    expect(second, stderr).toEqual({ status: 'stopped' });
    expect(code, stderr).toBe(0);
    expect(await isListening(first.aws.dynamodb), 'DynamoDB port after stop').toBe(false);
    expect(await isListening(first.aws.s3), 'S3 port after stop').toBe(false);
    expect(await isListening(first.url), 'API port after stop').toBe(false);
  });

  it('keel deploy rolls a registered version out on the running runtime, which then serves it', async () => {
    // Prepare: a project brought up in another process, and a model version registered in it.
    const { dir, configFile } = await tempProject('keel-up-deploy-');
    dirs.push(dir);
    const child = keel(['--config', configFile, 'up', '--json', '--port', '0', '--no-bootstrap']);
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
    const up = JSON.parse((await lines.next()).value as string);
    const [lr] = referenceModels().models;
    const target = await openTarget(configFile);
    try {
      await registerModelBytes(target.registry, target.lineage, lr?.bytes as Uint8Array);
    } finally {
      await target.close();
    }

    // Act
    let out = '';
    const code = await main(
      [
        'node',
        'keel',
        '--config',
        configFile,
        'deploy',
        'credit@1',
        '--shift',
        'all-at-once',
        '--wait',
        '--json',
      ],
      { out: (t) => (out += t), err: (t) => (out += `ERR ${t}`) },
    );
    const instance = Object.fromEntries(
      referenceModels().pipeline.inputs.map((i) => [i.name, i.type === 'numeric' ? 1000 : 'north']),
    );
    const served = await fetch(`${up.url}/v1/models/credit:predict`, {
      method: 'POST',
      body: JSON.stringify({ instances: [instance] }),
    });
    const body = (await served.json()) as { model_version: string };
    child.kill('SIGINT');
    await once(child, 'exit');

    // Assess
    expect(code, out).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ model: 'credit', version: 1, status: 'Succeeded' });
    expect(body.model_version).toBe('1');
  });

  it('keel registry rollback and promote of production move serving with the registry', async () => {
    // Prepare: two versions, v2 live, on a runtime in another process.
    const { dir, configFile } = await tempProject('keel-up-rollback-');
    dirs.push(dir);
    const child = keel(['--config', configFile, 'up', '--json', '--port', '0', '--no-bootstrap']);
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
    const up = JSON.parse((await lines.next()).value as string);
    const target = await openTarget(configFile);
    try {
      for (const [k, m] of referenceModels().models.entries())
        await registerModelBytes(target.registry, target.lineage, m.bytes, { seed: k + 1 });
      await target.registry.moveAlias(
        'credit',
        'fallback',
        { to: 1, expected: null },
        { actor: 'test', reason: 'the LR serves when the primary fails' },
      );
    } finally {
      await target.close();
    }
    const cli = async (...args: string[]) => {
      let out = '';
      let err = '';
      const code = await main(['node', 'keel', '--config', configFile, ...args], {
        out: (t) => (out += t),
        err: (t) => (err += t),
      });
      return { code, out, err };
    };
    const instance = Object.fromEntries(
      referenceModels().pipeline.inputs.map((i) => [i.name, i.type === 'numeric' ? 1000 : 'north']),
    );
    const servedVersion = async () =>
      (
        (await (
          await fetch(`${up.url}/v1/models/credit:predict`, {
            method: 'POST',
            body: JSON.stringify({ instances: [instance] }),
          })
        ).json()) as { model_version: string }
      ).model_version;
    const production = async () =>
      JSON.parse((await cli('registry', 'show', 'credit@production', '--json')).out).version;
    const first = await cli('deploy', 'credit@1', '--shift', 'all-at-once', '--wait');
    expect(first.code, first.err).toBe(0);
    expect(first.err).toContain('credit@1 is also the fallback');
    const promoted = await cli(
      'registry',
      'promote',
      'credit',
      '2',
      '--reason',
      'better',
      '--shift',
      'all-at-once',
    );
    const afterPromote = { registry: await production(), serving: await servedVersion() };

    // Act
    const rolled = await cli('registry', 'rollback', 'credit', '--reason', 'error-rate alarm');
    const afterRollback = { registry: await production(), serving: await servedVersion() };
    const history = JSON.parse(
      (await cli('registry', 'history', 'credit', '--alias', 'production', '--json')).out,
    );
    child.kill('SIGINT');
    await once(child, 'exit');

    // Assess
    expect(promoted.code, promoted.err).toBe(0);
    expect(afterPromote).toEqual({ registry: 2, serving: '2' });
    expect(rolled.code, rolled.err).toBe(0);
    expect(rolled.out).toMatch(
      /credit: production rolled back to 1, serving it \(rollout \S+, all-at-once\)/,
    );
    expect(afterRollback).toEqual({ registry: 1, serving: '1' });
    expect(history.at(-1)).toMatchObject({ from: 2, to: 1, details: { rollback: true } });
    expect(history.at(-1).reason).toMatch(/rollback: error-rate alarm/);
  }, 60_000);

  it('keel retrain and keel approve drive the pipeline of the running runtime', async () => {
    // Prepare: a small synthetic model that needs approval, brought up in another process.
    const { dir, configFile } = await smallModelProject('keel-up-retrain-', {
      trees: 30,
      requireApproval: true,
    });
    dirs.push(dir);
    const child = keel(['--config', configFile, 'up', '--json', '--port', '0', '--no-bootstrap']);
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
    await lines.next();

    // Act: retrain (it waits for approval), and approve from another command once it asks;
    // separate processes, as a person at two terminals would run them.
    const retrain = run(['--config', configFile, 'retrain', 'credit', '--reason', 'weekly']);
    let pending: { execution: string }[] = [];
    for (let i = 0; i < 30 && pending.length === 0; i++) {
      const listed = await run(['--config', configFile, 'approvals', '--json']);
      pending = listed.code === 0 ? (JSON.parse(listed.stdout) as { execution: string }[]) : [];
    }
    const approved = await run([
      '--config',
      configFile,
      'approve',
      pending[0]?.execution ?? 'none',
      '--approve',
      '--reason',
      'report read',
      '--actor',
      'ana',
    ]);
    const result = await retrain;
    child.kill('SIGINT');
    await once(child, 'exit');

    // Assess
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toMatch(/^credit: approved by ana/);
    expect(result.code, result.stderr + result.stdout).toBe(0);
    expect(result.stderr).toMatch(/\[1\/8\] ✓ PrepareData {2}\d+\.\d s/);
    expect(result.stderr).toMatch(/waiting for approval: keel approve \S+ --approve\|--reject/);
    expect(result.stdout).toContain('credit: promoted');
  }, 120_000);

  it('lets other keel commands work on the running runtime’s state', async () => {
    // Prepare: a project whose state lives in a temp dir, brought up in another process.
    const { dir, configFile } = await tempProject('keel-up-cli-');
    dirs.push(dir);
    const child = keel(['--config', configFile, 'up', '--json', '--port', '0', '--no-bootstrap']);
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
    const up = JSON.parse((await lines.next()).value as string);

    // Act: the CLI connects to the emulators `keel up` announced (its state dir is locked).
    let out = '';
    const code = await main(['node', 'keel', '--config', configFile, 'registry', 'ls', '--json'], {
      out: (t) => (out += t),
      err: (t) => (out += `ERR ${t}`),
    });
    child.kill('SIGINT');
    await once(child, 'exit');

    // Assess
    expect(code, out).toBe(0);
    expect(JSON.parse(out)).toEqual([]);
    expect(up.stateDir).toBe(join(dir, 'state'));
    expect(existsSync(join(dir, 'state', 'runtime.json'))).toBe(false);
  });

  it('runs the drift check on the configured schedule, and keel monitor run reaches the same runtime', async () => {
    // Prepare: an hourly check at a time scale that makes it every 0.72 s.
    const { dir, configFile } = await tempProject('keel-up-monitor-');
    dirs.push(dir);
    const config = JSON.parse(await readFile(configFile, 'utf8'));
    config.models.credit.schedules = { driftCheck: 'rate(1 hour)' };
    await writeFile(configFile, JSON.stringify(config));
    const child = keel([
      '--config',
      configFile,
      'up',
      '--json',
      '--port',
      '0',
      '--time-scale',
      '0.0002',
      '--no-bootstrap',
    ]);
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
    JSON.parse((await lines.next()).value as string);

    // Act: the first scheduled run, then a run on demand from another process.
    let scheduled: { event?: string } = {};
    while (scheduled.event !== 'schedule') scheduled = JSON.parse((await lines.next()).value as string);
    let out = '';
    const code = await main(['node', 'keel', '--config', configFile, 'monitor', 'run', 'credit', '--json'], {
      out: (t) => (out += t),
      err: (t) => (out += `ERR ${t}`),
    });
    child.kill('SIGINT');
    await once(child, 'exit');

    // Assess: nothing is in production yet, which both runs say rather than fail.
    expect(scheduled).toMatchObject({
      event: 'schedule',
      name: 'credit:drift-check',
      check: { status: 'no-model' },
    });
    expect(code, out).toBe(0);
    const answer = JSON.parse(out) as { where: string; checks: { model: string; status: string }[] };
    expect(answer.where).toMatch(/^keel up \(pid \d+\)$/);
    expect(answer.checks).toMatchObject([
      { model: 'credit', status: 'no-model', retrainingRequested: false },
    ]);
  });

  it('keel monitor run --html saves the report of a check run by the running keel up', async () => {
    // Prepare: a small model bootstrapped by keel up in another process, and some traffic.
    const { dir, configFile } = await smallModelProject('keel-up-html-', { trees: 20 });
    dirs.push(dir);
    const child = keel(['--config', configFile, 'up', '--json', '--port', '0']);
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
    const up = JSON.parse((await lines.next()).value as string);
    let line: { event?: string; step?: string; status?: string } = {};
    while (!(line.event === 'bootstrap' && line.step === 'fallback' && line.status === 'done'))
      line = JSON.parse((await lines.next()).value as string);
    const instance = {
      income: 3000,
      debt: 2000,
      late_payments: 1,
      loan_amount: 9000,
      employment: 'salaried',
      region: 'north',
      sex: 'female',
    };
    const predicted = await fetch(`${up.url}/v1/models/credit:predict`, {
      method: 'POST',
      body: JSON.stringify({ instances: Array.from({ length: 20 }, () => instance) }),
    });
    const file = join(dir, 'report.html');

    // Act
    const result = await run(['--config', configFile, 'monitor', 'run', 'credit', '--html', file]);
    child.kill('SIGINT');
    await once(child, 'exit');

    // Assess
    expect(predicted.status, await predicted.text()).toBe(200);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`saved   ${file}`);
    expect(await readFile(file, 'utf8')).toMatch(/^<!doctype html>/i);
  }, 120_000);

  it('shows help for every verb', async () => {
    const result = await run(['up', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('--state-dir');
    expect(result.stdout).toContain('--json');
  });

  it('rejects a bad flag value as a usage error', async () => {
    const result = await run(['up', '--time-scale', '5']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('expected a number in (0, 1]');
  });

  it('says so clearly when the port is taken, and leaves nothing behind', async () => {
    // Prepare: something already listens on the port.
    const { dir, configFile } = await tempProject('keel-up-port-');
    dirs.push(dir);
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;

    // Act
    const result = await run(['--config', configFile, 'up', '--port', String(port), '--no-bootstrap']);
    blocker.close();

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`keel: Port ${port} on 127.0.0.1 is already in use`);
    expect(result.stderr).toContain('PORT=<port> or --port <port>');
    expect(existsSync(join(dir, 'state', 'keel.pid'))).toBe(false);
  });

  it('keel reset clears the local state, and refuses while keel up holds it', async () => {
    // Prepare: a project brought up (and its state written), in another process.
    const { dir, configFile } = await tempProject('keel-reset-');
    dirs.push(dir);
    const child = keel(['--config', configFile, 'up', '--json', '--port', '0', '--no-bootstrap']);
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
    JSON.parse((await lines.next()).value as string);

    // Act: reset while it runs, then after it stopped.
    const refused = await run(['--config', configFile, 'reset']);
    child.kill('SIGINT');
    await once(child, 'exit');
    const done = await run(['--config', configFile, 'reset']);

    // Assess
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/keel up \(pid \d+\) is using .*; stop it first/);
    expect(done.code).toBe(0);
    expect(done.stdout).toContain('the next keel up starts from scratch');
    expect(existsSync(join(dir, 'state'))).toBe(false);
  });

  it('lists every invalid config field and exits 2', async () => {
    // Prepare
    const dir = await mkdtemp(join(tmpdir(), 'keel-badcfg-'));
    dirs.push(dir);
    const file = join(dir, 'keel.config.json');
    await writeFile(file, JSON.stringify({ project: 'x', models: { credit: { owner: 'a' } } }));

    // Act
    const result = await run(['--config', file, 'up', '--ephemeral', '--port', '0']);

    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('is invalid');
    expect(result.stderr).toContain('  - project:');
    expect(result.stderr).toContain('  - models.credit.costs:');
  });
});
