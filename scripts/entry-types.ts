/**
 * Writes the package's entry typings (dist/index.d.ts, dist/compat.d.ts) after `tsc -p tsconfig.build.json`
 * has emitted the declarations under dist/src and dist/shaders. Each entry references `@webgpu/types`
 * (a dependency of the package): the declarations name GPUDevice, GPUAdapterInfo and friends, which are
 * globals in a browser's lib but not in Node's, so without the reference a consumer that checks library
 * files (`skipLibCheck: false`) gets "Cannot find name 'GPUDevice'".
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));

/** Entry typings file → the emitted declarations it re-exports. */
export const ENTRY_TYPES: Record<string, string> = {
  'index.d.ts': './src/index.js',
  'compat.d.ts': './src/compat/index.js',
};

export function entryTypes(target: string): string {
  return `/// <reference types="@webgpu/types" />\nexport * from '${target}';\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [file, target] of Object.entries(ENTRY_TYPES)) await writeFile(DIST + file, entryTypes(target));
}
