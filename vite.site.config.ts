import { defineConfig } from 'vite';
import library from './vite.config';

/**
 * The browser app (index.html + demo/) as a static site: `npm run dev` serves it, `npm run build`
 * writes it to site/ beside the library's dist/, `npm run preview` serves that build. Asset paths are
 * relative (base './'), so the folder works from any static host and any sub-path.
 */
export default defineConfig({
  base: './',
  // demo/public holds the MNIST asset that scripts/build-mnist.ts makes; it is copied as is.
  publicDir: 'demo/public',
  // The same dependency rules as the library: wgsl-preprocessor pre-bundled, Dawn ('webgpu') never.
  optimizeDeps: library.optimizeDeps,
  // Cross-origin isolated, so the CPU backend can use every core (see vite.config.ts).
  server: library.server,
  preview: library.preview,
  // Module workers: the engine's code-split dynamic imports need ES output in the worker too.
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    outDir: 'site',
    emptyOutDir: true,
    sourcemap: true,
  },
});
