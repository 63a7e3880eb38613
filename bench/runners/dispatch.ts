import { defaultGpuWait, GpuWaiter } from '../../src/webgpu/waiter.js';

/**
 * An operation for measure(): `count` dispatches of one pipeline in one pass and one submit, then a
 * wait for the queue as the trainer waits (GpuWaiter in its default mode: in Node, sleeping through
 * most of the expected time rather than keeping the JS thread in Dawn's poll, which on SwiftShader
 * takes a core from the shader), so a sample times the GPU's work rather than the submit.
 */
export function repeatDispatch(device: GPUDevice, pipeline: GPUComputePipeline, bindGroup: GPUBindGroup,
  grid: readonly [number, number?]): (count: number) => Promise<void> {
  const waiter = new GpuWaiter(defaultGpuWait());
  return async (count) => {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    for (let i = 0; i < count; i++) pass.dispatchWorkgroups(...grid);
    pass.end();
    const submittedAt = waiter.now();
    device.queue.submit([encoder.finish()]);
    await waiter.wait(String(count), submittedAt, () => device.queue.onSubmittedWorkDone());
  };
}
