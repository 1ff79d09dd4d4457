import { readFile, rm } from 'node:fs/promises';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTarget } from '../../cli/target.ts';
import { s3Client } from '../../functions/commons/clients.ts';
import { validateCardContent } from '../../functions/registry/card-record.ts';
import { runKeel, tempProject } from '../support/cli.ts';
import { sampleMetadata } from '../support/registry-fixtures.ts';

let dir: string;
let configFile: string;

const keel = (...args: string[]) => runKeel(configFile, ...args);

beforeAll(async () => {
  ({ dir, configFile } = await tempProject('keel-cli-'));
  // Seed the local state the way the pipeline will: register, approve, store the artifact.
  const target = await openTarget(configFile);
  try {
    for (let i = 1; i <= 3; i++) {
      const artifact = await target.lineage.putBytes('models', new TextEncoder().encode(`weights ${i}`));
      await target.registry.registerVersion(
        'credit',
        sampleMetadata(i, {
          artifact: { sha256: artifact.sha256, uri: artifact.uri, sizeBytes: artifact.sizeBytes },
          ...(i > 1 ? { parent: { model: 'credit', version: i - 1 } } : {}),
        }),
        { actor: 'pipeline' },
      );
      await target.registry.approve('credit', i, { actor: 'ana', reason: 'gates passed' });
    }
  } finally {
    await target.close();
  }
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('keel registry', () => {
  it('promotes, rolls back and tells the story in history, with --json everywhere', async () => {
    // Act
    const first = await keel(
      'registry',
      'promote',
      'credit',
      '2',
      '--reason',
      'best AUC',
      '--actor',
      'ana',
      '--json',
    );
    const second = await keel(
      'registry',
      'promote',
      'credit',
      '3',
      '--reason',
      'retrained',
      '--actor',
      'ana',
      '--json',
    );
    const rolled = await keel(
      'registry',
      'rollback',
      'credit',
      '--reason',
      'error spike',
      '--actor',
      'oncall',
      '--json',
    );
    const history = await keel('registry', 'history', 'credit', '--alias', 'production', '--json');
    const shown = await keel('registry', 'show', 'credit@production', '--json');
    const listed = await keel('registry', 'ls', '--json');

    // Assess
    expect([first.code, second.code, rolled.code, history.code, shown.code, listed.code]).toEqual([
      0, 0, 0, 0, 0, 0,
    ]);
    expect(JSON.parse(first.out)).toEqual({ model: 'credit', alias: 'production', from: null, to: 2 });
    expect(JSON.parse(rolled.out)).toEqual({ model: 'credit', alias: 'production', from: 3, to: 2 });
    expect(
      JSON.parse(history.out).map((e: { from: unknown; to: unknown; actor: string }) => [
        e.from,
        e.to,
        e.actor,
      ]),
    ).toEqual([
      [null, 2, 'ana'],
      [2, 3, 'ana'],
      [3, 2, 'oncall'],
    ]);
    expect(JSON.parse(shown.out)).toMatchObject({ version: 2, status: 'approved', aliases: ['production'] });
    expect(JSON.parse(listed.out)).toEqual([
      expect.objectContaining({ model: 'credit', latestVersion: 3, aliases: { production: 2 } }),
    ]);
  });

  it('prints human tables without --json', async () => {
    const shown = await keel('registry', 'show', 'credit');
    expect(shown.out.split('\n')[0]).toMatch(/^VERSION\s+STATUS\s+ALIASES/);
    expect(shown.out).toContain('approved');
  });

  it('explains a promotion the rules forbid, and changes nothing', async () => {
    const before = await keel('registry', 'show', 'credit', '--json');
    const result = await keel('registry', 'promote', 'credit', '9', '--reason', 'typo');
    expect(result.code).not.toBe(0);
    expect(result.err).toContain('version 9 not found');
    expect((await keel('registry', 'show', 'credit', '--json')).out).toBe(before.out);
  });

  it('requires a reason for changes', async () => {
    const result = await keel('registry', 'rollback', 'credit');
    expect(result.code).toBe(2);
    expect(result.err).toContain("required option '--reason <text>'");
  });
});

describe('keel lineage show', () => {
  it('prints the version → artifact, data, pipeline, code and parent tree, verifying artifacts', async () => {
    // Act
    const text = await keel('lineage', 'show', 'credit@3', '--verify');
    const json = await keel('lineage', 'show', 'credit@3', '--json');

    // Assess
    expect(text.code).toBe(0);
    const lines = text.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^credit@3 \(approved\)/);
    expect(text.out).toMatch(
      /├─ model artifact [0-9a-f]{12}… \(onnx\) s3:\/\/keel-lineage\/models\/sha256\/.*✓ verified/,
    );
    expect(text.out).toContain('code a1b2c3d');
    expect(text.out).toMatch(/└─ parent credit@2 \(approved; production\)/);
    expect(text.out).toMatch(/ {3}└─ parent credit@1 \(approved\)/);
    const tree = JSON.parse(json.out);
    expect(tree.children[0].check).toBe('present');
    // Training data URIs of the fixture point outside Keel's bucket.
    expect(tree.children[2].children[0].check).toBe('external');
  });

  it('exits non-zero with --verify when an artifact no longer matches its hash', async () => {
    // Prepare: overwrite version 1's model file behind the store's back (a bit flip on disk).
    const target = await openTarget(configFile);
    try {
      const version = await target.registry.get('credit', 1);
      const uri = new URL(version.metadata.artifact.uri);
      await s3Client().send(
        new PutObjectCommand({ Bucket: uri.host, Key: uri.pathname.slice(1), Body: 'tampered weights' }),
      );
    } finally {
      await target.close();
    }

    // Act
    const verified = await keel('lineage', 'show', 'credit@1', '--verify');
    const unverified = await keel('lineage', 'show', 'credit@1');

    // Assess
    expect(verified.code).toBe(1);
    expect(verified.out).toMatch(/model artifact .*✗ CORRUPT/);
    expect(verified.err).toMatch(
      /1 artifact\(s\) of credit@1 are corrupt or missing: corrupt model artifact/,
    );
    expect(unverified.code).toBe(0); // without --verify, only presence is checked
  });
});

describe('keel card', () => {
  it('prints a version’s card in each format, and writes one to a file', async () => {
    // Act: these versions were registered without cards, so each is generated on request.
    const markdown = await keel('card', 'credit@2');
    const json = await keel('card', 'credit@2', '--format', 'json');
    const out = `${dir}/card.html`;
    const html = await keel('card', 'credit@2', '--format', 'html', '--out', out);
    const bad = await keel('card', 'credit@2', '--format', 'pdf');
    const unknown = await keel('card', 'credit@99');

    // Assess
    expect(markdown.code, markdown.err).toBe(0);
    expect(markdown.out).toMatch(/^# Model card: credit version 2/);
    expect(markdown.out).toMatch(/No evaluation is available for this version/);
    expect(json.code, json.err).toBe(0);
    const card = JSON.parse(json.out);
    expect(card).toMatchObject({ format: 'keel.card/v1', model: 'credit', version: 2, trigger: 'request' });
    expect(() => validateCardContent(card.content)).not.toThrow();
    expect(html.code, html.err).toBe(0);
    expect(html.out).toMatch(/credit@2: model card \(html\) →/);
    expect(await readFile(out, 'utf8')).toMatch(/^<!doctype html>/);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--format/);
    expect(unknown.code).not.toBe(0);
    expect(unknown.err).toMatch(/version 99/);
  });
});

describe('keel features review', () => {
  it('says why it cannot review a version that recorded no importance at training, and names bad input', async () => {
    // Act
    const text = await keel('features', 'review', 'credit', '--version', '1');
    const json = await keel('features', 'review', '--version', '1', '--json');
    const unknown = await keel('features', 'review', 'debit');
    const badWindow = await keel('features', 'review', 'credit', '--window-days', '0');

    // Assess
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/credit v1: not reviewed: v1 has no importance recorded at training/);
    expect(JSON.parse(json.out)).toMatchObject({ status: 'skipped', model: 'credit', version: 1 });
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/model: debit is not in the config/);
    expect(badWindow.code).not.toBe(0);
    expect(badWindow.err).toMatch(/expected a positive integer, got "0"/);
  });
});
