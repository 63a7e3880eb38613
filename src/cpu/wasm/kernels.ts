import type { Activation } from '../../plan.js';
import { ACTIVATIONS, LOSSES, lossDelta, OPTIMIZERS, type Loss, type Optimizer, type OutputTransform } from '../../ops/index.js';
import type { CpuKernels } from '../kernels.js';
import { layerKernels } from '../layer-kernels.js';
import { floatsPerChunk, JOB, MAX_ELEMENTWISE_CHUNKS, runJob, type WasmExports } from './jobs.js';
import { createMemory, instantiate, PAGE_BYTES } from './module.js';
import type { WorkerPool } from './pool.js';

/**
 * Multiply-adds below which a product runs on the calling thread alone: waking the workers costs
 * about as much as 10⁵ multiply-adds here, so tiny layers (and batch-1 predictions) stay serial.
 */
const PARALLEL_WORK = 1 << 17;

/** The module's static data (math tables) lives in the first page; buffers start after it. */
const HEAP_START = PAGE_BYTES;
/** Each buffer is rounded to 16 bytes and followed by 32 bytes the partial vector loads may read. */
const bufferBytes = (length: number) => Math.ceil(length / 4) * 16 + 32;

/**
 * Scratch the products need: `panelRows`, the largest k (a B panel copy is [k][8] floats per
 * thread, see asm/matmul.ts); `transposedFloats`, the largest input of a weight gradient, rows ×
 * inputs, which it transposes (plus 4 rows of k: a thread's share is rounded to 4).
 * `journalFloats`: the most floats a chunk of an in-place job changes (savedFloatsPerChunk), which
 * each worker copies to its journal first (see runJob); without it, 4 × the largest buffer.
 */
export interface Workspace {
  panelRows: number;
  transposedFloats: number;
  journalFloats?: number;
}

const panelBytes = (panelRows: number) => panelRows * 32;

/**
 * Floats of weights [inputs, units] packed by packWeights: ⌈units / 8⌉ panels of [inputs][8] (the
 * 4 × 8 blocks' B panels, asm/matmul.ts's packPanels), the last one padded with zeros.
 */
export const packedFloats = (inputs: number, units: number) => Math.ceil(units / 8) * 8 * inputs;
/** sumOfSquares' partials, one f64 per chunk. */
const PARTIALS_BYTES = 8 * MAX_ELEMENTWISE_CHUNKS;
const transposedBytes = ({ panelRows, transposedFloats }: Workspace) => bufferBytes(transposedFloats + 4 * panelRows);
/** Floats of each thread's journal; only a pool's threads keep one. */
const journalFloats = (lengths: number[], workspace: Workspace, threads: number) =>
  (threads > 1 ? Math.ceil((workspace.journalFloats ?? 4 * Math.max(0, ...lengths)) / 4) * 4 : 0);

/** Bytes of wasm memory that buffers of these lengths need, with the workspace for `threads`. */
export function memoryBytes(lengths: number[], workspace: Workspace, threads: number): number {
  return HEAP_START + threads * panelBytes(workspace.panelRows) + transposedBytes(workspace) + PARTIALS_BYTES +
    4 * threads * journalFloats(lengths, workspace, threads) + lengths.reduce((sum, length) => sum + bufferBytes(length), 0);
}

let nextMemoryId = 1;
/** A network dropped without dispose() still gives its memory back to the workers. */
const collected = new FinalizationRegistry<{ pool: WorkerPool; id: number }>(({ pool, id }) => pool.detach(id));

/**
 * The wasm SIMD kernels over one memory holding all of a network's buffers. With a pool, products
 * and optimizer updates large enough to pay for it are split across `threads` threads.
 */
export class WasmKernels implements CpuKernels {
  private readonly args = new Float64Array(16);
  private readonly id = nextMemoryId++;
  /** Where each thread's panel scratch starts: thread t uses panelBytes from panels + t · panelBytes. */
  private readonly panels = HEAP_START;
  private readonly panelBytes: number;
  private readonly transposed: number;
  /** sumOfSquares' partial sums [MAX_ELEMENTWISE_CHUNKS], f64, one per chunk. */
  private readonly partials: Float64Array;
  /** The workers' journals: thread t's [journalFloats] floats start at journal + 4 · t · journalFloats. */
  private readonly journal: number;
  private readonly journalFloats: number;
  private top: number;

