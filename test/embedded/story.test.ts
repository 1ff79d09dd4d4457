/**
 * The whole production loop on a laptop, as a newcomer runs it: `keel up` (a separate process,
 * the shipped config on an accelerated clock) bootstraps and serves v1; `keel simulate` sends
 * traffic with outcomes. A costly concept drift trips the alert, retraining produces a version
 * that passes its gates and is promoted through its canary; a faulty candidate is rolled back by
 * its alarm; a harmless drift only warns. Throughout: no request fails, every prediction is
 * captured, the registry's audit log tells the story, and nothing is left running.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { type SimulateOptions, type SimulationReport, simulate } from '../../cli/commands/simulate.ts';
import type { Io } from '../../cli/output.ts';
import { openTarget } from '../../cli/target.ts';
import { S3CaptureReader } from '../../functions/adapters/aws/capture-reader.ts';
import { s3Client } from '../../functions/commons/clients.ts';
import { RESOURCE_ENV } from '../../functions/contracts/resources.ts';
import { tempProject } from '../support/cli.ts';
import { isListening } from '../support/net.ts';

const TIME_SCALE = 0.02; // 5 minutes → 6 s
let child: ChildProcess | undefined;
let dir = '';

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface StatusEvent {
  event: 'status';
  url: string;
  models: { model: string; aliases: Record<string, number>; traffic: { version: number; share: number }[] }[];
}
interface ScheduleEvent {
  event: 'schedule';
  name: string;
  check?: { status: string; reasons: string[]; retrainingRequested: boolean; version: number | null };
}

describe('the production loop, end to end (npm start + keel simulate)', () => {
  it('serves, detects a costly drift, retrains, promotes, rolls a faulty candidate back, and only warns on a harmless drift', async () => {
    // Prepare: the shipped config, its state in a temp dir, the clock 50× faster, a check every 6 s.
    let configFile: string;
    ({ dir, configFile } = await tempProject('keel-story-'));
    const config = JSON.parse(await readFile(configFile, 'utf8'));
    config.local.timeScale = TIME_SCALE;
    config.models.credit.schedules = { driftCheck: 'rate(5 minutes)' };
    config.models.credit.monitoring = { windowHours: 1 };
    delete config.stages;
    await writeFile(configFile, JSON.stringify(config));
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_ENDPOINT_URL')),
    );
    child = spawn(process.execPath, ['bin/keel.js', '--config', configFile, 'up', '--json', '--port', '0'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    const events: Record<string, unknown>[] = [];
    const reading = (async () => {
      for await (const line of createInterface({ input: child?.stdout as NodeJS.ReadableStream }))
        events.push(JSON.parse(line) as Record<string, unknown>);
    })();
    const waitFor = async <T>(what: string, find: () => T | undefined, timeoutMs = 90_000): Promise<T> => {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const found = find();
        if (found !== undefined) return found;
        if (Date.now() > until)
          throw new Error(`timed out waiting for ${what}; stderr: ${stderr.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const statuses = () =>
      events.filter((e): e is StatusEvent & Record<string, unknown> => e.event === 'status');
    const checks = (since: number) =>
      events
        .slice(since)
        .filter((e): e is ScheduleEvent & Record<string, unknown> => e.event === 'schedule' && !!e.check);
    const credit = (s: StatusEvent) => s.models.find((m) => m.model === 'credit');
    const quiet: Io = { out: () => {}, err: () => {} };
    const reports: SimulationReport[] = [];
    const traffic = async (options: Partial<SimulateOptions>, signal?: AbortSignal) => {
      const report = await simulate(
        configFile,
        'credit',
        { rate: 25, batch: 20, after: 0, feedback: 1, feedbackDelay: 300, seed: 7, ...options },
        quiet,
        signal,
      );
      reports.push(report);
      return report;
    };

    // 1. Up: v1 trained through the pipeline, the fallback registered, v1 serving all traffic.
    const up = await waitFor('v1 in production', () =>
      statuses().find((s) => credit(s)?.aliases.production === 1 && credit(s)?.traffic[0]?.share === 1),
    );
    expect(credit(up)?.aliases.fallback).toBe(2);
    await traffic({ duration: 6000 });

    // 2. A costly drift: late payments weigh more. Alert, retraining, v3 through its gates and canary.
    let mark = events.length;
    const drifting = new AbortController();
    const concept = traffic({ drift: ['concept'], duration: 150_000 }, drifting.signal);
    const alert = await waitFor('an alert', () => checks(mark).find((e) => e.check?.status === 'alert'));
    expect(alert.check?.retrainingRequested).toBe(true);
    expect(alert.check?.reasons[0]).toMatch(
      /^money at risk USD [\d,]+\/day .* from \d+ labelled decisions\) is over the budget/,
    );
    const canary = await waitFor('the canary of v3', () =>
      statuses().find((s) => credit(s)?.traffic.some((t) => t.version === 3 && t.share > 0 && t.share < 1)),
    );
    expect(credit(canary)?.traffic.find((t) => t.version === 1)?.share).toBeGreaterThan(0);
    await waitFor(
      'v3 in production',
      () => statuses().find((s) => credit(s)?.aliases.production === 3),
      120_000,
    );
    drifting.abort();
    await concept;

    // 3. A faulty candidate (every score NaN), rolled out by canary: the fallback answers, the alarm rolls it back.
    mark = events.length;
    const faulty = await traffic({ drift: ['concept'], badModel: true, duration: 20_000 });
    expect(faulty.badModel).toBe(4);
    expect(faulty.servedBy.fallback ?? 0).toBeGreaterThan(0);

    // 4. A harmless drift (region) in the drifted world: a warning, no retraining.
    mark = events.length;
    const shifting = new AbortController();
    const harmless = traffic({ drift: ['concept', 'harmless'], duration: 90_000 }, shifting.signal);
    const warned = await waitFor('a warning on region', () =>
      checks(mark).find(
        (e) => e.check?.status === 'warning' && e.check.reasons.some((r) => /drifted: .*region/.test(r)),
      ),
    );
    shifting.abort();
    await harmless;
    expect(warned.check?.retrainingRequested).toBe(false);

    // Stop: Ctrl-C.
    const url = up.url;
    const started = events.find((e) => e.status === 'up') as { aws: { dynamodb: string; s3: string } };
    child.kill('SIGINT');
    const [code] = await once(child, 'exit');
    await reading;

    // Assess: nothing failed, nothing left behind.
    expect(code, stderr).toBe(0);
    expect(
      reports.reduce((n, r) => n + r.failed, 0),
      JSON.stringify(reports.map((r) => r.failures)),
    ).toBe(0);
    for (const endpoint of [url, started.aws.dynamodb, started.aws.s3])
      expect(await isListening(endpoint), endpoint).toBe(false);
    expect(checks(0).every((e) => e.check?.status !== 'alert' || e.check.version !== 3)).toBe(true);

    // Every prediction is in the capture, and the audit log tells the story.
    const target = await openTarget(configFile);
    try {
      const predicted = reports.reduce((n, r) => n + r.predictions, 0);
      const captured = await new S3CaptureReader(
        s3Client(),
        process.env[RESOURCE_ENV.captureBucket] as string,
      ).read('credit', { from: new Date(Date.now() - 3_600_000), to: new Date() });
      expect(captured.predictions.filter((p) => p.shadow_of === undefined).length).toBe(predicted);
      const history = (await target.registry.history('credit', { limit: 500 })).items;
      const story = history.map((e) =>
        [e.type, e.version ?? '', e.alias ?? '', e.to ?? '', e.actor]
          .join(' ')
          .replaceAll(/\s+/g, ' ')
          .trim(),
      );
      const at = (pattern: RegExp) => story.findIndex((line) => pattern.test(line));
      const steps = [
        /^AliasMoved production 1 keel-retraining$/,
        /^EvaluationRecorded 1 keel-monitoring$/,
        /^VersionRegistered 3 candidate keel-retraining$/,
        /^AliasMoved production 3 keel-retraining$/,
        /^VersionRegistered 4 candidate keel-simulate$/,
      ].map(at);
      expect(
        steps.every((i) => i >= 0),
        story.join('\n'),
      ).toBe(true);
      expect([...steps].sort((a, b) => a - b)).toEqual(steps);
      const rolledBack = history.find(
        (e) =>
          e.type === 'DeploymentRecorded' &&
          e.version === 4 &&
          (e.details as { status?: string }).status === 'RolledBack',
      );
      expect(rolledBack, story.join('\n')).toBeDefined();
      expect((await target.registry.aliases('credit')).production).toBe(3);
      const warning = history.filter((e) => e.type === 'EvaluationRecorded' && e.version === 3).at(-1);
      expect(warning?.reason).toMatch(/^drift check warning: .*drifted: .*region/);
    } finally {
      await target.close();
    }
  }, 240_000);
});
