import { kernelSource, MATMUL_VARIANTS, matmulTile, matmulVariantsFor, type KernelKey, type MatmulVariant } from '../../shaders/index.js';
import { DIMS_BYTES, STEP_BYTES } from '../../shaders/index.js';
import type { Dims } from './dims.js';
import { packDims } from './dims.js';
import type { GpuContext } from './device.js';
import { getKernel } from './kernels.js';
import { readDecisions, saveDecisions, type Decisions } from './tuning-store.js';

/** A matrix product of the plan before its kernel variant is chosen: the key without variant fields. */
export interface ProductShape {
  /** Where it sits in the step, for the tuning report, e.g. 'layer 1 forward'. */
  label: string;
  key: Omit<Extract<KernelKey, { kind: 'matmul' }>, keyof (typeof MATMUL_VARIANTS)['scalar']>;
  /** Sizes with the batch at its largest (batchSize). */
  dims: Dims;
}

/** What the autotune decided for one product, and what it measured (empty when it had no choice or a cached one). */
export interface TuningDecision {
  label: string;
  /** `m×n×k` of the product at the full batch. */
  shape: string;
  variant: MatmulVariant;
  /**
   * 'measured' now; 'cached': decided earlier for this adapter, shape class and kernel source, in this
   * process or a stored earlier one (tuning-store.ts); 'only': one candidate, nothing to decide.
   */
  source: 'measured' | 'cached' | 'only';
  /** Best trial time per candidate, in ms, when measured. */
  trials?: Partial<Record<MatmulVariant, number>>;
}

/**
 * Trials run on the product's real m and n but with k cut to this many steps: a kernel's time is
 * linear in k, so the ranking holds, and a 784×256×784 product costs a sixth of a step instead of a
 * whole one. Warm-up time matters (it is a benchmark case of its own).
 */
const TRIAL_K = 64;
/**
 * Timed rounds per candidate after one untimed run, the order reversed every round; the best round
 * counts, since other work on the machine only ever adds time (with 2 rounds, a busy 2-core machine
 * flipped decisions between variants 1.5× apart).
 */
const TRIAL_ROUNDS = 3;

/** Winners by shapeClass: this process's, after the stored ones are read once. */
let cache: Promise<Decisions> | undefined;

/**
 * Forgets every decision this process knows, stored ones included (the store itself is left as it
 * is), so the next network tunes as on a machine's first use: the benchmark's cold start.
 */
export function forgetDecisions(): void {
  cache = Promise.resolve({});
}

/** 32-bit FNV-1a, in hex: a short name for the candidates' WGSL. */
function fingerprint(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return (hash >>> 0).toString(16).padStart(8, '0');
}

/**
 * Products of similar shape share a decision: the form, the epilogue, and each size rounded to the
 * nearest power of two; on the same adapter, with the same candidate kernels (their source's
 * fingerprint, so a changed kernel is timed again).
 */
function shapeClass(context: GpuContext, shape: ProductShape, candidates: MatmulVariant[]): string {
  const { key, dims } = shape;
  const octave = (size: number) => Math.round(Math.log2(Math.max(1, size)));
  const source = candidates.map((variant) => kernelSource({ ...key, ...MATMUL_VARIANTS[variant] })).join('\n');
  return [context.vendor, context.architecture, context.description, key.transposeA, key.transposeB, key.epilogue,
    octave(dims.m), octave(dims.n), octave(dims.k), fingerprint(source)].join('|');
}

/** The candidate the trials favour: the lowest of each candidate's best time (ties keep list order). */
export function fastest<T extends string>(trials: Map<T, number[]>): T {
  let best: { variant: T; time: number } | undefined;
  for (const [variant, times] of trials) {
    const time = Math.min(...times);
    if (!best || time < best.time) best = { variant, time };
  }
  if (!best) throw new Error('fastest: no candidates');
  return best.variant;
}

/**
 * Picks a kernel variant for every product of a plan on this device. Where more than one variant
 * can compute a product (matmulVariantsFor) and no decision is known for its shape class yet (in
 * this process or stored by an earlier one), each candidate's pipeline is compiled (the winner's is
 * the one the network then uses, from the pipeline cache) and timed on scratch buffers of the
 * product's shape, interleaved, best of TRIAL_ROUNDS, and the winner stored. No timing is trusted
 * across adapters: the key names the adapter.
 */
