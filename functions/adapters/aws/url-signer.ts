import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ValidationError } from '../../kernel/errors.ts';
import type { UrlSigner } from '../../ports/url-signer.ts';

function parse(uri: string): { Bucket: string; Key: string } {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!match)
    throw new ValidationError('Not an S3 object', [
      { path: 'uri', message: `expected s3://bucket/key, got ${uri}` },
    ]);
  return { Bucket: match[1] as string, Key: match[2] as string };
}

/** {@link UrlSigner} by the SDK's presigner (SigV4 query auth), on whatever endpoint the client has. */
export class S3UrlSigner implements UrlSigner {
  readonly #s3: S3Client;

  constructor(s3: S3Client) {
    this.#s3 = s3;
  }

  downloadUrl(uri: string, expiresInSeconds: number): Promise<string> {
    return getSignedUrl(this.#s3, new GetObjectCommand(parse(uri)), { expiresIn: expiresInSeconds });
  }

  uploadUrl(uri: string, expiresInSeconds: number, contentType: string): Promise<string> {
    return getSignedUrl(this.#s3, new PutObjectCommand({ ...parse(uri), ContentType: contentType }), {
      expiresIn: expiresInSeconds,
    });
  }
}
