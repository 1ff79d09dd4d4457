declare module 'vitest' {
  interface ProvidedContext {
    /** Environment pointing SDK clients at the tier's AWS-compatible endpoint. */
    awsEnv: Record<string, string>;
    /** Which tier provides it. */
    awsTier: 'embedded' | 'aws';
  }
}

export {};
