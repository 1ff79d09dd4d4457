/**
 * Secure aggregation: the server learns the sum of the clients' vectors and nothing else of any
 * one of them, even when clients drop out mid-round. The semi-honest protocol of Bonawitz et al.
 * 2017 ("Practical Secure Aggregation for Privacy-Preserving Machine Learning", CCS, §4 and
 * Figure 4), in four exchanges routed through the server:
 *
 * 0. **Advertise keys**: each client u makes two X25519 key pairs, (c_u) to encrypt the shares it
 *    sends other clients and (s_u) to agree pairwise masks, and sends both public keys.
 * 1. **Share keys**: u draws a self-mask seed b_u, splits b_u and s_u's secret key t-of-n with
 *    Shamir's scheme, and sends each other client its two shares encrypted (ChaCha20-Poly1305
 *    under a key agreed from c), with a hash commitment to b_u.
 * 2. **Masked input**: u sends y_u = x_u + PRG(b_u) + Σ_{v>u} PRG(s_uv) − Σ_{v<u} PRG(s_uv) over
 *    the clients v that shared keys, in Z_{2^64} (fixed point, 24 fractional bits). The pairwise
 *    masks cancel in the sum; the self mask hides x_u even if the server later learns s_u.
 * 3. **Unmask**: the server names who sent inputs (U3); each survivor returns its shares of b_u
 *    for u in U3 and of s_u for those who shared keys but sent nothing, never both for one
 *    client. With t shares each, the server removes the self masks and the dropped clients'
 *    dangling pairwise masks.
 *
 * Departures, both checks the paper leaves to the caller: a reconstructed s_u must give u's
 * advertised public key, and a reconstructed b_u must match u's commitment (Shamir's scheme does
 * not detect a corrupt share). Primitives are audited libraries only: `@noble/curves` (X25519),
 * `@noble/hashes` (HKDF-SHA-256, SHA-256), `@noble/ciphers` (ChaCha20 as the PRG,
 * ChaCha20-Poly1305), `shamir-secret-sharing` (GF(2⁸), audited by Cure53 and Zellic).
 * Messages are JSON with base64url bytes, so they pass through Lambda, Step Functions and S3.
 */
import { chacha20, chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { equalBytes } from '@noble/ciphers/utils.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, randomBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { combine, split } from 'shamir-secret-sharing';

/** Fractional bits of the fixed-point encoding. */
export const FRACTION_BITS = 24;
/** The largest |value| a client may contribute: 2⁶³ leaves room for 2⁹ such sums. */
export const MAX_VALUE = 2 ** 29;
const SCALE = 2 ** FRACTION_BITS;

/** One aggregation: its id (fresh per round: every key and mask is bound to it) and shape. */
export interface AggregationParameters {
  readonly session: string;
  /** Shares needed to reconstruct a secret, and survivors needed to finish. */
  readonly threshold: number;
  /** Length of the vectors summed. */
  readonly length: number;
}

export interface AdvertisedKeys {
  readonly client: string;
  readonly cPk: string;
  readonly sPk: string;
}

export interface EncryptedShare {
  readonly from: string;
  readonly to: string;
  readonly ciphertext: string;
}

export interface SharedKeys {
  readonly client: string;
  /** SHA-256 commitment to the self-mask seed. */
  readonly commitment: string;
  readonly shares: readonly EncryptedShare[];
}

export interface MaskedInput {
  readonly client: string;
  /** length × 64-bit little-endian words. */
  readonly masked: string;
}

export interface UnmaskingShares {
  readonly client: string;
  /** Shares of b_u, by u, for the clients that sent inputs. */
  readonly selfMask: Readonly<Record<string, string>>;
  /** Shares of s_u's secret key, by u, for those that shared keys and sent nothing. */
  readonly maskKey: Readonly<Record<string, string>>;
}

/** The protocol cannot go on: too few clients, or a message that does not belong. */
export class SecureAggregationError extends Error {
  override readonly name = 'SecureAggregationError';
}

// base64url by btoa/atob, which browsers and Node both have (core loads no Node built-ins).
function b64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000)
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function unb64(text: string): Uint8Array {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}
const info = (...parts: string[]) => utf8ToBytes(['keel-secagg-v1', ...parts].join('|'));

