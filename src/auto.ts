import type { Backend } from './backend.js';
import type { Plan } from './plan.js';
import type { GpuContext } from './webgpu/device.js';

/** What `backend: 'auto'` knows of the adapter: the fields of GpuContext that describe it. */
export type AdapterFacts = Pick<GpuContext, 'vendor' | 'architecture' | 'description' | 'software'>;

/** The choice before any timing: the CPU outright, or a probe of both devices on the network's step. */
export type AutoDecision = { backend: 'cpu'; reason: string } | { backend: 'probe'; adapter: string };

const named = (adapter: AdapterFacts) => `${adapter.vendor} ${adapter.architecture}`.trim() || adapter.description || 'unnamed';

/**
 * `backend: 'auto'` without a caller's device. No adapter: the CPU. A software or fallback adapter
 * (SwiftShader, llvmpipe, WARP; `isFallbackAdapter`): the CPU, since such an adapter runs the
 * shaders on the same cores that the wasm kernels use directly, several times slower (see
 * BENCHMARKS.md). A hardware adapter: probe both on the network's own step.
 */
export function autoDecision(adapter: AdapterFacts | null): AutoDecision {
  if (!adapter) return { backend: 'cpu', reason: 'auto: no WebGPU adapter here, so the CPU backend' };
  if (adapter.software) {
    return { backend: 'cpu', reason: `auto: the WebGPU adapter (${named(adapter)}) is a software emulation, so the CPU backend` };
  }
  return { backend: 'probe', adapter: named(adapter) };
}

/** Milliseconds of one training step on `backend` (best of two after a warm-up), on zero data of batchSize rows. */
export async function probeStep(backend: Backend, plan: Plan): Promise<number> {
  const x = new Float32Array(plan.batchSize * plan.inputSize);
  const y = { values: new Float32Array(plan.batchSize * plan.outputSize), labels: false };
  await backend.trainBatch(x, y, plan.batchSize);
  let best = Infinity;
  for (let trial = 0; trial < 2; trial++) {
    const started = performance.now();
    await backend.trainBatch(x, y, plan.batchSize);
    best = Math.min(best, performance.now() - started);
  }
  return best;
}

/** The probe's verdict: the faster device, ties to WebGPU (it leaves the CPU free for the application). */
export function probeVerdict(adapter: string, gpuMs: number, cpuMs: number): { backend: 'webgpu' | 'cpu'; reason: string } {
  const times = `one step ${gpuMs.toFixed(1)} ms on WebGPU, ${cpuMs.toFixed(1)} ms on the CPU`;
  return cpuMs < gpuMs
    ? { backend: 'cpu', reason: `auto: hardware WebGPU adapter (${adapter}), but the CPU is faster on this network (${times})` }
    : { backend: 'webgpu', reason: `auto: hardware WebGPU adapter (${adapter}), faster on this network (${times})` };
}
