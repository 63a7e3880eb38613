import { builtinModules } from 'node:module';
import { defineConfig, type Plugin } from 'vite';

/**
 * Vite config: dev server / preview for index.html, and the library build of src/index.ts and src/compat/index.ts.
 * Test settings live in vitest.config.ts, which merges this file.
 */

// The engine loads Dawn ('webgpu') with `import(/* @vite-ignore */ name)` in Node only; it must never be
// bundled or pre-bundled for the browser, and Node builtins stay external in the library build.
const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

// Cross-origin isolation: without it a page has no SharedArrayBuffer, so the wasm CPU backend cannot
// share its memory with workers and runs on one thread. Served by the dev server, preview and the
// browser tests (vitest.config.ts merges this file; vite.site.config.ts reuses these).
const crossOriginIsolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

/**
 * The engine imports Node builtins (node:fs, node:os, node:worker_threads) only when it runs in Node. In
 * the library they become `import(String("node:fs"))`: a consumer's bundler then leaves them alone,
 * where a literal specifier makes Vite warn "Module node:fs has been externalized for browser
 * compatibility" and add a stub chunk to every browser build.
 */
function opaqueNodeImports(): Plugin {
  return {
    name: 'opaque-node-imports',
    renderDynamicImport({ targetModuleId }) {
      if (!targetModuleId?.startsWith('node:') && !nodeBuiltins.includes(targetModuleId ?? '')) return null;
      return { left: 'import(/* @vite-ignore */ String(', right: '))' };
    },
  };
}

export default defineConfig({
  server: { headers: crossOriginIsolation },
  preview: { headers: crossOriginIsolation },
  optimizeDeps: {
    // Pre-bundle up front so the browser test runner does not discover it late and reload the page.
    include: ['wgsl-preprocessor/wgsl-preprocessor.js'],
    // Native Node addon (dawn.node): never let the dependency optimizer touch it.
    exclude: ['webgpu'],
  },
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    // No sourcemaps in the package: they would point at src/, which is not shipped (the bundle is
    // unminified ESM, readable as it is).
    sourcemap: false,
    minify: false,
    lib: {
      // Two entries: the engine, and the seed's SNN API (`webgpu-backprop/compat`); shared code becomes a chunk.
      entry: { index: 'src/index.ts', compat: 'src/compat/index.ts' },
      formats: ['es'],
      fileName: (_format, name) => `${name}.js`,
    },
    rollupOptions: {
      plugins: [opaqueNodeImports()],
      external: (id) => id === 'webgpu' || id.startsWith('webgpu/') || id.startsWith('node:') || nodeBuiltins.includes(id),
    },
  },
});
