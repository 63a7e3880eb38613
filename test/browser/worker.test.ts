import { describe, expect, it } from 'vitest';

interface WorkerResult {
  backend?: string;
  loss?: number[];
  weights?: number[][];
  error?: string;
}

function trainInWorker(backend: 'webgpu' | 'cpu'): Promise<WorkerResult> {
  const worker = new Worker(new URL('./train-worker.ts', import.meta.url), { type: 'module' });
  return new Promise((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<WorkerResult>) => {
      worker.terminate();
      resolve(event.data);
    };
    worker.onerror = (event) => reject(new Error(event.message));
    worker.postMessage({ backend });
  });
}

describe('in a Web Worker', () => {
  it('trains on WebGPU from the worker\'s navigator.gpu and matches the cpu backend', async () => {
    const [gpu, cpu] = await Promise.all([trainInWorker('webgpu'), trainInWorker('cpu')]);
    expect(gpu.error).toBeUndefined();
    expect(gpu.backend).toBe('webgpu');
    expect(cpu.backend).toBe('cpu');
    expect(gpu.loss).toHaveLength(20);
    gpu.loss!.forEach((loss, epoch) => expect(Math.abs(loss - cpu.loss![epoch]!)).toBeLessThan(1e-4 * Math.max(1, loss)));
    gpu.weights!.flat().forEach((w, i) => expect(Math.abs(w - cpu.weights!.flat()[i]!)).toBeLessThan(1e-4));
    expect(gpu.loss![19]).toBeLessThan(gpu.loss![0]!);
  });
});
