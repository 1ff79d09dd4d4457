import { describe, expect, it } from 'vitest';
import {
  type AggregationParameters,
  decode,
  encode,
  type MaskedInput,
  SecureAggregationClient,
  SecureAggregationError,
  secureAggregationServer as server,
  type UnmaskingShares,
} from '../../../functions/core/federated/secure-aggregation.ts';
import { Rng } from '../../../functions/core/random.ts';

/** Who stops answering, and after which step. */
interface Dropouts {
  readonly beforeShare?: readonly string[];
  readonly beforeInput?: readonly string[];
  readonly beforeUnmask?: readonly string[];
  /** Sends a malformed masked input. */
  readonly malformed?: readonly string[];
}

const vectorOf = (rng: Rng, length: number) => Float64Array.from({ length }, () => rng.normal(0, 50));

/** One aggregation, every message passing through JSON as it would between processes. */
async function round(ids: readonly string[], params: AggregationParameters, drop: Dropouts = {}) {
  const rng = new Rng(7);
  const values = new Map(ids.map((id) => [id, vectorOf(rng, params.length)]));
  const wire = <T>(message: T): T => JSON.parse(JSON.stringify(message)) as T;
  const clients = ids.map((id) => new SecureAggregationClient(id, params));
  const roster = server.roster(
    params,
    clients.map((c) => wire(c.advertise())),
  );
  const alive = (step: readonly string[] | undefined) => (c: SecureAggregationClient) =>
    !step?.includes(c.id);
  const sharing = clients.filter(alive(drop.beforeShare));
  const shared = await Promise.all(sharing.map(async (c) => wire(await c.shareKeys(roster))));
  const { sharedBy, inbox } = server.route(shared);
  const inputting = sharing.filter(alive(drop.beforeInput));
  const inputs: MaskedInput[] = inputting.map((c) =>
    drop.malformed?.includes(c.id)
      ? { client: c.id, masked: 'AAAA' }
      : wire(c.maskedInput(values.get(c.id) as Float64Array, wire(inbox.get(c.id) ?? []), sharedBy)),
  );
  const { sum, sentInputs, refused } = server.sum(params, sharedBy, inputs);
  const responses: UnmaskingShares[] = inputting
    .filter((c) => sentInputs.includes(c.id))
    .filter(alive(drop.beforeUnmask))
    .map((c) => wire(c.unmask(sentInputs)));
  const result = await server.unmask(params, { roster, shared, sentInputs, sum, responses });
  const expected = new Float64Array(params.length);
  for (const id of sentInputs)
    (values.get(id) as Float64Array).forEach((v, j) => {
      expected[j] = (expected[j] as number) + v;
    });
  return { result, expected, sentInputs, refused, inputs, values, responses };
}

const params = (n: number): AggregationParameters => ({ session: `round-${n}`, threshold: 4, length: 12 });
const IDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot'];

describe('fixed point in Z_2^64', () => {
  it('adds signed values exactly to 2^-24, and refuses what could overflow', () => {
    const a = encode([1.5, -3.25, 1e6]);
    const b = encode([-2, 0.125, -1e6 - 0.5]);
    const sum = a.map((x, i) => BigInt.asUintN(64, x + (b[i] as bigint)));
    expect(Array.from(decode(sum))).toEqual([-0.5, -3.125, -0.5]);
    expect(() => encode([Number.NaN])).toThrow(SecureAggregationError);
    expect(() => encode([2 ** 30])).toThrow(SecureAggregationError);
  });
});

