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
  /**
   * Function and class names survive minification, so a logged stack names its frames
   * (`at OnnxModel.load`), for 1-3 ms of cold start; the source map ships beside the bundle
   * for exact positions. Node maps stacks itself only with `--enable-source-maps`, which cost
   * about 50 ms (20 %) of the inference bundle's load here: `KeelFunction`'s `sourceMaps` prop.
   */
  keepNames: true,
  sourcemap: true,
  /** The Node 22 Lambda runtime ships SDK v3; onnxruntime-node comes in a layer. */
  external: [] as string[],
  // ESM bundles still contain CommonJS dependencies that call require().
  banner:
    "import { createRequire as __keelCreateRequire } from 'node:module'; const require = __keelCreateRequire(import.meta.url);",
} as const;

/** What `KeelFunction`'s `sourceMaps: true` adds to `NODE_OPTIONS`. */
export const SOURCE_MAPS_NODE_OPTION = '--enable-source-maps';
