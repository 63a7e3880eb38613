import { playwright } from '@vitest/browser-playwright';
import { defineConfig, mergeConfig } from 'vitest/config';
import { chromiumArgs } from './test/support/chromium';
import viteConfig from './vite.config';

/**
 * Three projects:
 *  - `node`:    every test in test/**, GPU through Dawn (npm `webgpu`); the engine locates SwiftShader
 *               itself, so VK_ICD_FILENAMES is deliberately NOT set here.
 *  - `browser`: the same tests minus test/node/** in headless system Chromium, WebGPU on SwiftShader.
 *  - `e2e`:     test/e2e/**, the browser app built as a static site and driven in Chromium by Playwright.
 * SwiftShader is a CPU emulation, so timeouts are generous and parallelism is low; the node group runs
 * first, then the browser group, then e2e (sequence.groupOrder), so they never compete for the CPU.
 */
const GPU_TIMEOUT_MS = 60_000;

export default mergeConfig(
  viteConfig,
  defineConfig({
    test: {
      testTimeout: GPU_TIMEOUT_MS,
      hookTimeout: GPU_TIMEOUT_MS,
      teardownTimeout: GPU_TIMEOUT_MS,
      // Autotune decisions stay in memory: a stored file from an earlier run would change what the
      // tests see (test/node/tuning-store.test.ts checks the stored path on its own file).
      env: { WEBGPU_BACKPROP_TUNING: 'off' },
      projects: [
        {
          extends: true,
          test: {
            name: 'node',
            environment: 'node',
            include: ['test/**/*.test.ts'],
            exclude: ['**/node_modules/**', 'test/browser/**', 'test/e2e/**'],
            pool: 'forks', // Dawn is a native addon: keep it out of worker_threads
            maxWorkers: 2,
            sequence: { groupOrder: 0 },
          },
        },
        {
          extends: true,
          test: {
            name: 'browser',
            include: ['test/**/*.test.ts'],
            exclude: ['**/node_modules/**', 'test/node/**', 'test/e2e/**'],
            fileParallelism: false,
            sequence: { groupOrder: 1 },
            browser: {
              enabled: true,
              headless: true,
              screenshotFailures: false,
              provider: playwright({
                launchOptions: {
                  executablePath: '/usr/bin/chromium',
                  args: chromiumArgs,
                },
              }),
              instances: [{ browser: 'chromium' }],
            },
          },
        },
        {
          extends: true,
          test: {
            name: 'e2e',
            environment: 'node',
            include: ['test/e2e/**/*.test.ts'],
            fileParallelism: false,
            sequence: { groupOrder: 2 },
          },
        },
      ],
    },
  }),
);
