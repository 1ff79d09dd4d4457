import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { FunctionInvocationError } from '../../kernel/errors.ts';
import type { FunctionInvoker } from '../../ports/function-invoker.ts';

/** {@link FunctionInvoker} on Lambda `Invoke` (RequestResponse). */
export class LambdaFunctionInvoker implements FunctionInvoker {
  readonly #client: LambdaClient;

  constructor(client: LambdaClient) {
    this.#client = client;
  }

  async invoke<T = unknown>(functionName: string, payload: unknown): Promise<T> {
    const response = await this.#client.send(
      new InvokeCommand({
        FunctionName: functionName,
        InvocationType: 'RequestResponse',
        Payload: new TextEncoder().encode(JSON.stringify(payload ?? null)),
      }),
    );
    const text = response.Payload ? new TextDecoder().decode(response.Payload) : '';
    const body: unknown = text === '' ? undefined : JSON.parse(text);
    if (response.FunctionError) {
      const error = (body ?? {}) as { errorType?: string; errorMessage?: string };
      throw new FunctionInvocationError(
        functionName,
        error.errorType ?? response.FunctionError,
        error.errorMessage ?? 'no error message',
      );
    }
    return body as T;
  }
}