function checkParameters(p: AggregationParameters): void {
  if (!(Number.isInteger(p.threshold) && p.threshold >= 2))
    throw new SecureAggregationError(`threshold must be a whole number ≥ 2, got ${p.threshold}`);
  if (!(Number.isInteger(p.length) && p.length >= 1))
    throw new SecureAggregationError(`length must be a whole number ≥ 1, got ${p.length}`);
  if (!p.session) throw new SecureAggregationError('an aggregation needs a session id');
}

/** The keystream of a 32-byte seed as `length` words of Z_{2^64}. */
export function prg(seed: Uint8Array, length: number): BigUint64Array {
  const stream = chacha20(seed, new Uint8Array(12), new Uint8Array(length * 8));
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  return BigUint64Array.from({ length }, (_, i) => view.getBigUint64(i * 8, true));
}

/** Fixed point in Z_{2^64}: round(v·2²⁴) mod 2⁶⁴. */
export function encode(values: ArrayLike<number>): BigUint64Array {
  return BigUint64Array.from({ length: values.length }, (_, i) => {
    const v = values[i] as number;
    if (!Number.isFinite(v) || Math.abs(v) >= MAX_VALUE)
      throw new SecureAggregationError(
        `value ${i} is ${v}: only finite values below ${MAX_VALUE} in magnitude can be summed`,
      );
    return BigInt.asUintN(64, BigInt(Math.round(v * SCALE)));
  });
}

/** A sum in Z_{2^64} back to numbers (two's complement). */
export function decode(words: BigUint64Array): Float64Array {
  return Float64Array.from(words, (w) => Number(BigInt.asIntN(64, w)) / SCALE);
}

function addInto(target: BigUint64Array, words: BigUint64Array, sign: 1 | -1): void {
  for (let i = 0; i < target.length; i++)
    target[i] = BigInt.asUintN(
      64,
      (target[i] as bigint) + (sign === 1 ? (words[i] as bigint) : -(words[i] as bigint)),
    );
}

/** Words of Z_{2^64} as base64url, 64-bit little-endian each: the wire format of inputs and sums. */
export function wordsToBase64(words: BigUint64Array): string {
  const bytes = new Uint8Array(words.length * 8);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < words.length; i++) view.setBigUint64(i * 8, words[i] as bigint, true);
  return b64(bytes);
}

/** The inverse of {@link wordsToBase64}; undefined unless `text` holds exactly `length` words. */
export function wordsFromBase64(text: string, length: number): BigUint64Array | undefined {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  const bytes = unb64(text);
  if (bytes.length !== length * 8) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return BigUint64Array.from({ length }, (_, i) => view.getBigUint64(i * 8, true));
}

/** The pairwise mask seed of u and v (symmetric), bound to the session. */
function pairSeed(session: string, secretKey: Uint8Array, otherPublic: Uint8Array): Uint8Array {
  return hkdf(sha256, x25519.getSharedSecret(secretKey, otherPublic), utf8ToBytes(session), info('mask'), 32);
}

function shareKey(session: string, secretKey: Uint8Array, otherPublic: Uint8Array): Uint8Array {
  return hkdf(
    sha256,
    x25519.getSharedSecret(secretKey, otherPublic),
    utf8ToBytes(session),
    info('shares'),
    32,
  );
}

function commitmentOf(session: string, client: string, seed: Uint8Array): string {
  return b64(sha256(concatBytes(info('self', session, client), seed)));
}

