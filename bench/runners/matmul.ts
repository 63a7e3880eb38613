import { MATMUL_VARIANTS, matmulTile, matmulVariantsFor, type MatmulVariant } from '../../shaders/index.js';
import { typescriptKernels } from '../../src/cpu/kernels.js';
import { DeviceError } from '../../src/errors.js';
import { canShareBySubgroups, defaultContext } from '../../src/webgpu/device.js';
import { packDims } from '../../src/webgpu/dims.js';
import { getKernel } from '../../src/webgpu/kernels.js';
import { randomMatrix, type Case } from '../cases.js';
import type { Cell } from './runner.js';

type MatmulCase = Extract<Case, { kind: 'matmul' }>;

/**
 * The scalar kernel and every variant the autotune may pick on this device for the product
 * (matmulVariantsFor), plus the plain vec4 ones where subgroup sharing replaces them, so the table
 * shows what sharing gains; all on the device the networks use.
 */
export async function gpuMatmulCells(c: MatmulCase): Promise<Cell[]> {
  const context = await defaultContext();
  if (!context) throw new DeviceError('the webgpu runner needs a WebGPU adapter; leave it out with --only cpu,reference');
  const { transposeA, transposeB } = c.form;
  const shared = matmulVariantsFor(transposeA, transposeB, c.size, c.size, c.size, { subgroups: canShareBySubgroups(context) });
  const plain = matmulVariantsFor(transposeA, transposeB, c.size, c.size, c.size, { subgroups: false });
  const variants = [...new Set<MatmulVariant>(['scalar', ...plain, ...shared])];
  return Promise.all(variants.map((variant) => gpuMatmulCell(context.device, c, variant)));
}

/**
 * One kernel bound as the trainer binds it (Dims uniform, Step uniform, A, B, C), without epilogue.
 * An operation is one dispatch; a sample records its operations in one pass, submits once and waits
 * for onSubmittedWorkDone, so it times the GPU's work rather than the submit.
 */
async function gpuMatmulCell(device: GPUDevice, c: MatmulCase, variant: MatmulVariant): Promise<Cell> {
  const { transposeA, transposeB } = c.form;
  const kernel = await getKernel(device, { kind: 'matmul', transposeA, transposeB, epilogue: 'none', activation: 'linear',
    ...MATMUL_VARIANTS[variant] });
  const buffers: GPUBuffer[] = [];
  const upload = (data: ArrayBuffer | Float32Array | Uint32Array, usage: GPUBufferUsageFlags) => {
    const buffer = device.createBuffer({ size: data.byteLength, usage: usage | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(buffer, 0, data);
    buffers.push(buffer);
    return buffer;
  };
  const { size } = c;
  const bound: Record<number, GPUBuffer> = {
    0: upload(packDims([{ m: size, n: size, k: size, rowsAxis: 0 }]), GPUBufferUsage.UNIFORM),
    // Step: rows (unused: no size is the batch here), loss slot, optimizer step, start.
    1: upload(new Uint32Array([0, 0, 1, 0]), GPUBufferUsage.UNIFORM),
    2: upload(randomMatrix(size, 1), GPUBufferUsage.STORAGE),
    3: upload(randomMatrix(size, 2), GPUBufferUsage.STORAGE),
    4: upload(new Float32Array(size * size), GPUBufferUsage.STORAGE),
  };
  const bindGroup = device.createBindGroup({
    layout: kernel.layout,
    entries: kernel.bindings.map((binding) => ({ binding, resource: { buffer: bound[binding]! } })),
  });
  const tile = matmulTile(MATMUL_VARIANTS[variant]);
  const grid = [Math.ceil(size / tile.cols), Math.ceil(size / tile.rows)] as const;
  return {
    variant,
    async run(count) {
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(kernel.pipeline);
      pass.setBindGroup(0, bindGroup);
      for (let i = 0; i < count; i++) pass.dispatchWorkgroups(grid[0], grid[1]);
      pass.end();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
    },
    dispose: () => buffers.forEach((buffer) => buffer.destroy()),
  };
}

/** The cpu backend's matmul on the same product, reading the transposed operand through its strides. */
export function cpuMatmulCell(c: MatmulCase): Cell {
  const { size: n } = c;
  const { transposeA, transposeB } = c.form;
  const a = randomMatrix(n, 1);
  const b = randomMatrix(n, 2);
  const out = new Float32Array(n * n);
  // A is [m, k] (stored [k, m] when transposed), B is [k, n] (stored [n, k]); here m = n = k.
  const [aRow, aCol] = transposeA ? [1, n] : [n, 1];
  const [bRow, bCol] = transposeB ? [1, n] : [n, 1];
  return {
    async run(count) {
      for (let i = 0; i < count; i++) typescriptKernels.matmul(a, b, out, n, n, n, aRow, aCol, bRow, bCol);
    },
    dispose: () => undefined,
  };
}
