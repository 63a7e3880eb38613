/**
 * Writes the package's entry typings (dist/index.d.ts, dist/compat.d.ts) after `tsc -p tsconfig.build.json`
 * has emitted the declarations under dist/src and dist/shaders.
 *
 * The declarations a consumer reaches name three WebGPU types: `GPUDevice` (the `device` options),
 * `GPUBuffer` (a GpuMatrix's buffer) and `GPUCommandEncoder` (encodeTrainBatch, encodePredict). Where
 * they come from depends on the consumer's TypeScript: lib "dom" declares WebGPU from TypeScript 6 on;
 * before that `@webgpu/types` does; a Node project without "dom" has neither. Referencing
 * `@webgpu/types` from here would break the first case (its declarations clash with lib "dom"'s:
 * 182 errors with TypeScript 7.0.2 and `skipLibCheck: false`) and not fix the last (it needs "dom"'s
 * EventTarget and BufferSource itself: 14 errors). So each entry declares each as an empty global
 * interface (`interface GPUDevice {}`): it merges with whichever declaration the consumer has, adding
 * nothing, and where there is none it stands for "a GPUDevice" (any object), so every one of those
 * projects checks cleanly (test/node/package.test.ts typechecks both).
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
  return [
    `export * from '${target}';`,
    'declare global {',
    '  /** WebGPU\'s device, buffer and command encoder, as lib "dom" (TypeScript >= 6) or @webgpu/types declares them; empty interfaces where neither is loaded. */',
    '  interface GPUDevice {}',
    '  interface GPUBuffer {}',
    '  interface GPUCommandEncoder {}',
    '}',
    '',
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [file, target] of Object.entries(ENTRY_TYPES)) await writeFile(DIST + file, entryTypes(target));
}