/** The clients of a step, each once, sorted: the order the pairwise signs follow. */
function roster(keys: readonly AdvertisedKeys[], threshold: number): AdvertisedKeys[] {
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k.client)) throw new SecureAggregationError(`client ${k.client} advertised twice`);
    seen.add(k.client);
    for (const key of [k.cPk, k.sPk])
      if (unb64(key).length !== 32)
        throw new SecureAggregationError(`client ${k.client} advertised a malformed key`);
  }
  if (keys.length < threshold)
    throw new SecureAggregationError(
      `${keys.length} clients advertised keys, fewer than the threshold of ${threshold}`,
    );
  return [...keys].sort((a, b) => (a.client < b.client ? -1 : a.client > b.client ? 1 : 0));
}

/**
 * A contribution without secure aggregation, in the same wire format: the server sums it as it
 * sums masked ones, and sees it whole. For measuring what secure aggregation costs.
 */
export function plainInput(client: string, values: ArrayLike<number>): MaskedInput {
  return { client, masked: wordsToBase64(encode(values)) };
}

/** One client's side: it keeps its secrets and its received shares between the steps. */
export class SecureAggregationClient {
  readonly id: string;
  readonly #params: AggregationParameters;
  readonly #random: (n: number) => Uint8Array;
  readonly #cSk: Uint8Array;
  readonly #sSk: Uint8Array;
  #selfSeed: Uint8Array | undefined;
  #keys: AdvertisedKeys[] | undefined;
  /** Shares others sent me (and mine of my own): by owner, [self-mask share, mask-key share]. */
  readonly #held = new Map<string, readonly [Uint8Array, Uint8Array]>();
  #sharedBy: readonly string[] | undefined;

  /** @param random @default a cryptographic generator (`crypto.getRandomValues`) */
  constructor(id: string, params: AggregationParameters, random: (n: number) => Uint8Array = randomBytes) {
    checkParameters(params);
    this.id = id;
    this.#params = params;
    this.#random = random;
    this.#cSk = random(32);
    this.#sSk = random(32);
  }

