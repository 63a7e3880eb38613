import { kernelSource, MATMUL_VARIANTS, matmulTile, matmulVariantsFor, vectorizable, type KernelKey, type MatmulVariant } from '../../shaders/index.js';
import { availableCores, chooseKernels, MAX_THREADS } from '../../src/cpu/choose.js';
import { DeviceError } from '../../src/errors.js';
import { canShareBySubgroups, defaultContext } from '../../src/webgpu/device.js';
import { packDims, packStep } from '../../src/webgpu/dims.js';
import { getKernel } from '../../src/webgpu/kernels.js';
import type { TuningDecision } from '../../src/webgpu/autotune.js';
import { randomMatrix, randomValues, type Case } from '../cases.js';
import { LOADS_ONLY, type MatmulTiming } from '../results.js';
import { measure, median, type Window } from '../timing.js';
import { repeatDispatch } from './dispatch.js';
import { loadsOnlySource } from './loads-only.js';
import type { Cell } from './runner.js';

type MatmulCase = Extract<Case, { kind: 'matmul' }>;

/** A product C [m, n] = A [m, k] · B [k, n], A stored [k, m] when transposeA, B stored [n, k] when transposeB. */
interface Product {
  transposeA: boolean;
  transposeB: boolean;
  m: number;
  n: number;
  k: number;
}

/**
 * Every kernel variant the device and size allow, including those the autotune would not consider
 * (scalar ones where vec4 fits, plain ones where subgroup sharing replaces them), so the table shows
 * what each idea gains; all on the device the networks use.
 */
export async function gpuMatmulCells(c: MatmulCase): Promise<Cell[]> {
  const context = await defaultContext();
  if (!context) throw new DeviceError('the webgpu runner needs a WebGPU adapter; leave it out with --only cpu,reference');
  const { transposeA, transposeB } = c.form;
  const subgroups = canShareBySubgroups(context);
  const vec4 = vectorizable(transposeA, transposeB, c.size, c.size, c.size);
  const variants = (Object.keys(MATMUL_VARIANTS) as MatmulVariant[])
    .filter((variant) => (subgroups || !MATMUL_VARIANTS[variant].subgroups) && (vec4 || !MATMUL_VARIANTS[variant].vec4));
  const product = { transposeA, transposeB, m: c.size, n: c.size, k: c.size };
  // The autotune's candidates once more as the loads-only probe: what their memory traffic costs alone.
  const probed = vec4 ? matmulVariantsFor(transposeA, transposeB, c.size, c.size, c.size, { subgroups, hardware: !context.software })
    .filter((variant) => MATMUL_VARIANTS[variant].vec4) : [];
  return Promise.all([
    ...variants.map((variant) => gpuMatmulCell(context.device, product, variant)),
    ...probed.map((variant) => gpuMatmulCell(context.device, product, variant, true)),
  ]);
}

/**
 * The forms of a step's products, by the end of the autotune's label ('layer 2 weight gradient'):
 * forward X·W, weight gradient Xᵀ·dZ (X stored [rows, inputs]), signal dZ·Wᵀ (W stored [inputs, units]).
 */
const STEP_FORMS: [suffix: string, transposeA: boolean, transposeB: boolean][] = [
  ['forward', false, false], ['weight gradient', true, false], ['signal', false, true],
];

/**
 * Each matrix product of a network's step (its deviceInfo.tuning: label, m×n×k at the full batch, the
 * variant the autotune chose) timed alone as the matmul cases time one, over `window`, on `device`.
 * The epilogues (bias + activation forward, the derivative on the signal) are left out: no epilogue.
 */
export async function timeStepProducts(device: GPUDevice, tuning: TuningDecision[], window: Window): Promise<MatmulTiming[]> {
  const timings: MatmulTiming[] = [];
  for (const decision of tuning) {
    const form = STEP_FORMS.find(([suffix]) => decision.label.endsWith(suffix));
    const sizes = decision.shape.split('×').map(Number);
    if (!form || sizes.length !== 3 || !sizes.every((size) => Number.isInteger(size) && size > 0)) {
      throw new Error(`timeStepProducts: cannot read the product ${JSON.stringify(decision.label)} of shape ${JSON.stringify(decision.shape)}`);
    }
    const [m, n, k] = sizes as [number, number, number];
    const cell = await gpuMatmulCell(device, { transposeA: form[1], transposeB: form[2], m, n, k }, decision.variant);
    try {
      timings.push({ label: decision.label, shape: decision.shape, variant: decision.variant, ms: median(await measure(cell.run, window)) });
    } finally {
      cell.dispose();
    }
  }
  return timings;
}

