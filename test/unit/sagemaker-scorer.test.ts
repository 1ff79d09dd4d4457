import { InvokeEndpointCommand, ModelError, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { SageMakerScorer } from '../../functions/adapters/aws/sagemaker-scorer.ts';

const sagemaker = mockClient(SageMakerRuntimeClient);
const inputs = [
  { name: 'income', type: 'numeric' as const },
  { name: 'region', type: 'categorical' as const },
];

afterEach(() => {
  sagemaker.reset();
});

describe('SageMakerScorer', () => {
  it('sends one OIP v2 tensor per column and reads the probabilities', async () => {
    // Prepare
    const body = {
      outputs: [{ name: 'probabilities', shape: [2, 2], datatype: 'FP32', data: [0.8, 0.2, 0.3, 0.7] }],
    };
    sagemaker
      .on(InvokeEndpointCommand)
      .resolves({ Body: new TextEncoder().encode(JSON.stringify(body)) as never });
    const scorer = new SageMakerScorer(new SageMakerRuntimeClient({}), 'credit-endpoint', '4', inputs);

    // Act
    const scored = await scorer.score(
      new Map<string, unknown[]>([
        ['income', [1, null]],
        ['region', ['north', 'south']],
      ]),
      2,
    );

    // Assess
    expect(Array.from(scored.probabilities)).toEqual([0.2, 0.7]);
    expect(Array.from(scored.labels)).toEqual([0, 1]);
    const sent = JSON.parse(
      new TextDecoder().decode(
        sagemaker.commandCalls(InvokeEndpointCommand)[0]?.args[0].input.Body as Uint8Array,
      ),
    );
    expect(sent.inputs).toEqual([
      { name: 'income', shape: [2, 1], datatype: 'FP32', data: [1, null] },
      { name: 'region', shape: [2, 1], datatype: 'BYTES', data: ['north', 'south'] },
    ]);
  });

  it.each([
    [
      'a model error',
      () => sagemaker.on(InvokeEndpointCommand).rejects(new ModelError({ message: 'boom', $metadata: {} })),
    ],
    [
      'a malformed answer',
      () =>
        sagemaker
          .on(InvokeEndpointCommand)
          .resolves({ Body: new TextEncoder().encode('{"outputs":[]}') as never }),
    ],
  ])('rejects on %s, so the breaker sends the request to the fallback', async (_, arrange) => {
    // Prepare
    arrange();
    const scorer = new SageMakerScorer(new SageMakerRuntimeClient({}), 'credit-endpoint', '4', inputs);

    // Act / Assess
    await expect(
      scorer.score(
        new Map([
          ['income', [1]],
          ['region', ['north']],
        ]),
        1,
      ),
    ).rejects.toThrow();
  });
});
