import { requestAdapter } from '../../src/webgpu/device.js';

/** The largest grid dimension seen per dispatch, and how many dispatches continued in z. */
export interface DispatchLog {
  largest: number;
  foldedIntoZ: number;
  dispatches: number;
}

/**
 * A new device of the adapter that reports `limits` in place of its own for the named fields (the
 * device itself still allows its real limits, so a kernel over the fake limit would still run and
 * only `log` tells): what the engine reads of device.limits. Every dispatch's grid is logged.
 */
export async function deviceWithLimits(limits: Partial<Record<keyof GPUSupportedLimits, number>>): Promise<{
  device: GPUDevice;
  log: DispatchLog;
  /** Reports these limits from now on instead (the real ones where not named). */
  setLimits: (next: Partial<Record<keyof GPUSupportedLimits, number>>) => void;
}> {
  const adapter = await requestAdapter();
  // The features the default device asks for (device.ts), so the same kernels run.
  const requiredFeatures = (['subgroups', 'timestamp-query'] as GPUFeatureName[]).filter((feature) => adapter!.features.has(feature));
  const device = await adapter!.requestDevice({ requiredFeatures });
  const real: Record<string, number> = {};
  for (const name in device.limits) real[name] = device.limits[name as keyof GPUSupportedLimits] as number;
  const setLimits = (next: Partial<Record<keyof GPUSupportedLimits, number>>) =>
    Object.defineProperty(device, 'limits', { value: { ...real, ...next }, configurable: true });
  setLimits(limits);
  const log: DispatchLog = { largest: 0, foldedIntoZ: 0, dispatches: 0 };
  const createEncoder = device.createCommandEncoder.bind(device);
  device.createCommandEncoder = (descriptor?: GPUCommandEncoderDescriptor) => {
    const encoder = createEncoder(descriptor);
    const beginPass = encoder.beginComputePass.bind(encoder);
    encoder.beginComputePass = (passDescriptor?: GPUComputePassDescriptor) => {
      const pass = beginPass(passDescriptor);
      const dispatch = pass.dispatchWorkgroups.bind(pass);
      pass.dispatchWorkgroups = (x: number, y = 1, z = 1) => {
        log.dispatches += 1;
        log.largest = Math.max(log.largest, x, y, z);
        if (z > 1) log.foldedIntoZ += 1;
        dispatch(x, y, z);
      };
      return pass;
    };
    return encoder;
  };
  return { device, log, setLimits };
}

/** Counts the buffers made on `device` and those destroyed since. */
export function countBuffers(device: GPUDevice): { created: number; live: () => number } {
  const counts = { created: 0, destroyed: 0 };
  const create = device.createBuffer.bind(device);
  device.createBuffer = (descriptor: GPUBufferDescriptor) => {
    const buffer = create(descriptor);
    counts.created += 1;
    const destroy = buffer.destroy.bind(buffer);
    let destroyed = false;
    buffer.destroy = () => {
      if (!destroyed) counts.destroyed += 1;
      destroyed = true;
      destroy();
    };
    return buffer;
  };
  return { get created() { return counts.created; }, live: () => counts.created - counts.destroyed };
}

/**
 * Makes the `failAt`-th buffer created on `device` from now on report out-of-memory, as a device
 * whose memory ran out would: the innermost 'out-of-memory' error scope pops that error (the
 * buffer itself is made, small, so nothing real runs out).
 */
export function failAllocation(device: GPUDevice, failAt: number): void {
  const scopes: { filter: GPUErrorFilter; error?: GPUError }[] = [];
  const push = device.pushErrorScope.bind(device);
  const pop = device.popErrorScope.bind(device);
  device.pushErrorScope = (filter: GPUErrorFilter) => {
    scopes.push({ filter });
    push(filter);
  };
  device.popErrorScope = async () => {
    const scope = scopes.pop();
    const real = await pop();
    return scope?.error ?? real;
  };
  let count = 0;
  const create = device.createBuffer.bind(device);
  device.createBuffer = (descriptor: GPUBufferDescriptor) => {
    count += 1;
    if (count === failAt) {
      const scope = [...scopes].reverse().find((s) => s.filter === 'out-of-memory');
      if (scope) scope.error = { message: `(test) out of memory allocating "${descriptor.label}" (${descriptor.size} bytes)` } as GPUError;
    }
    return create(descriptor);
  };
}