/**
 * One kernel bound as the trainer binds it (Dims uniform, Step uniform, A, B, C), without epilogue.
 * An operation is one dispatch; a sample records its operations in one pass, submits once and waits
 * for the queue as the trainer does (repeatDispatch), so it times the GPU's work rather than the submit.
 */
async function gpuMatmulCell(device: GPUDevice, product: Product, variant: MatmulVariant, loadsOnly = false): Promise<Cell> {
  const { transposeA, transposeB, m, n, k } = product;
  const key: KernelKey = { kind: 'matmul', transposeA, transposeB, epilogue: 'none', activation: 'linear', ...MATMUL_VARIANTS[variant] };
  const kernel = await getKernel(device, key);
  // The probe binds what the kernel binds, so it takes the kernel's layout.
  const pipeline = loadsOnly ? await device.createComputePipelineAsync({
    label: `${variant} ${LOADS_ONLY}`,
    layout: device.createPipelineLayout({ bindGroupLayouts: [kernel.layout] }),
    compute: { module: device.createShaderModule({ code: loadsOnlySource(kernelSource(key)) }), entryPoint: 'main' },
  }) : kernel.pipeline;
  const buffers: GPUBuffer[] = [];
  const upload = (data: ArrayBuffer | Float32Array | Uint32Array, usage: GPUBufferUsageFlags) => {
    const buffer = device.createBuffer({ size: data.byteLength, usage: usage | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(buffer, 0, data);
    buffers.push(buffer);
    return buffer;
  };
  const bound: Record<number, GPUBuffer> = {
    0: upload(packDims([{ m, n, k, rowsAxis: 0 }]), GPUBufferUsage.UNIFORM),
    // Step: rows (unused: no size is the batch here), loss slot, optimizer step, start, bias corrections, learning rate.
    1: upload(packStep(0, 0, 1, 0, [1, 1], 0), GPUBufferUsage.UNIFORM),
    // A [m, k] and B [k, n] as stored (transposed or not, the same count); C [m, n].
    2: upload(randomValues(m * k, 1), GPUBufferUsage.STORAGE),
    3: upload(randomValues(k * n, 2), GPUBufferUsage.STORAGE),
    4: upload(new Float32Array(m * n), GPUBufferUsage.STORAGE),
  };
  const bindGroup = device.createBindGroup({
    layout: kernel.layout,
    entries: kernel.bindings.map((binding) => ({ binding, resource: { buffer: bound[binding]! } })),
  });
  const tile = matmulTile(MATMUL_VARIANTS[variant]);
  const grid = [Math.ceil(n / tile.cols), Math.ceil(m / tile.rows)] as const;
  return {
    variant: loadsOnly ? `${variant} ${LOADS_ONLY}` : variant,
    run: repeatDispatch(device, pipeline, bindGroup, grid),
    dispose: () => buffers.forEach((buffer) => buffer.destroy()),
  };
}

/**
 * Our cpu backend's product in the case's form, through the kernels its step runs (wasm SIMD on
 * `threads` threads, default every core): A·B is the forward product, A·Bᵀ the signal, Aᵀ·B the weight
 * gradient, each with a linear epilogue (Aᵀ·B also sums the bias gradient: n² additions beside n³).
 */
export async function cpuMatmulCell(c: MatmulCase, threads?: number): Promise<Cell> {
  const { size: n } = c;
  const { transposeA, transposeB } = c.form;
  const count = threads ?? Math.min(MAX_THREADS, await availableCores());
  const { kernels } = await chooseKernels([n * n, n * n, n * n, n], { panelRows: n, transposedFloats: n * n }, count);
  const [a, b, out, vector] = [n * n, n * n, n * n, n].map((length) => kernels.allocate(length)) as
    [Float32Array, Float32Array, Float32Array, Float32Array];
  // A is [m, k] (stored [k, m] when transposed), B is [k, n] (stored [n, k]); here m = n = k.
  a.set(randomMatrix(n, 1));
  b.set(randomMatrix(n, 2));
  const linear = { name: 'linear', slope: 0 } as const;
  const product = transposeA
    ? () => kernels.weightGradient(a, b, out, vector, n, n, n)
    : transposeB
      ? () => kernels.inputGradient(a, b, out, out, n, n, n, linear)
      : () => kernels.forward(a, b, vector, out, n, n, n, linear);
  return {
    async run(times) {
      for (let i = 0; i < times; i++) product();
    },
    dispose: () => kernels.dispose(),
  };
}
