/**
 * `keel train --privacy --ledger` and `keel privacy ledger` on a project's local state: the run
 * is granted by the data source's ledger before it trains, a run over the budget trains nothing.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { creditTrainArgs, runKeel } from '../support/cli.ts';

let dir: string;
let configFile: string;
const path = (...parts: string[]) => join(dir, ...parts);
const keel = (...args: string[]) => runKeel(configFile, ...args);
const privateTrain = (out: string, ...extra: string[]) =>
  keel(
    ...creditTrainArgs(
      path('train.csv'),
      path(out),
      '--model',
      'lr',
      '--features',
      'examples/private-credit/features.json',
      '--privacy',
      'epsilon=1,delta=1e-5',
      ...extra,
    ),
  );

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-cli-privacy-'));
  const config = JSON.parse(await readFile('examples/private-credit/keel.config.json', 'utf8'));
  config.local.stateDir = path('state');
  config.models.credit.data.privacy.epsilon = 1.2;
  configFile = path('keel.config.json');
  await writeFile(configFile, JSON.stringify(config));
  expect((await keel('synth', '--rows', '3000', '--seed', '5', '--out', path('train.csv'))).code).toBe(0);
}, 60_000);

describe('keel train --privacy --ledger', () => {
  it('spends from the ledger first and records the grant in the manifest', async () => {
    // Act
    const result = await privateTrain('m1', '--ledger', 'credit-applicants');
    // Assess
    expect(result.code, result.err).toBe(0);
    expect(result.out).toContain('spent from the privacy ledger of credit-applicants (entry 1)');
    const manifest = JSON.parse(await readFile(path('m1', 'manifest.json'), 'utf8'));
    expect(manifest.privacy.ledger).toEqual({ name: 'credit-applicants', seq: 1 });
  }, 60_000);

  it('refuses a run over the budget, trains nothing, and the ledger shows both', async () => {
    // Act
    const result = await privateTrain('m2', '--ledger', 'credit-applicants');
    // Assess
    expect(result.code).not.toBe(0);
    expect(result.err).toMatch(/over its budget of ε = 1\.2 \(ε = 0\.99\d spent before it\)/);
    expect(existsSync(path('m2'))).toBe(false);
    const ledger = await keel('privacy', 'ledger', 'credit', '--json');
    expect(ledger.code, ledger.err).toBe(0);
    const [printed] = JSON.parse(ledger.out).ledgers;
    expect(printed).toMatchObject({ ledger: 'credit-applicants', spends: 1, refusals: 1 });
    expect(printed.entries.map((e: { type: string }) => e.type)).toEqual(['spent', 'refused']);
    const text = await keel('privacy', 'ledger');
    expect(text.out).toMatch(/credit-applicants: ε = 0\.99\d of 1\.2 spent/);
  }, 60_000);

  it.each([
    [['--ledger', 'credit-applicants'], 'ledger: give --privacy with it', false],
    [
      ['--privacy', 'epsilon=1,delta=1e-5', '--ledger', 'elsewhere'],
      "no model's data.privacy names elsewhere",
      true,
    ],
  ])('names the problem for %j', async (extra, message, privateRun) => {
    const args = privateRun
      ? creditTrainArgs(
          path('train.csv'),
          path('m3'),
          '--model',
          'lr',
          '--features',
          'examples/private-credit/features.json',
          ...extra,
        )
      : creditTrainArgs(path('train.csv'), path('m3'), ...extra);
    const result = await keel(...args);
    expect(result.code).toBe(2);
    expect(result.err).toContain(message);
  });
});
