/**
 * How every Keel function is bundled: the esbuild settings `KeelFunction` gives `NodejsFunction`,
 * in one place so that the cold-start benchmark builds exactly what CDK ships.
 */

/** esbuild settings, in esbuild's own terms. */
export const KEEL_BUNDLE = {
  /**
   * CommonJS out, though the sources and most dependencies are ESM (and still tree-shake): for
   * every builtin an ES module imports, Node's loader builds a namespace by reading each export,
   * lazy getters included (`http.WebSocket` loads undici, `process.stdout` opens a stream), which
   * cost the inference bundle about 20 ms of its load; a CommonJS handler is `require`d directly.
   */
  format: 'cjs',
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
  /**
   * Nothing: the SDK is bundled and tree-shaken rather than taken whole from the runtime, at the
   * version the code was tested with; onnxruntime-node comes in a layer, added per function.
   */
  external: [] as string[],
  /**
   * vega-canvas's Node build awaits an optional `import('canvas')` at its top level, which a
   * CommonJS bundle cannot hold; its browser build is the same two functions without it. Reports
   * render SVG, which needs no canvas (Vega measures text without one).
   */
  alias: { 'vega-canvas': './node_modules/vega-canvas/build/vega-canvas.browser.js' },
} as const;

/** What `KeelFunction`'s `sourceMaps: true` adds to `NODE_OPTIONS`. */
export const SOURCE_MAPS_NODE_OPTION = '--enable-source-maps';
