/** Port: synchronous Lambda invocation (hooks, pipeline helpers, the local runtime's routes). */
export interface FunctionInvoker {
  /**
   * Invokes `functionName` (a name, a `name:qualifier` or an ARN) with a JSON payload and
   * returns the parsed result. A function error is thrown as {@link FunctionInvocationError}.
   */
  invoke<T = unknown>(functionName: string, payload: unknown): Promise<T>;
}
