/**
 * A model served by a SageMaker endpoint (for models that outgrow an in-Lambda session): the
 * same Scorer contract, over InvokeEndpoint with an Open Inference Protocol v2 body (one tensor
 * per raw column), as Triton, KServe-style and Keel's own containers accept.
 */
import { InvokeEndpointCommand, type SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { sageMakerRuntimeClient } from '../../commons/clients.ts';
import type { ModelInput, Scored } from '../../core/onnx/runtime.ts';
import type { Scorer } from '../../ports/scorer.ts';

export class SageMakerScorer implements Scorer {
  readonly version: string;
  readonly inputs: readonly ModelInput[];
  readonly #client: SageMakerRuntimeClient;
  readonly #endpoint: string;

  constructor(
    client: SageMakerRuntimeClient,
    endpoint: string,
    version: string,
    inputs: readonly ModelInput[],
  ) {
    this.#client = client;
    this.#endpoint = endpoint;
    this.version = version;
    this.inputs = inputs;
  }

  async score(columns: ReadonlyMap<string, ArrayLike<unknown>>, rows: number): Promise<Scored> {
    const body = {
      inputs: this.inputs.map((input) => ({
        name: input.name,
        shape: [rows, 1],
        datatype: input.type === 'numeric' ? 'FP32' : 'BYTES',
        data: Array.from(columns.get(input.name) ?? [], (v) => v ?? null),
      })),
    };
    const response = await this.#client.send(
      new InvokeEndpointCommand({
        EndpointName: this.#endpoint,
        ContentType: 'application/json',
        Accept: 'application/json',
        Body: new TextEncoder().encode(JSON.stringify(body)),
      }),
    );
    const parsed = JSON.parse(new TextDecoder().decode(response.Body)) as {
      outputs?: { name: string; data: number[] }[];
    };
    const probabilities = parsed.outputs?.find((o) => o.name === 'probabilities')?.data;
    if (!probabilities || probabilities.length !== 2 * rows)
      throw new Error(`endpoint ${this.#endpoint} returned no [${rows}, 2] probabilities`);
    const p1 = Float64Array.from({ length: rows }, (_, i) => probabilities[2 * i + 1] as number);
    return { probabilities: p1, labels: Int32Array.from(p1, (p) => (p > 0.5 ? 1 : 0)) };
  }
}

/** A scorer on an endpoint through this process's SageMaker Runtime client. */
export function endpointScorer(
  endpoint: string,
  version: string,
  inputs: readonly ModelInput[],
): SageMakerScorer {
  return new SageMakerScorer(sageMakerRuntimeClient(), endpoint, version, inputs);
}
