import { afterEach, describe, expect, it } from 'vitest';
import {
  clientConfig,
  dynamoDbClient,
  endpointFor,
  resetClients,
  SERVICE_ENDPOINT_KEYS,
  type ServiceName,
  s3Client,
} from '../../functions/commons/clients.ts';

const ENDPOINT_VARS = [
  'AWS_ENDPOINT_URL',
  'AWS_ENDPOINT_URL_S3',
  'AWS_ENDPOINT_URL_DYNAMODB',
  'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS',
];

describe('endpointFor', () => {
  it.each(Object.keys(SERVICE_ENDPOINT_KEYS) as ServiceName[])('uses AWS_ENDPOINT_URL for %s', (service) => {
    expect(endpointFor(service, { AWS_ENDPOINT_URL: 'http://127.0.0.1:5000' })).toBe('http://127.0.0.1:5000');
  });

  it.each(Object.entries(SERVICE_ENDPOINT_KEYS) as [ServiceName, string][])(
    'lets AWS_ENDPOINT_URL_%s win over the global variable',
    (service, key) => {
      // Prepare
      const env = { AWS_ENDPOINT_URL: 'http://global:1', [`AWS_ENDPOINT_URL_${key}`]: 'http://specific:2' };

      // Act / Assess
      expect(endpointFor(service, env)).toBe('http://specific:2');
    },
  );

  it('returns undefined without endpoint variables, so the SDK uses the regional endpoint', () => {
    expect(endpointFor('s3', {})).toBeUndefined();
  });

  it('ignores configured endpoints when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true', () => {
    expect(
      endpointFor('s3', { AWS_ENDPOINT_URL: 'http://x:1', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }),
    ).toBeUndefined();
  });

  it('does not apply one service’s variable to another', () => {
    expect(endpointFor('dynamodb', { AWS_ENDPOINT_URL_S3: 'http://s3:1' })).toBeUndefined();
  });
});

describe('clientConfig', () => {
  it('adds nothing when no endpoint is configured', () => {
    expect(clientConfig('s3', {})).toEqual({});
  });

  it('uses path-style S3 and checksums only when required against an emulator', () => {
    expect(clientConfig('s3', { AWS_ENDPOINT_URL: 'http://127.0.0.1:4566' })).toEqual({
      endpoint: 'http://127.0.0.1:4566',
      region: 'us-east-1',
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  });

  it('keeps the configured region against an emulator', () => {
    expect(clientConfig('dynamodb', { AWS_ENDPOINT_URL: 'http://e:1', AWS_REGION: 'eu-west-1' })).toEqual({
      endpoint: 'http://e:1',
      region: 'eu-west-1',
    });
  });
});

describe('client singletons', () => {
  const saved = Object.fromEntries(ENDPOINT_VARS.map((k) => [k, process.env[k]]));

  afterEach(() => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    resetClients();
  });

  it('resolves the endpoint from the environment into the real client', async () => {
    // Prepare
    process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:5000';
    process.env.AWS_ENDPOINT_URL_S3 = 'http://127.0.0.1:6000';
    resetClients();

    // Act
    const s3Endpoint = await s3Client().config.endpoint?.();
    const dynamoEndpoint = await dynamoDbClient().config.endpoint?.();

    // Assess
    expect(s3Endpoint).toMatchObject({ hostname: '127.0.0.1', port: 6000, protocol: 'http:' });
    expect(dynamoEndpoint).toMatchObject({ hostname: '127.0.0.1', port: 5000 });
    expect(s3Client().config.forcePathStyle).toBe(true);
    expect(await s3Client().config.requestChecksumCalculation()).toBe('WHEN_REQUIRED');
  });

  it('returns the same instance until reset', () => {
    // Act
    const first = s3Client();
    const second = s3Client();
    resetClients();
    const third = s3Client();

    // Assess
    expect(second).toBe(first);
    expect(third).not.toBe(first);
  });
});