  private constructor(private readonly memory: WebAssembly.Memory, private readonly exports: WasmExports,
    private readonly pool: WorkerPool | undefined, readonly threads: number, lengths: number[], workspace: Workspace) {
    this.panelBytes = panelBytes(workspace.panelRows);
    this.transposed = this.panels + threads * this.panelBytes;
    const partials = this.transposed + transposedBytes(workspace);
    this.partials = new Float64Array(memory.buffer, partials, MAX_ELEMENTWISE_CHUNKS);
    this.journal = partials + PARTIALS_BYTES;
    this.journalFloats = journalFloats(lengths, workspace, threads);
    this.top = this.journal + 4 * threads * this.journalFloats;
  }

  /**
   * Kernels over a new memory for buffers of `lengths` and products within `workspace`; `pool` and
   * `threads` > 1 need `module` to be the shared-memory build.
   */
  static async create(module: WebAssembly.Module, lengths: number[], workspace: Workspace,
    threading?: { pool: WorkerPool; threads: number }): Promise<WasmKernels> {
    const threads = threading?.threads ?? 1;
    const memory = createMemory(memoryBytes(lengths, workspace, threads), threading !== undefined);
    const kernels = new WasmKernels(memory, instantiate(module, memory), threading?.pool, threads, lengths, workspace);
    if (threading) {
      await threading.pool.attach(kernels.id, module, memory, threads, kernels.journal, kernels.journalFloats);
      collected.register(kernels, { pool: threading.pool, id: kernels.id }, kernels);
    }
    return kernels;
  }

  allocate(length: number): Float32Array {
    const view = new Float32Array(this.memory.buffer, this.top, length);
    this.top += bufferBytes(length);
    return view;
  }

  /** The next chunk of a job this thread runs alone. */
  private nextChunk = 0;
  private readonly claimAlone = (total: number) => (this.nextChunk < total ? this.nextChunk++ : -1);

  /** Runs a job of runJob on as many threads as `work` multiply-adds pay for. */
  private run(job: number, work: number, values: number[]): void {
    if (this.pool && this.threads > 1 && work >= PARALLEL_WORK) {
      this.pool.run(this.exports, this.id, job, values, this.threads);
      return;
    }
    this.args.fill(0).set(values);
    this.nextChunk = 0;
    runJob(this.exports, job, this.args, 0, this.claimAlone, () => undefined, () => undefined);
  }

  forward(input: Float32Array, weights: Float32Array, bias: Float32Array, output: Float32Array,
    rows: number, inputs: number, units: number, activation: Activation, preActivation?: Float32Array, packed?: Float32Array): void {
    // Buffers start after the first page (HEAP_START), so 0 means "no pre-activation to keep" (and no packed weights).
    this.run(JOB.forward, rows * inputs * units, [input.byteOffset, weights.byteOffset, bias.byteOffset, output.byteOffset,
      rows, inputs, units, ACTIVATIONS[activation.name].wasmCode, activation.slope, this.panels, this.panelBytes, preActivation?.byteOffset ?? 0,
      packed?.byteOffset ?? 0]);
  }

  packWeights(weights: Float32Array, packed: Float32Array, inputs: number, units: number): void {
    if (packed.length < packedFloats(inputs, units)) throw new RangeError(`packWeights: ${packed.length} floats for ${packedFloats(inputs, units)}`);
    this.run(JOB.pack, inputs * units, [weights.byteOffset, packed.byteOffset, inputs, units]);
  }

  inputGradient(zGrad: Float32Array, weights: Float32Array, belowGate: Float32Array, belowGrad: Float32Array,
    rows: number, inputs: number, units: number, activation: Activation): void {
    this.run(JOB.inputGradient, rows * inputs * units, [zGrad.byteOffset, weights.byteOffset, belowGate.byteOffset,
      belowGrad.byteOffset, rows, inputs, units, ACTIVATIONS[activation.name].wasmCode, activation.slope]);
  }

  activate(values: Float32Array, zeros: Float32Array, rows: number, units: number, activation: Activation, preActivation?: Float32Array): void {
    // An activation costs about as much per element as a few multiply-adds (gelu's erf and exp more).
    this.run(JOB.activate, 8 * rows * units, [values.byteOffset, zeros.byteOffset, units, rows, ACTIVATIONS[activation.name].wasmCode,
      activation.slope, preActivation?.byteOffset ?? 0]);
  }

  // The layers between dense ones run the shared kernels on this memory's buffers (layer-kernels.ts says why).
  readonly dropout = layerKernels.dropout;
  readonly layerNormalization = layerKernels.layerNormalization;
  readonly batchNormalization = layerKernels.batchNormalization;
  readonly normalizationBackward = layerKernels.normalizationBackward;
  readonly frequencyEncoding = layerKernels.frequencyEncoding;
  readonly frequencyEncodingBackward = layerKernels.frequencyEncodingBackward;

