import type { KernelKey } from '../../shaders/index.js';
import type { Plan } from '../plan.js';
import type { Kernel } from './kernels.js';
import type { PlanProducts } from './products.js';
import { FLOAT, type GpuResources } from './resources.js';
import { recordStep } from './step.js';

/**
 * Every buffer a backend makes at creation, on `res`: the loss record and the readbacks, and the
 * recorded step's (step.ts). checkMemory sizes a network by running this on a device that only
 * counts (limits.ts), so the check and the allocation cannot disagree.
 */
export function allocateBackend(plan: Plan, res: GpuResources, kernels: Map<string, Kernel>, products: PlanProducts, initial: Float32Array,
  fusedKeys?: Extract<KernelKey, { kind: 'fusedMlp' }>[]) {
  const { batchSize, outputSize, parameterCount } = plan;
  const read = GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST;
  const lossRecord = res.buffer(FLOAT, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'loss record [batches]');
  return {
    lossRecord,
    lossStaging: res.buffer(FLOAT, read, 'loss readback'),
    // Outputs of one chunk, then its loss at the end.
    outputStaging: res.buffer((batchSize * outputSize + 1) * FLOAT, read, 'output readback'),
    paramStaging: res.buffer(parameterCount * FLOAT, read, 'parameter readback'),
    step: recordStep(plan, res, kernels, products, initial, lossRecord, fusedKeys),
  };
}