  /** Step 0. */
  advertise(): AdvertisedKeys {
    return {
      client: this.id,
      cPk: b64(x25519.getPublicKey(this.#cSk)),
      sPk: b64(x25519.getPublicKey(this.#sSk)),
    };
  }

  /** Step 1: shares of b_u and s_u for every client that advertised keys (this one included). */
  async shareKeys(advertised: readonly AdvertisedKeys[]): Promise<SharedKeys> {
    const keys = roster(advertised, this.#params.threshold);
    if (!keys.some((k) => k.client === this.id))
      throw new SecureAggregationError(`${this.id} is not in the roster`);
    this.#keys = keys;
    const seed = this.#random(32);
    this.#selfSeed = seed;
    const n = keys.length;
    const [selfShares, keyShares] = await Promise.all([
      split(seed, n, this.#params.threshold),
      split(this.#sSk, n, this.#params.threshold),
    ]);
    const shares: EncryptedShare[] = [];
    keys.forEach((k, i) => {
      const pair = [selfShares[i] as Uint8Array, keyShares[i] as Uint8Array] as const;
      if (k.client === this.id) {
        this.#held.set(this.id, pair);
        return;
      }
      const key = shareKey(this.#params.session, this.#cSk, unb64(k.cPk));
      const nonce = this.#random(12);
      const aad = info(this.#params.session, this.id, k.client);
      const sealed = chacha20poly1305(key, nonce, aad).encrypt(concatBytes(pair[0], pair[1]));
      shares.push({ from: this.id, to: k.client, ciphertext: b64(concatBytes(nonce, sealed)) });
    });
    return { client: this.id, commitment: commitmentOf(this.#params.session, this.id, seed), shares };
  }

  /**
   * Step 2: `values` masked, given the shares addressed to this client by the clients that
   * shared keys (U2, this one included).
   */
  maskedInput(
    values: ArrayLike<number>,
    received: readonly EncryptedShare[],
    sharedBy: readonly string[],
  ): MaskedInput {
    const keys = this.#keys;
    const seed = this.#selfSeed;
    if (!keys || !seed) throw new SecureAggregationError('keys were not shared yet');
    if (values.length !== this.#params.length)
      throw new SecureAggregationError(
        `${values.length} values for an aggregation of ${this.#params.length}`,
      );
    if (sharedBy.length < this.#params.threshold)
      throw new SecureAggregationError(
        `${sharedBy.length} clients shared keys, fewer than the threshold of ${this.#params.threshold}`,
      );
    if (!sharedBy.includes(this.id)) throw new SecureAggregationError(`${this.id} did not share keys`);
    const byId = new Map(keys.map((k) => [k.client, k]));
    for (const share of received) {
      const from = byId.get(share.from);
      if (!from || share.to !== this.id || !sharedBy.includes(share.from))
        throw new SecureAggregationError(
          `a share from ${share.from} to ${share.to} does not belong to ${this.id}`,
        );
      const bytes = unb64(share.ciphertext);
      const key = shareKey(this.#params.session, this.#cSk, unb64(from.cPk));
      const plain = chacha20poly1305(
        key,
        bytes.subarray(0, 12),
        info(this.#params.session, share.from, this.id),
      ).decrypt(bytes.subarray(12));
      this.#held.set(share.from, [plain.subarray(0, 33), plain.subarray(33)]);
    }
    const missing = sharedBy.filter((v) => !this.#held.has(v));
    if (missing.length > 0) throw new SecureAggregationError(`no share from ${missing.join(', ')}`);
    this.#sharedBy = [...sharedBy];
    const masked = encode(values);
    addInto(masked, prg(seed, masked.length), 1);
    for (const v of sharedBy) {
      if (v === this.id) continue;
      const mask = prg(
        pairSeed(this.#params.session, this.#sSk, unb64((byId.get(v) as AdvertisedKeys).sPk)),
        masked.length,
      );
      addInto(masked, mask, this.id < v ? 1 : -1);
    }
    return { client: this.id, masked: wordsToBase64(masked) };
  }

  /** Step 3: shares of b_u for u that sent inputs, of s_u for u that shared keys and did not. */
  unmask(sentInputs: readonly string[]): UnmaskingShares {
    const sharedBy = this.#sharedBy;
    if (!sharedBy) throw new SecureAggregationError('no input was masked');
    if (sentInputs.length < this.#params.threshold)
      throw new SecureAggregationError(
        `${sentInputs.length} clients sent inputs, fewer than the threshold of ${this.#params.threshold}`,
      );
    const selfMask: Record<string, string> = {};
    const maskKey: Record<string, string> = {};
    for (const u of sharedBy) {
      const held = this.#held.get(u) as readonly [Uint8Array, Uint8Array];
      // Never both shares of one client: with b_u and s_u the server could unmask u's input.
      if (sentInputs.includes(u)) selfMask[u] = b64(held[0]);
      else maskKey[u] = b64(held[1]);
    }
    return { client: this.id, selfMask, maskKey };
  }
}

/** The server's side: pure functions of the messages it has routed. */
export const secureAggregationServer = {
  /** Step 0 → 1: the roster every client shares keys with. */
  roster(params: AggregationParameters, advertised: readonly AdvertisedKeys[]): AdvertisedKeys[] {
    checkParameters(params);
    return roster(advertised, params.threshold);
  },

  /** Step 1 → 2: each client's incoming shares, from the clients that shared keys (U2). */
  route(shared: readonly SharedKeys[]): { sharedBy: string[]; inbox: Map<string, EncryptedShare[]> } {
    const sharedBy = shared.map((s) => s.client).sort();
    const inbox = new Map<string, EncryptedShare[]>(sharedBy.map((c) => [c, []]));
    for (const s of shared)
      for (const share of s.shares) {
        if (share.from !== s.client)
          throw new SecureAggregationError(`${s.client} sent a share as ${share.from}`);
        inbox.get(share.to)?.push(share);
      }
    return { sharedBy, inbox };
  },

  /**
   * Step 2 → 3: the sum of the well-formed masked inputs from clients that shared keys; any
   * other input is refused with its reason (its sender is then treated as dropped).
   */
  sum(
    params: AggregationParameters,
    sharedBy: readonly string[],
    inputs: readonly MaskedInput[],
  ): { sum: BigUint64Array; sentInputs: string[]; refused: { client: string; reason: string }[] } {
    const sum = new BigUint64Array(params.length);
    const sentInputs: string[] = [];
    const refused: { client: string; reason: string }[] = [];
    for (const input of inputs) {
      const client = String(input?.client);
      if (!sharedBy.includes(client)) refused.push({ client, reason: 'did not share keys in this round' });
      else if (sentInputs.includes(client)) refused.push({ client, reason: 'sent a second input' });
      else {
        const words = wordsFromBase64(input.masked, params.length);
        if (!words) refused.push({ client, reason: `not ${params.length} 64-bit words` });
        else {
          addInto(sum, words, 1);
          sentInputs.push(client);
        }
      }
    }
    return { sum, sentInputs: sentInputs.sort(), refused };
  },

  /**
   * Step 3 → the result: removes every self mask and every dropped client's pairwise masks.
   * `sum` must be exactly the sum of `sentInputs`' masked inputs.
   */
  async unmask(
    params: AggregationParameters,
    round: {
      readonly roster: readonly AdvertisedKeys[];
      readonly shared: readonly Pick<SharedKeys, 'client' | 'commitment'>[];
      readonly sentInputs: readonly string[];
      readonly sum: BigUint64Array;
      readonly responses: readonly UnmaskingShares[];
    },
  ): Promise<Float64Array> {
    const { threshold } = params;
    const responders = round.responses.filter((r) => round.sentInputs.includes(r.client));
    if (responders.length < threshold)
      throw new SecureAggregationError(
        `${responders.length} survivors returned shares, fewer than the threshold of ${threshold}`,
      );
    const keys = new Map(round.roster.map((k) => [k.client, k]));
    const commitments = new Map(round.shared.map((s) => [s.client, s.commitment]));
    const sharedBy = round.shared.map((s) => s.client);
    const dropped = sharedBy.filter((u) => !round.sentInputs.includes(u));
    const reconstruct = async (owner: string, kind: 'selfMask' | 'maskKey') => {
      const shares = responders.map((r) => r[kind][owner]).filter((s): s is string => typeof s === 'string');
      if (shares.length < threshold)
        throw new SecureAggregationError(
          `${shares.length} shares of ${owner}'s ${kind}, fewer than the threshold of ${threshold}`,
        );
      return combine(shares.map(unb64));
    };
    const result = round.sum.slice();
    for (const u of round.sentInputs) {
      const seed = await reconstruct(u, 'selfMask');
      if (commitmentOf(params.session, u, seed) !== commitments.get(u))
        throw new SecureAggregationError(`the shares of ${u}'s self mask do not match its commitment`);
      addInto(result, prg(seed, params.length), -1);
    }
    for (const u of dropped) {
      const secretKey = await reconstruct(u, 'maskKey');
      const advertised = keys.get(u) as AdvertisedKeys;
      if (!equalBytes(x25519.getPublicKey(secretKey), unb64(advertised.sPk)))
        throw new SecureAggregationError(`the shares of ${u}'s mask key do not give its public key`);
      for (const v of round.sentInputs) {
        const mask = prg(
          pairSeed(params.session, secretKey, unb64((keys.get(v) as AdvertisedKeys).sPk)),
          params.length,
        );
        // v added +mask when v < u and −mask when v > u.
        addInto(result, mask, v < u ? -1 : 1);
      }
    }
    return decode(result);
  },
};
