import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { NotFoundError, ValidationError } from '../../kernel/errors.ts';

/** Reads an object named by an `s3://bucket/key` URI (user data sources, SageMaker outputs). */
export function s3ObjectReader(s3: S3Client): (uri: string) => Promise<Uint8Array> {
  return async (uri) => {
    const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
    if (!match)
      throw new ValidationError('Not an S3 URI', [
        { path: 'uri', message: `expected s3://bucket/key, got "${uri}"` },
      ]);
    try {
      const object = await s3.send(new GetObjectCommand({ Bucket: match[1], Key: match[2] }));
      return (await object.Body?.transformToByteArray()) ?? new Uint8Array();
    } catch (error) {
      if ((error as Error).name === 'NoSuchKey')
        throw new NotFoundError(`${uri} does not exist`, { cause: error });
      throw error;
    }
  };
}
