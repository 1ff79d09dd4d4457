/** Port: time-limited URLs to one object, so a client outside AWS reads or writes it directly. */
export interface UrlSigner {
  /** A presigned GET of the object `s3://bucket/key`. */
  downloadUrl(uri: string, expiresInSeconds: number): Promise<string>;
  /** A presigned PUT of the object `s3://bucket/key` with `contentType`. */
  uploadUrl(uri: string, expiresInSeconds: number, contentType: string): Promise<string>;
}
