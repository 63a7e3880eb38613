import type { Activation } from '../../plan.js';
import { ACTIVATIONS, LOSSES, lossDelta, OPTIMIZERS, type Loss, type Optimizer, type OutputTransform } from '../../ops/index.js';
import type { CpuKernels } from '../kernels.js';
import { JOB, runJob, type WasmExports } from './jobs.js';
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
 */
export interface Workspace {
  panelRows: number;
  transposedFloats: number;
}

const panelBytes = (panelRows: number) => panelRows * 32;
const transposedBytes = ({ panelRows, transposedFloats }: Workspace) => bufferBytes(transposedFloats + 4 * panelRows);

/** Bytes of wasm memory that buffers of these lengths need, with the workspace for `threads`. */
export function memoryBytes(lengths: number[], workspace: Workspace, threads: number): number {
  return HEAP_START + threads * panelBytes(workspace.panelRows) + transposedBytes(workspace) +
    lengths.reduce((sum, length) => sum + bufferBytes(length), 0);
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
  private top: number;

  private constructor(private readonly memory: WebAssembly.Memory, private readonly exports: WasmExports,
    private readonly pool: WorkerPool | undefined, readonly threads: number, workspace: Workspace) {
    this.panelBytes = panelBytes(workspace.panelRows);
    this.transposed = this.panels + threads * this.panelBytes;
    this.top = this.transposed + transposedBytes(workspace);
  }

  /**
   * Kernels over a new memory for buffers of `lengths` and products within `workspace`; `pool` and
   * `threads` > 1 need `module` to be the shared-memory build.
   */
  static async create(module: WebAssembly.Module, lengths: number[], workspace: Workspace,
    threading?: { pool: WorkerPool; threads: number }): Promise<WasmKernels> {
    const threads = threading?.threads ?? 1;
    const memory = createMemory(memoryBytes(lengths, workspace, threads), threading !== undefined);
    const kernels = new WasmKernels(memory, instantiate(module, memory), threading?.pool, threads, workspace);
    if (threading) {
      await threading.pool.attach(kernels.id, module, memory);
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
    this.args.set(values);
    this.nextChunk = 0;
    runJob(this.exports, job, this.args, 0, this.claimAlone, () => undefined);
  }

  forward(input: Float32Array, weights: Float32Array, bias: Float32Array, output: Float32Array,
    rows: number, inputs: number, units: number, activation: Activation, preActivation?: Float32Array): void {
    // Buffers start after the first page (HEAP_START), so 0 means "no pre-activation to keep".
    this.run(JOB.forward, rows * inputs * units, [input.byteOffset, weights.byteOffset, bias.byteOffset, output.byteOffset,
      rows, inputs, units, ACTIVATIONS[activation.name].wasmCode, activation.slope, this.panels, this.panelBytes, preActivation?.byteOffset ?? 0]);
  }

  inputGradient(zGrad: Float32Array, weights: Float32Array, belowGate: Float32Array, belowGrad: Float32Array,
    rows: number, inputs: number, units: number, activation: Activation): void {
    this.run(JOB.inputGradient, rows * inputs * units, [zGrad.byteOffset, weights.byteOffset, belowGate.byteOffset,
      belowGrad.byteOffset, rows, inputs, units, ACTIVATIONS[activation.name].wasmCode, activation.slope]);
  }

  multiplyDerivative(grad: Float32Array, gate: Float32Array, count: number, activation: Activation): void {
    this.exports.multiplyDerivative(grad.byteOffset, gate.byteOffset, 0, count, ACTIVATIONS[activation.name].wasmCode, activation.slope);
  }

  weightGradient(input: Float32Array, zGrad: Float32Array, weightGrad: Float32Array, biasGrad: Float32Array,
    rows: number, inputs: number, units: number): void {
    this.run(JOB.weightGradient, rows * inputs * units, [input.byteOffset, zGrad.byteOffset, weightGrad.byteOffset,
      biasGrad.byteOffset, rows, inputs, units, this.panels, this.panelBytes, this.transposed]);
  }

  loss(loss: Loss, output: Float32Array, target: Float32Array, grad: Float32Array, rows: number, n: number,
    activation: Activation, labels: boolean): number {
    return this.exports.loss(LOSSES[loss.type].wasmCode, output.byteOffset, target.byteOffset, grad.byteOffset, rows, n,
      ACTIVATIONS[activation.name].wasmCode, activation.slope, lossDelta(loss), labels ? 1 : 0);
  }

  outputTransform(transform: Exclude<OutputTransform, 'none'>, logits: Float32Array, probabilities: Float32Array, rows: number, n: number): void {
    switch (transform) {
      case 'softmax': return this.exports.softmaxRows(logits.byteOffset, probabilities.byteOffset, rows, n);
      case 'sigmoid': return this.exports.sigmoidRows(logits.byteOffset, probabilities.byteOffset, rows * n);
      default: transform satisfies never;
    }
  }

  optimizerStep(optimizer: Optimizer, params: Float32Array, grads: Float32Array, moment1: Float32Array, moment2: Float32Array,
    t: number): void {
    // asm/elementwise.ts reads [decay1, beta2, epsilon, correction1, correction2] whatever the kind.
    let hyper: [number, number, number, number, number];
    switch (optimizer.type) {
      case 'sgd': hyper = [0, 0, 0, 1, 1]; break;
      case 'momentum': hyper = [optimizer.momentum, 0, 0, 1, 1]; break;
      case 'adam': {
        const { beta1, beta2, epsilon } = optimizer;
        hyper = [beta1, beta2, epsilon, 1 - beta1 ** t, 1 - beta2 ** t];
        break;
      }
      default: return optimizer satisfies never;
    }
    // An update costs about as much per parameter as a few multiply-adds of a product.
    this.run(JOB.optimizer, 4 * params.length, [OPTIMIZERS[optimizer.type].wasmCode, params.byteOffset, grads.byteOffset,
      moment1.byteOffset, moment2.byteOffset, params.length, optimizer.learningRate, ...hyper]);
  }

  dispose(): void {
    if (!this.pool) return;
    collected.unregister(this);
    this.pool.detach(this.id);
  }
}
