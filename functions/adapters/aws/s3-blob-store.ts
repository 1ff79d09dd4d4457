import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { BlobStore } from '../../ports/blob-store.ts';

/** {@link BlobStore} on one S3 bucket. */
export class S3BlobStore implements BlobStore {
  readonly #client: S3Client;
  readonly #bucket: string;

  constructor(client: S3Client, bucket: string) {
    this.#client = client;
    this.#bucket = bucket;
  }

  async head(key: string) {
    try {
      const result = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }));
      return { size: result.ContentLength ?? 0, metadata: result.Metadata ?? {} };
    } catch (error) {
      if (
        error instanceof NotFound ||
        error instanceof NoSuchKey ||
        (error as { name?: string }).name === 'NotFound'
      )
        return undefined;
      throw error;
    }
  }

  async putIfAbsent(
    key: string,
    body: Uint8Array,
    options: { contentType: string; metadata: Readonly<Record<string, string>> },
  ): Promise<'created' | 'exists'> {
    try {
      // If-None-Match makes S3 itself refuse to replace an existing object.
      await this.#client.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: key,
          Body: body,
          ContentType: options.contentType,
          Metadata: { ...options.metadata },
          IfNoneMatch: '*',
        }),
      );
      return 'created';
    } catch (error) {
      const name = (error as { name?: string }).name;
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (name === 'PreconditionFailed' || status === 412) return 'exists';
      throw error;
    }
  }

  async putFile(
    key: string,
    path: string,
    options: { contentType: string; metadata: Readonly<Record<string, string>> },
  ) {
    await new Upload({
      client: this.#client,
      params: {
        Bucket: this.#bucket,
        Key: key,
        Body: createReadStream(path),
        ContentType: options.contentType,
        Metadata: { ...options.metadata },
      },
    }).done();
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const stream = await this.getStream(key);
    if (stream === undefined) return undefined;
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async getStream(key: string): Promise<Readable | undefined> {
    try {
      const result = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
      return result.Body as Readable;
    } catch (error) {
      if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw error;
    }
  }

  uri(key: string): string {
    return `s3://${this.#bucket}/${key}`;
  }

  keyOf(uri: string): string | undefined {
    const prefix = `s3://${this.#bucket}/`;
    return uri.startsWith(prefix) ? uri.slice(prefix.length) : undefined;
  }
}