export async function tuneProducts(context: GpuContext, shapes: ProductShape[], subgroups: boolean): Promise<TuningDecision[]> {
  cache ??= readDecisions();
  const known = await cache;
  // Each product's candidates, and its shape class where there is a choice (the class names the
  // candidates' WGSL, so it is worked out once per product).
  const products = shapes.map((shape) => {
    const { transposeA, transposeB } = shape.key;
    const candidates = matmulVariantsFor(transposeA, transposeB, shape.dims.m, shape.dims.n, shape.dims.k, { subgroups });
    const classKey = candidates.length > 1 ? shapeClass(context, shape, candidates) : undefined;
    return { shape, candidates, classKey };
  });
  const decided = ({ candidates, classKey }: (typeof products)[number]) =>
    classKey === undefined ? undefined : candidates.find((candidate) => candidate === known[classKey]);
  // Every pipeline first, in parallel: compilation running beside a trial would slow it.
  await Promise.all(products.filter((p) => p.classKey !== undefined && !decided(p)).flatMap(({ shape, candidates }) =>
    candidates.map((variant) => getKernel(context.device, { ...shape.key, ...MATMUL_VARIANTS[variant] }))));
  const decisions: TuningDecision[] = [];
  const fresh: Decisions = {};
  for (const product of products) {
    const { shape, candidates, classKey } = product;
    const { m, n, k } = shape.dims;
    const decision = { label: shape.label, shape: `${m}×${n}×${k}` };
    const cached = decided(product);
    if (classKey === undefined) {
      decisions.push({ ...decision, variant: candidates[0]!, source: 'only' });
    } else if (cached) {
      decisions.push({ ...decision, variant: cached, source: 'cached' });
    } else {
      const trials = await timeCandidates(context.device, shape, candidates);
      const variant = fastest(trials);
      known[classKey] = variant;
      fresh[classKey] = variant;
      decisions.push({ ...decision, variant, source: 'measured',
        trials: Object.fromEntries([...trials].map(([v, times]) => [v, Math.min(...times)])) });
    }
  }
  if (Object.keys(fresh).length > 0) await saveDecisions(fresh);
  return decisions;
}

/** Times each candidate on zero-filled scratch buffers (values do not change a kernel's speed). */
async function timeCandidates(device: GPUDevice, shape: ProductShape, candidates: MatmulVariant[]): Promise<Map<MatmulVariant, number[]>> {
  const { m, n } = shape.dims;
  const k = Math.min(shape.dims.k, TRIAL_K);
  const kernels = await Promise.all(candidates.map((variant) => getKernel(device, { ...shape.key, ...MATMUL_VARIANTS[variant] })));
  const storage = GPUBufferUsage.STORAGE;
  const uniform = GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;
  const scratch = [
    device.createBuffer({ size: DIMS_BYTES, usage: uniform, label: 'autotune dims' }),
    device.createBuffer({ size: STEP_BYTES, usage: uniform, label: 'autotune step' }),
    device.createBuffer({ size: Math.max(16, m * k * 4), usage: storage, label: 'autotune A' }),
    device.createBuffer({ size: Math.max(16, k * n * 4), usage: storage, label: 'autotune B' }),
    device.createBuffer({ size: Math.max(16, m * n * 4), usage: storage, label: 'autotune C' }),
    // Bias [n] or gate [m, n], whichever the epilogue reads.
    device.createBuffer({ size: Math.max(16, m * n * 4), usage: storage, label: 'autotune epilogue input' }),
  ];
  try {
    device.queue.writeBuffer(scratch[0]!, 0, packDims([{ ...shape.dims, k, rowsAxis: 0 }]), 0, DIMS_BYTES);
    const runs = candidates.map((variant, i) => {
      const kernel = kernels[i]!;
      const bindGroup = device.createBindGroup({
        layout: kernel.layout,
        entries: kernel.bindings.map((binding) => ({ binding, resource: { buffer: scratch[binding]! } })),
      });
      const tile = matmulTile(MATMUL_VARIANTS[variant]);
      return { variant, pipeline: kernel.pipeline, bindGroup, grid: [Math.ceil(n / tile.cols), Math.ceil(m / tile.rows)] as const };
    });
    const time = async (run: (typeof runs)[number]) => {
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(run.pipeline);
      pass.setBindGroup(0, run.bindGroup);
      pass.dispatchWorkgroups(run.grid[0], run.grid[1]);
      pass.end();
      const start = performance.now();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      return performance.now() - start;
    };
    const trials = new Map<MatmulVariant, number[]>(candidates.map((variant) => [variant, []]));
    for (const run of runs) await time(run);
    for (let round = 0; round < TRIAL_ROUNDS; round++) {
      for (const run of round % 2 === 0 ? runs : [...runs].reverse()) trials.get(run.variant)!.push(await time(run));
    }
    return trials;
  } finally {
    for (const buffer of scratch) buffer.destroy();
  }
}
