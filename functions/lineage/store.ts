/**
 * Content-addressed, write-once lineage storage.
 *
 * An artifact's key is derived from the SHA-256 of its bytes (`models/sha256/ab/ab12…`), so
 * writing the same content again is a no-op and other content can never take an existing key.
 * Every read recomputes the hash: a mismatch raises {@link IntegrityError} and the bytes are
 * never returned. In AWS the bucket is also versioned (and optionally under Object Lock), so
 * even an overwrite outside Keel cannot erase what was there.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { canonicalJson } from '../kernel/canonical-json.ts';
import { IntegrityError, NotFoundError, ValidationError } from '../kernel/errors.ts';
import type { BlobStore } from '../ports/blob-store.ts';

export const ARTIFACT_KINDS = [
  'datasets',
  'pipelines',
  'models',
  'evaluations',
  'audits',
  'drift',
  'profiles',
  'explainers',
  'records',
] as const;
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

/** How an artifact is named everywhere else (registry metadata, state-machine payloads). */
export interface ArtifactRef {
  readonly kind: ArtifactKind;
  readonly sha256: string;
  readonly uri: string;
  readonly sizeBytes: number;
}

const SHA256 = /^[0-9a-f]{64}$/;

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export class LineageStore {
  readonly #blobs: BlobStore;

  constructor(blobs: BlobStore) {
    this.#blobs = blobs;
  }

  keyFor(kind: ArtifactKind, sha256: string): string {
    if (!ARTIFACT_KINDS.includes(kind)) {
      throw new ValidationError('Unknown artifact kind', [
        { path: 'kind', message: `got "${kind}", expected one of ${ARTIFACT_KINDS.join(', ')}` },
      ]);
    }
    if (!SHA256.test(sha256))
      throw new ValidationError('Invalid SHA-256', [{ path: 'sha256', message: `got "${sha256}"` }]);
    return `${kind}/sha256/${sha256.slice(0, 2)}/${sha256}`;
  }

  /** Stores bytes under their content address; returns the existing ref when already stored. */
  async putBytes(
    kind: ArtifactKind,
    bytes: Uint8Array,
    options: { contentType?: string } = {},
  ): Promise<ArtifactRef> {
    const sha256 = sha256Hex(bytes);
    const key = this.keyFor(kind, sha256);
    const ref: ArtifactRef = { kind, sha256, uri: this.#blobs.uri(key), sizeBytes: bytes.byteLength };
    const existing = await this.#blobs.head(key);
    if (existing !== undefined) {
      if (existing.size !== bytes.byteLength) {
        throw new IntegrityError(
          `${ref.uri} holds ${existing.size} bytes, not the ${bytes.byteLength} its address promises`,
        );
      }
      return ref;
    }
    await this.#blobs.putIfAbsent(key, bytes, {
      contentType: options.contentType ?? 'application/octet-stream',
      metadata: { sha256 },
    });
    return ref;
  }

  /** Stores a value as canonical JSON, so equal values share one address. */
  putJson(kind: ArtifactKind, value: unknown): Promise<ArtifactRef> {
    return this.putBytes(kind, new TextEncoder().encode(canonicalJson(value)), {
      contentType: 'application/json',
    });
  }

  /** Streams a file in: hashes it first (one pass), then uploads it unless already stored. */
  async putFile(
    kind: ArtifactKind,
    path: string,
    options: { contentType?: string } = {},
  ): Promise<ArtifactRef> {
    const hash = createHash('sha256');
    await pipeline(createReadStream(path), hash);
    const sha256 = hash.digest('hex');
    const { size } = await stat(path);
    const key = this.keyFor(kind, sha256);
    const ref: ArtifactRef = { kind, sha256, uri: this.#blobs.uri(key), sizeBytes: size };
    if ((await this.#blobs.head(key)) === undefined) {
      await this.#blobs.putFile(key, path, {
        contentType: options.contentType ?? 'application/octet-stream',
        metadata: { sha256 },
      });
    }
    return ref;
  }

  async exists(ref: Pick<ArtifactRef, 'kind' | 'sha256'>): Promise<boolean> {
    return (await this.#blobs.head(this.keyFor(ref.kind, ref.sha256))) !== undefined;
  }

  /** Reads an artifact, refusing it unless its bytes hash to its address. */
  async getBytes(ref: Pick<ArtifactRef, 'kind' | 'sha256'>): Promise<Uint8Array> {
    const key = this.keyFor(ref.kind, ref.sha256);
    const bytes = await this.#blobs.get(key);
    if (bytes === undefined) throw new NotFoundError(`Artifact ${this.#blobs.uri(key)} does not exist`);
    const actual = sha256Hex(bytes);
    if (actual !== ref.sha256) {
      throw new IntegrityError(
        `Artifact ${this.#blobs.uri(key)} is corrupt: its content hashes to ${actual}`,
      );
    }
    return bytes;
  }

  async getJson<T = unknown>(ref: Pick<ArtifactRef, 'kind' | 'sha256'>): Promise<T> {
    return JSON.parse(new TextDecoder().decode(await this.getBytes(ref))) as T;
  }

  /**
   * Streams an artifact to `destination`, hashing on the way. The file appears only when the
   * hash matches; a corrupt download is deleted and raises {@link IntegrityError}.
   */
  async downloadFile(ref: Pick<ArtifactRef, 'kind' | 'sha256'>, destination: string): Promise<void> {
    const key = this.keyFor(ref.kind, ref.sha256);
    const stream = await this.#blobs.getStream(key);
    if (stream === undefined) throw new NotFoundError(`Artifact ${this.#blobs.uri(key)} does not exist`);
    const partial = `${destination}.partial`;
    const hash = createHash('sha256');
    const tee = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    try {
      await pipeline(stream, tee, createWriteStream(partial));
      const actual = hash.digest('hex');
      if (actual !== ref.sha256) {
        throw new IntegrityError(
          `Artifact ${this.#blobs.uri(key)} is corrupt: its content hashes to ${actual}`,
        );
      }
      await rename(partial, destination);
    } finally {
      await rm(partial, { force: true });
    }
  }

  /** The URI of an artifact of this store, for those named by hash alone (registry tags). */
  uriOf(ref: Pick<ArtifactRef, 'kind' | 'sha256'>): string {
    return this.#blobs.uri(this.keyFor(ref.kind, ref.sha256));
  }

  /** The ref a URI of this store names (e.g. from registry metadata), or undefined. */
  refOf(uri: string): Pick<ArtifactRef, 'kind' | 'sha256'> | undefined {
    const key = this.#blobs.keyOf(uri);
    const match = key?.match(/^([a-z]+)\/sha256\/[0-9a-f]{2}\/([0-9a-f]{64})$/);
    if (!match || !ARTIFACT_KINDS.includes(match[1] as ArtifactKind)) return undefined;
    return { kind: match[1] as ArtifactKind, sha256: match[2] as string };
  }
}
