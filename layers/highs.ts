/**
 * Builds the HiGHS Lambda layer: `nodejs/node_modules/highs/` with the package's CommonJS
 * build and its WebAssembly (3.5 MB, the same for every architecture). The retraining steps
 * that solve linear programs (threshold post-processing in Mitigate) require it at run time;
 * their bundles leave it out, since esbuild cannot carry the wasm file beside the bundle.
 * Run: `node --import tsx layers/highs.ts`.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import AdmZip from 'adm-zip';

export interface HighsLayerBuild {
  /** Directory holding `nodejs/`, the layer's content. */
  readonly dir: string;
  readonly zip: string;
  readonly unzippedBytes: number;
}

const require = createRequire(import.meta.url);

function sizeOf(path: string): number {
  const info = statSync(path);
  if (!info.isDirectory()) return info.size;
  return readdirSync(path).reduce((sum, entry) => sum + sizeOf(join(path, entry)), 0);
}

export function buildHighsLayer(outDir = resolve(import.meta.dirname, 'dist')): HighsLayerBuild {
  const dir = join(outDir, 'highs');
  rmSync(dir, { recursive: true, force: true });
  // The CommonJS entry is build/highs.js; the package is its parent.
  const source = dirname(dirname(require.resolve('highs')));
  if (!existsSync(join(source, 'build', 'highs.wasm')))
    throw new Error(`highs has no build/highs.wasm at ${source}`);
  const target = join(dir, 'nodejs', 'node_modules', 'highs');
  mkdirSync(join(target, 'build'), { recursive: true });
  for (const file of ['package.json', 'LICENSE']) cpSync(join(source, file), join(target, file));
  for (const file of ['highs.js', 'highs.wasm'])
    cpSync(join(source, 'build', file), join(target, 'build', file));
  const zip = `${dir}.zip`;
  const archive = new AdmZip();
  archive.addLocalFolder(dir);
  archive.writeZip(zip);
  return { dir, zip, unzippedBytes: sizeOf(dir) };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const build = buildHighsLayer();
  console.log(`${build.zip}: ${(build.unzippedBytes / 1024 / 1024).toFixed(1)} MB unzipped`);
}
