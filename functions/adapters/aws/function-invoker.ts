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
    return this.invokeVersion<T>(functionName, undefined, payload);
  }

  /** Invokes one version (or alias) of a function; a function error is a {@link FunctionInvocationError}. */
  async invokeVersion<T = unknown>(
    functionName: string,
    qualifier: string | undefined,
    payload: unknown,
  ): Promise<T> {
    const response = await this.#client.send(
      new InvokeCommand({
        FunctionName: functionName,
        ...(qualifier === undefined ? {} : { Qualifier: qualifier }),
        InvocationType: 'RequestResponse',
        Payload: new TextEncoder().encode(JSON.stringify(payload ?? null)),
      }),
    );
    const text = response.Payload ? new TextDecoder().decode(response.Payload) : '';
    const body: unknown = text === '' ? undefined : JSON.parse(text);
    if (response.FunctionError) {
      const error = (body ?? {}) as { errorType?: string; errorMessage?: string };
      throw new FunctionInvocationError(
        qualifier === undefined ? functionName : `${functionName}:${qualifier}`,
        error.errorType ?? response.FunctionError,
        error.errorMessage ?? 'no error message',
      );
    }
    return body as T;
  }
}
