/**
 * A browser consumer of the package, as a user would write it: a page that trains XOR with
 * `webgpu-backprop` and nothing else, built by a plain Vite config. scripts/bundle-size.ts measures its
 * build; test/node/package.test.ts builds it from the installed tarball and loads it in Chromium.
 */
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/** The page's script: trains XOR on `?backend=` (default 'auto') and leaves the outcome on `window.result`. */
export const PAGE_SCRIPT = `import { createNetwork } from 'webgpu-backprop';

async function main() {
  const backend = new URLSearchParams(location.search).get('backend') ?? 'auto';
  const x = [[0, 0], [0, 1], [1, 0], [1, 1]];
  const net = await createNetwork({
    inputSize: 2,
    layers: [{ type: 'dense', units: 8, activation: 'tanh' }, { type: 'dense', units: 1 }],
    loss: 'binaryCrossEntropy',
    optimizer: { type: 'adam', learningRate: 0.05 },
    seed: 1,
    backend,
  });
  const { loss } = await net.fit(x, new Int32Array([0, 1, 1, 0]), { epochs: 150 });
  const probabilities = Array.from(await net.predict(x));
  window.result = { backend: net.backend, reason: net.deviceInfo.reason, first: loss[0], last: loss.at(-1), probabilities };
  net.dispose();
}

main().catch((error) => {
  window.result = { error: String(error && error.stack || error) };
});
`;

export const PAGE_HTML = `<!doctype html>
<html>
  <head><meta charset="utf-8"><title>XOR with webgpu-backprop</title></head>
  <body><script type="module" src="./main.js"></script></body>
</html>
`;

/** Writes the page (index.html, main.js) into `dir`, a folder whose node_modules holds webgpu-backprop. */
export async function writePage(dir: string): Promise<void> {
  await writeFile(join(dir, 'index.html'), PAGE_HTML);
  await writeFile(join(dir, 'main.js'), PAGE_SCRIPT);
}

/** Builds the page in `dir` into `dir/dist` with Vite's defaults (the `vite` package of this repository). */
export async function buildPage(dir: string): Promise<string> {
  const { build } = await import('vite');
  const outDir = join(dir, 'dist');
  await build({ root: dir, configFile: false, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  return outDir;
}

export interface BuiltFile {
  file: string;
  bytes: number;
  gzipBytes: number;
}

/** Every JavaScript file of a build, with its size raw and gzipped (zlib, level 9). */
export async function measureBuild(outDir: string): Promise<BuiltFile[]> {
  const files: BuiltFile[] = [];
  const walk = async (dir: string, prefix: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path, `${prefix}${entry.name}/`);
      else if (entry.name.endsWith('.js')) {
        const bytes = await readFile(path);
        files.push({ file: `${prefix}${entry.name}`, bytes: (await stat(path)).size, gzipBytes: gzipSync(bytes, { level: 9 }).length });
      }
    }
  };
  await walk(outDir, '');
  return files.sort((a, b) => b.bytes - a.bytes);
}
