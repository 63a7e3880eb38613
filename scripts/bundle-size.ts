/**
 * `npm run size`: what a browser consumer downloads. Builds the library (unless `--no-build`), builds
 * scripts/consumer-page.ts's XOR page against it with a plain Vite build, and prints each JavaScript
 * file raw and gzipped: the entry every page loads, and the chunks loaded only on demand (the wasm
 * kernels, fetched when the cpu backend starts). The README's Install section quotes this output.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPage, measureBuild, writePage } from './consumer-page.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const kB = (bytes: number) => `${(bytes / 1000).toFixed(1)} kB`;

if (!process.argv.includes('--no-build')) execFileSync('npm', ['run', 'build:lib'], { cwd: ROOT, stdio: 'ignore' });
const dir = await mkdtemp(join(tmpdir(), 'wgbp-size-'));
try {
  // The package as installed: node_modules/webgpu-backprop is this repository (its exports point at dist/).
  await mkdir(join(dir, 'node_modules'));
  await symlink(ROOT, join(dir, 'node_modules', 'webgpu-backprop'), 'dir');
  await writePage(dir);
  const files = await measureBuild(await buildPage(dir));
  const total = files.reduce((sum, f) => ({ bytes: sum.bytes + f.bytes, gzipBytes: sum.gzipBytes + f.gzipBytes }), { bytes: 0, gzipBytes: 0 });
  for (const f of files) process.stdout.write(`${f.file.padEnd(40)} ${kB(f.bytes).padStart(10)}  ${kB(f.gzipBytes).padStart(9)} gzipped\n`);
  process.stdout.write(`${'total'.padEnd(40)} ${kB(total.bytes).padStart(10)}  ${kB(total.gzipBytes).padStart(9)} gzipped\n`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
