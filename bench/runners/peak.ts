import { DeviceError } from '../../src/errors.js';
import { defaultContext } from '../../src/webgpu/device.js';
import { measure, median, type Window } from '../timing.js';
import { repeatDispatch } from './dispatch.js';

/**
 * The adapter's arithmetic ceiling as WGSL sees it: every thread runs CHAINS independent vec4
 * multiply-add chains for ITERATIONS steps, with no memory traffic in the loop. On a hardware GPU
 * this approaches the vendor's f32 peak; on SwiftShader it is what the CPU emulation can do at best,
 * the yardstick for the matmul GFLOP/s (a matmul must also load its operands).
 */
const CHAINS = 8;
const ITERATIONS = 1024;
const WORKGROUP = 64;
const WORKGROUPS = 512;

/** FLOPs of one dispatch: a multiply and an add per component. */
const PEAK_FLOPS = WORKGROUPS * WORKGROUP * ITERATIONS * CHAINS * 4 * 2;

function peakShader(): string {
  const chains = Array.from({ length: CHAINS }, (_, i) => i);
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> sink: array<vec4f>;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  // Values stay tiny and finite: x·x < 1, so each chain converges rather than overflowing.
  let x = vec4f(f32(gid.x % 7u) * 0.01);
${chains.map((i) => `  var acc${i} = vec4f(${i + 1}.0 * 0.001);`).join('\n')}
  for (var t = 0u; t < ${ITERATIONS}u; t++) {
${chains.map((i) => `    acc${i} = acc${i} * x + x;`).join('\n')}
  }
  // One store of the sum, so the compiler cannot drop the chains.
  sink[gid.x] = ${chains.map((i) => `acc${i}`).join(' + ')};
}
`;
}

/** GFLOP/s of the probe on the default device: the median over the window, as the cells are timed. */
export async function measureArithmeticPeak(window: Window): Promise<number> {
  const context = await defaultContext();
  if (!context) throw new DeviceError('the webgpu runner needs a WebGPU adapter; leave it out with --only cpu,reference');
  const { device } = context;
  const pipeline = await device.createComputePipelineAsync({
    label: 'arithmetic peak probe',
    layout: 'auto',
    compute: { module: device.createShaderModule({ code: peakShader() }), entryPoint: 'main' },
  });
  const sink = device.createBuffer({ size: WORKGROUPS * WORKGROUP * 16, usage: GPUBufferUsage.STORAGE });
  const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: sink } }] });
  try {
    const samples = await measure(repeatDispatch(device, pipeline, bindGroup, [WORKGROUPS]), window);
    return PEAK_FLOPS / (median(samples) * 1e6);
  } finally {
    sink.destroy();
  }
}
