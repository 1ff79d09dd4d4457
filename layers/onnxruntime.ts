/**
 * Builds the onnxruntime-node Lambda layer for one architecture: `nodejs/node_modules/` with
 * onnxruntime-node's JavaScript, the CPU binaries of linux/<arch> only (the npm package ships
 * every platform: 288 MB), and onnxruntime-common. The install-time dependencies (adm-zip,
 * global-agent) stay out. Run: `npm run build:layer` (arm64) or `node --import tsx
 * layers/onnxruntime.ts x64`.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import AdmZip from 'adm-zip';

export type LayerArchitecture = 'arm64' | 'x64';

export interface LayerBuild {
  /** Directory holding `nodejs/`, the layer's content. */
  readonly dir: string;
  readonly zip: string;
  readonly unzippedBytes: number;
  readonly zippedBytes: number;
}

const require = createRequire(import.meta.url);
/** A package's directory, found from its entry point (some packages do not export package.json). */
function packageDir(name: string): string {
  let dir = dirname(require.resolve(name));
  while (!existsSync(join(dir, 'package.json')) || !dir.endsWith(name)) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the directory of ${name}`);
    dir = parent;
  }
  return dir;
}

function sizeOf(path: string): number {
  const info = statSync(path);
  if (!info.isDirectory()) return info.size;
  return readdirSync(path).reduce((sum, entry) => sum + sizeOf(join(path, entry)), 0);
}

export function buildOnnxRuntimeLayer(
  architecture: LayerArchitecture = 'arm64',
  outDir = resolve(import.meta.dirname, 'dist'),
): LayerBuild {
  const dir = join(outDir, `onnxruntime-${architecture}`);
  rmSync(dir, { recursive: true, force: true });
  const modules = join(dir, 'nodejs', 'node_modules');
  const ort = packageDir('onnxruntime-node');
  const binaries = join(ort, 'bin', 'napi-v6', 'linux', architecture);
  if (!existsSync(binaries))
    throw new Error(`onnxruntime-node has no binaries for linux/${architecture} at ${binaries}`);
  const target = join(modules, 'onnxruntime-node');
  mkdirSync(target, { recursive: true });
  cpSync(join(ort, 'package.json'), join(target, 'package.json'));
  cpSync(join(ort, 'dist'), join(target, 'dist'), {
    recursive: true,
    filter: (src) => !src.endsWith('.map'),
  });
  cpSync(binaries, join(target, 'bin', 'napi-v6', 'linux', architecture), { recursive: true });
  cpSync(packageDir('onnxruntime-common'), join(modules, 'onnxruntime-common'), {
    recursive: true,
    filter: (src) => !src.endsWith('.map') && !src.includes(`${join('onnxruntime-common', 'lib')}`),
  });
  const zip = `${dir}.zip`;
  const archive = new AdmZip();
  archive.addLocalFolder(dir);
  archive.writeZip(zip);
  return { dir, zip, unzippedBytes: sizeOf(dir), zippedBytes: statSync(zip).size };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const architecture = (process.argv[2] ?? 'arm64') as LayerArchitecture;
  const build = buildOnnxRuntimeLayer(architecture);
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  console.log(`${build.zip}: ${mb(build.unzippedBytes)} unzipped, ${mb(build.zippedBytes)} zipped`);
}