  multiplyDerivative(grad: Float32Array, gate: Float32Array, count: number, activation: Activation): void {
    this.run(JOB.multiplyDerivative, 8 * count, [grad.byteOffset, count, gate.byteOffset, ACTIVATIONS[activation.name].wasmCode, activation.slope]);
  }

  weightGradient(input: Float32Array, zGrad: Float32Array, weightGrad: Float32Array, biasGrad: Float32Array,
    rows: number, inputs: number, units: number): void {
    this.run(JOB.weightGradient, rows * inputs * units, [input.byteOffset, zGrad.byteOffset, weightGrad.byteOffset,
      biasGrad.byteOffset, rows, inputs, units, this.panels, this.panelBytes, this.transposed]);
  }

  loss(loss: Loss, output: Float32Array, target: Float32Array, grad: Float32Array, rows: number, n: number,
    activation: Activation, labels: boolean, rowWeights?: Float32Array): number {
    // Buffers start after the first page, so offset 0 can say "no row weights".
    return this.exports.loss(LOSSES[loss.type].wasmCode, output.byteOffset, target.byteOffset, grad.byteOffset, rows, n,
      ACTIVATIONS[activation.name].wasmCode, activation.slope, lossDelta(loss), labels ? 1 : 0, rowWeights ? rowWeights.byteOffset : 0);
  }

  outputTransform(transform: Exclude<OutputTransform, 'none'>, logits: Float32Array, probabilities: Float32Array, rows: number, n: number): void {
    switch (transform) {
      case 'softmax': return this.exports.softmaxRows(logits.byteOffset, probabilities.byteOffset, rows, n);
      case 'sigmoid': return this.exports.sigmoidRows(logits.byteOffset, probabilities.byteOffset, rows * n);
      default: transform satisfies never;
    }
  }

  optimizerStep(optimizer: Optimizer, params: Float32Array, grads: Float32Array, moments: readonly Float32Array[], t: number, learningRate: number): void {
    // asm/elementwise.ts reads [h1, h2, h3, h4, h5, h6] as each rule says there.
    let hyper: [number, number, number, number, number, number];
    switch (optimizer.type) {
      case 'sgd': hyper = [0, 0, 0, 0, 0, 0]; break;
      case 'momentum': hyper = [optimizer.momentum, optimizer.nesterov ? 1 : 0, 0, 0, 0, 0]; break;
      case 'adam':
      case 'adamw': {
        const { beta1, beta2, epsilon } = optimizer;
        hyper = [beta1, beta2, epsilon, 1 - beta1 ** t, 1 - beta2 ** t, optimizer.type === 'adamw' ? optimizer.weightDecay : 0];
        break;
      }
      case 'rmsprop': hyper = [optimizer.rho, optimizer.momentum, optimizer.epsilon, optimizer.centered ? 1 : 0, 0, 0]; break;
      default: return optimizer satisfies never;
    }
    // A moment the settings do not use (its vector is empty) goes as pointer 0: runJob saves no range of it.
    const [moment1, moment2, moment3] = (moments as [Float32Array, Float32Array, Float32Array]).map((m) => (m.length > 0 ? m.byteOffset : 0));
    // An update costs about as much per parameter as a few multiply-adds of a product.
    this.run(JOB.optimizer, 4 * params.length, [OPTIMIZERS[optimizer.type].wasmCode, params.byteOffset, grads.byteOffset,
      moment1!, moment2!, moment3!, params.length, learningRate, ...hyper]);
  }

  sumOfSquares(vector: Float32Array): number {
    const count = vector.length;
    this.run(JOB.sumOfSquares, 4 * count, [vector.byteOffset, count, this.partials.byteOffset]);
    // The partials in chunk order (the chunking of runJob's element-wise jobs), whoever computed them.
    const chunks = Math.ceil(count / floatsPerChunk(count));
    let sum = 0;
    for (let chunk = 0; chunk < chunks; chunk++) sum += this.partials[chunk]!;
    return sum;
  }

  addScaled(target: Float32Array, source: Float32Array, factor: number): void {
    this.run(JOB.addScaled, 4 * target.length, [target.byteOffset, target.length, source.byteOffset, factor]);
  }

  scale(vector: Float32Array, factor: number): void {
    this.run(JOB.scale, 4 * vector.length, [vector.byteOffset, vector.length, factor]);
  }

  dispose(): void {
    if (!this.pool) return;
    collected.unregister(this);
    this.pool.detach(this.id);
  }
}
