/**
 * How every Keel function is bundled: the esbuild settings `KeelFunction` gives `NodejsFunction`,
 * in one place so that the cold-start benchmark builds exactly what CDK ships.
 */

/** esbuild settings, in esbuild's own terms. */
export const KEEL_BUNDLE = {
  format: 'esm',
  target: 'node22',
  platform: 'node',
  minify: true,
  /**
   * ESM builds first: esbuild's default for Node takes each package's CommonJS `main`, whose
   * `require`s it cannot tree-shake, so every SDK client of `commons/clients.ts` was loaded
   * at every cold start.
   */
  mainFields: ['module', 'main'],
  sourcemap: true,
  /** The Node 22 Lambda runtime ships SDK v3; onnxruntime-node comes in a layer. */
  external: [] as string[],
  // ESM bundles still contain CommonJS dependencies that call require().
  banner:
    "import { createRequire as __keelCreateRequire } from 'node:module'; const require = __keelCreateRequire(import.meta.url);",
} as const;
