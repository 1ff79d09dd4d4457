import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';

/**
 * `fetch` signed with SigV4 for an IAM-authorised API Gateway (`execute-api`), with the
 * credentials the SDK would find (a client's role profile, SSO, the instance role…).
 * @param region @default the region in the API's host name, else `AWS_REGION`
 */
export function signedFetch(region?: string): (url: string, init: RequestInit) => Promise<Response> {
  const signers = new Map<string, SignatureV4>();
  const signerFor = (host: string) => {
    const inHost = /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(host)?.[1];
    const chosen = region ?? inHost ?? process.env.AWS_REGION ?? 'us-east-1';
    let signer = signers.get(chosen);
    if (!signer) {
      signer = new SignatureV4({
        service: 'execute-api',
        region: chosen,
        credentials: defaultProvider(),
        sha256: Hash.bind(null, 'sha256'),
      });
      signers.set(chosen, signer);
    }
    return signer;
  };
  return async (url, init) => {
    const target = new URL(url);
    const body = typeof init.body === 'string' ? init.body : undefined;
    const signed = await signerFor(target.hostname).sign({
      method: init.method ?? 'GET',
      protocol: target.protocol,
      hostname: target.hostname,
      ...(target.port ? { port: Number(target.port) } : {}),
      path: target.pathname,
      query: Object.fromEntries(target.searchParams),
      headers: { host: target.host, ...((init.headers as Record<string, string> | undefined) ?? {}) },
      ...(body !== undefined ? { body } : {}),
    });
    return fetch(url, {
      method: init.method ?? 'GET',
      headers: signed.headers,
      ...(body !== undefined ? { body } : {}),
    });
  };
}
