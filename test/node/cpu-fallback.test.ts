import { afterEach, describe, expect, it, vi } from 'vitest';

/** A fresh copy of the engine, so the wasm feature detection (cached per process) runs again. */
async function freshEngine() {
  vi.resetModules();
  return import('../../src/index.js');
}

const spec = {
  inputSize: 3,
  layers: [{ type: 'dense' as const, units: 4 }, { type: 'tanh' as const }, { type: 'dense' as const, units: 2 }],
  batchSize: 4,
  backend: 'cpu' as const,
  threads: 2,
};
const x = [[0.1, 0.2, 0.3], [0.3, -0.2, 0.5], [-1, 0, 1], [0.5, 0.5, -0.5]];
const y = [[1, 0], [0, 1], [1, 0], [0, 1]];

describe('the CPU backend falls back and says so, never fails', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    delete (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
  });

  it('one thread where the page is not cross-origin isolated', async () => {
    Object.defineProperty(globalThis, 'crossOriginIsolated', { value: false, configurable: true });
    const { createNetwork } = await freshEngine();
    const net = await createNetwork(spec);
    expect(net.deviceInfo).toMatchObject({ threads: 1 });
    expect(net.deviceInfo.kernels).toMatch(/^wasm-/);
    expect(net.deviceInfo.reason).toMatch(/^cpu backend requested · wasm (relaxed )?SIMD, 1 thread \(1 thread: no SharedArrayBuffer /);
    expect(net.deviceInfo.reason).toContain('(the page is not cross-origin isolated: serve it with COOP/COEP headers))');
    expect(await net.trainBatch(x, y)).toBeGreaterThan(0);
    net.dispose();
  });

  it('the TypeScript kernels where wasm SIMD does not compile, with the same training', async () => {
    const { createNetwork: wasmNetwork } = await freshEngine();
    const wasm = await wasmNetwork(spec);
    vi.spyOn(WebAssembly, 'compile').mockRejectedValue(new WebAssembly.CompileError('SIMD unsupported'));
    const { createNetwork } = await freshEngine();
    const net = await createNetwork(spec);
    expect(net.deviceInfo).toMatchObject({ kernels: 'typescript', threads: 1 });
    expect(net.deviceInfo.reason).toBe('cpu backend requested · TypeScript kernels (WebAssembly SIMD unavailable: SIMD unsupported)');
    for (let step = 0; step < 3; step++) {
      const [a, b] = [await net.trainBatch(x, y), await wasm.trainBatch(x, y)];
      expect(Math.abs(a - b)).toBeLessThan(1e-5);
    }
    net.dispose();
    wasm.dispose();
  });
});
