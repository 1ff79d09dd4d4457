import { Readable } from 'node:stream';
import type { BlobStore } from '../../functions/ports/blob-store.ts';

/** A {@link BlobStore} in memory, for unit tests of code that reads and writes lineage. */
export class MemoryBlobStore implements BlobStore {
  readonly objects = new Map<string, Uint8Array>();

  async head(key: string) {
    const body = this.objects.get(key);
    return body ? { size: body.byteLength, metadata: {} } : undefined;
  }
  async putIfAbsent(key: string, body: Uint8Array): Promise<'created' | 'exists'> {
    if (this.objects.has(key)) return 'exists';
    this.objects.set(key, body);
    return 'created';
  }
  async putFile(): Promise<void> {
    throw new Error('MemoryBlobStore does not take files');
  }
  async get(key: string) {
    return this.objects.get(key);
  }
  async getStream(key: string) {
    const body = this.objects.get(key);
    return body ? Readable.from([body]) : undefined;
  }
  uri(key: string) {
    return `memory://${key}`;
  }
  keyOf(uri: string) {
    return uri.startsWith('memory://') ? uri.slice('memory://'.length) : undefined;
  }
}
