/**
 * Embedded AWS: DynamoDB (dynalite) and S3 (s3rver) served in-process on ephemeral loopback
 * ports. Handlers reach them through the SDK's standard `AWS_ENDPOINT_URL_<SERVICE>`
 * variables, exactly as they would reach moto_server, LocalStack or AWS.
 *
 * Known gaps, designed around by the code that uses them: dynalite has no transactions and no
 * TTL; s3rver has no object versioning.
 */
import { mkdir, mkdtemp } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dynalite from 'dynalite';
import S3rver from 's3rver';

export interface EmbeddedAwsOptions {
  /**
   * Directory where DynamoDB and S3 state persists across restarts.
   * @default in-memory DynamoDB and a throw-away S3 directory under the OS temp dir
   */
  readonly stateDir?: string;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** Region reported to clients. @default 'us-east-1' */
  readonly region?: string;
}

/** s3rver only accepts this key pair; dynalite accepts any. */
export const EMBEDDED_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export class EmbeddedAws {
  readonly endpoints: { readonly dynamodb: string; readonly s3: string };
  readonly region: string;
  readonly stateDir: string | undefined;
  readonly #dynamo: Server;
  readonly #s3: S3rver;
  #stopped = false;

  private constructor(
    dynamo: Server,
    s3: S3rver,
    endpoints: EmbeddedAws['endpoints'],
    region: string,
    stateDir?: string,
  ) {
    this.#dynamo = dynamo;
    this.#s3 = s3;
    this.endpoints = endpoints;
    this.region = region;
    this.stateDir = stateDir;
  }

  static async start(options: EmbeddedAwsOptions = {}): Promise<EmbeddedAws> {
    const host = options.host ?? '127.0.0.1';
    const region = options.region ?? 'us-east-1';
    const s3Dir = options.stateDir ? join(options.stateDir, 's3') : await mkdtemp(join(tmpdir(), 'keel-s3-'));
    await mkdir(s3Dir, { recursive: true });
    if (options.stateDir) await mkdir(join(options.stateDir, 'dynamodb'), { recursive: true });

    // Tables become ACTIVE at once: nothing local should wait for CREATING.
    const dynamo = dynalite({
      ...(options.stateDir ? { path: join(options.stateDir, 'dynamodb') } : {}),
      createTableMs: 0,
      deleteTableMs: 0,
      updateTableMs: 0,
    });
    await new Promise<void>((resolve, reject) => {
      dynamo.once('error', reject);
      dynamo.listen(0, host, () => {
        dynamo.off('error', reject);
        resolve();
      });
    });
    const s3 = new S3rver({
      address: host,
      port: 0,
      silent: true,
      directory: s3Dir,
      resetOnClose: !options.stateDir,
    });
    let s3Address: { port: number };
    try {
      s3Address = await s3.run();
    } catch (error) {
      await closeServer(dynamo);
      throw error;
    }
    const dynamoPort = (dynamo.address() as AddressInfo).port;
    return new EmbeddedAws(
      dynamo,
      s3,
      { dynamodb: `http://${host}:${dynamoPort}`, s3: `http://${host}:${s3Address.port}` },
      region,
      options.stateDir,
    );
  }

  /** The environment that points SDK clients at these emulators. */
  env(): Record<string, string> {
    return {
      AWS_ENDPOINT_URL_DYNAMODB: this.endpoints.dynamodb,
      AWS_ENDPOINT_URL_S3: this.endpoints.s3,
      AWS_REGION: this.region,
      AWS_ACCESS_KEY_ID: EMBEDDED_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: EMBEDDED_CREDENTIALS.secretAccessKey,
    };
  }

  /** Stops both servers and releases their ports and files. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await Promise.all([this.#s3.close(), closeServer(this.#dynamo)]);
  }
}

async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return;
  // Keep-alive sockets from SDK clients would otherwise hold the server open.
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
}
