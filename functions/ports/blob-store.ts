import type { Readable } from 'node:stream';

/** Port over an object store (S3 in every environment, through the SDK). */
export interface BlobStore {
  /** Size and user metadata of an object, or undefined when absent. */
  head(key: string): Promise<{ size: number; metadata: Readonly<Record<string, string>> } | undefined>;
  /** Writes the object unless the key exists; 'exists' when it does (or another write won). */
  putIfAbsent(
    key: string,
    body: Uint8Array,
    options: { contentType: string; metadata: Readonly<Record<string, string>> },
  ): Promise<'created' | 'exists'>;
  /** Streams a file of `size` bytes to the key (multipart when large). */
  putFile(
    key: string,
    path: string,
    options: { contentType: string; metadata: Readonly<Record<string, string>> },
  ): Promise<void>;
  get(key: string): Promise<Uint8Array | undefined>;
  getStream(key: string): Promise<Readable | undefined>;
  /** A URI naming the object, e.g. `s3://bucket/key`. */
  uri(key: string): string;
  /** The key a URI of this store names, or undefined when it names another store. */
  keyOf(uri: string): string | undefined;
}