describe('secure aggregation (Bonawitz et al. 2017)', () => {
  it('gives the server the sum of every client, and each masked input looks nothing like its vector', async () => {
    // Act
    const { result, expected, inputs, values } = await round(IDS, params(1));
    // Assess
    result.forEach((v, j) => {
      expect(Math.abs(v - (expected[j] as number))).toBeLessThan(IDS.length * 2 ** -24);
    });
    for (const input of inputs) {
      const plain = values.get(input.client) as Float64Array;
      const words = Buffer.from(input.masked, 'base64url');
      // No word of the plain encoding appears in what the server received.
      const plainWords = new Set(Array.from(encode(plain), String));
      const view = new DataView(words.buffer, words.byteOffset, words.byteLength);
      for (let i = 0; i < plain.length; i++)
        expect(plainWords.has(String(view.getBigUint64(i * 8, true)))).toBe(false);
    }
  });

  it.each([
    [
      'drops before sharing keys',
      { beforeShare: ['bravo'] },
      ['alpha', 'charlie', 'delta', 'echo', 'foxtrot'],
    ],
    [
      'drops after sharing keys (its masks must be removed)',
      { beforeInput: ['charlie', 'echo'] },
      ['alpha', 'bravo', 'delta', 'foxtrot'],
    ],
    [
      'sends a malformed input (treated as dropped)',
      { malformed: ['delta'] },
      ['alpha', 'bravo', 'charlie', 'echo', 'foxtrot'],
    ],
    ['sends its input, then does not unmask', { beforeUnmask: ['alpha', 'foxtrot'] }, IDS],
  ])('a client that %s: the sum of the survivors', async (_case, drop, survivors) => {
    const { result, expected, sentInputs } = await round(IDS, params(2), drop);
    expect(sentInputs).toEqual(survivors);
    result.forEach((v, j) => {
      expect(Math.abs(v - (expected[j] as number))).toBeLessThan(IDS.length * 2 ** -24);
    });
  });

  it('refuses a malformed input by name', async () => {
    const { refused } = await round(IDS, params(3), { malformed: ['delta'] });
    expect(refused).toEqual([{ client: 'delta', reason: 'not 12 64-bit words' }]);
  });

  it('never reveals both secrets of one client: survivors get their self mask removed, the dropped their mask key', async () => {
    const { responses } = await round(IDS, params(4), { beforeInput: ['echo'] });
    for (const r of responses) {
      expect(Object.keys(r.maskKey)).toEqual(['echo']);
      expect(Object.keys(r.selfMask).sort()).toEqual(IDS.filter((id) => id !== 'echo'));
    }
  });

  it('fails cleanly when fewer than the threshold survive', async () => {
    await expect(round(IDS, params(5), { beforeInput: ['alpha', 'bravo', 'charlie'] })).rejects.toThrow(
      /3 clients shared|fewer than the threshold of 4/,
    );
    await expect(round(IDS, params(6), { beforeUnmask: ['alpha', 'bravo', 'charlie'] })).rejects.toThrow(
      /3 survivors returned shares, fewer than the threshold of 4/,
    );
  });

  it('detects a corrupt share: the reconstructed seed must match its commitment', async () => {
    const p = params(7);
    const clients = IDS.map((id) => new SecureAggregationClient(id, p));
    const roster = server.roster(
      p,
      clients.map((c) => c.advertise()),
    );
    const shared = await Promise.all(clients.map((c) => c.shareKeys(roster)));
    const { sharedBy, inbox } = server.route(shared);
    const inputs = clients.map((c) => c.maskedInput(new Float64Array(12), inbox.get(c.id) ?? [], sharedBy));
    const { sum, sentInputs } = server.sum(p, sharedBy, inputs);
    const responses = clients.map((c) => c.unmask(sentInputs));
    const first = responses[0] as UnmaskingShares;
    const share = Buffer.from(first.selfMask.bravo as string, 'base64url');
    share[0] = (share[0] as number) ^ 1;
    const tampered = [
      { ...first, selfMask: { ...first.selfMask, bravo: share.toString('base64url') } },
      ...responses.slice(1),
    ];
    await expect(server.unmask(p, { roster, shared, sentInputs, sum, responses: tampered })).rejects.toThrow(
      /bravo's self mask do not match its commitment/,
    );
  });

  it('rejects a share that was tampered with on the way (authenticated encryption)', async () => {
    const p = params(8);
    const clients = IDS.slice(0, 4).map((id) => new SecureAggregationClient(id, p));
    const roster = server.roster(
      p,
      clients.map((c) => c.advertise()),
    );
    const shared = await Promise.all(clients.map((c) => c.shareKeys(roster)));
    const { sharedBy, inbox } = server.route(shared);
    const mine = inbox.get('alpha') ?? [];
    const forged = mine.map((s, i) => (i === 0 ? { ...s, ciphertext: `${s.ciphertext.slice(0, -2)}AA` } : s));
    expect(() =>
      (clients[0] as SecureAggregationClient).maskedInput(new Float64Array(12), forged, sharedBy),
    ).toThrow();
  });
});
