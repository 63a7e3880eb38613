import type { Targets } from '../data/matrix.js';
import { gatherRows } from '../data/matrix.js';
import type { Plan } from '../plan.js';
import { packDims, UNIFORM_SLOT } from './dims.js';
import type { Kernel } from './kernels.js';
import { FLOAT, type Dispatch, type GpuResources } from './resources.js';

/** Floats per row of `y`: one class index, or a value per output. */
export const targetWidth = (plan: Plan, y: Targets): number => (y.labels ? 1 : plan.outputSize);

/**
 * fit's training set on the GPU: uploaded once, with an index buffer for the epoch's order and two
 * gathers that copy a batch's rows into the step's input and target, so shuffling never moves the
 * data through the CPU. Where the set is larger than a binding allows, each batch is gathered on
 * the CPU and uploaded instead (`gather` undefined). A set given as GpuMatrix data (`onDevice`: the
 * caller's buffers, checked to fit a binding) is gathered from those buffers, with no copy at all.
 */
export class GpuTrainingSet {
  readonly gather: { order: GPUBuffer; dispatches: Dispatch[] } | undefined;
  private readonly buffers: GPUBuffer[] = [];
  private readonly setX: GPUBuffer | undefined;
  private readonly setY: GPUBuffer | undefined;
  private readonly onDevice: boolean;
  /** Batch staging for the upload fallback, made on first use. */
  private staging: { x: Float32Array; y: Float32Array } | undefined;

  constructor(private readonly plan: Plan, private readonly res: GpuResources, public x: Float32Array, public y: Targets,
    readonly rows: number, gatherKernel: Kernel, step: GPUBuffer, private readonly input: GPUBuffer, private readonly target: GPUBuffer,
    onDevice?: { x: GPUBufferBinding; y: GPUBufferBinding }) {
    const { inputSize, batchSize } = plan;
    const width = targetWidth(plan, y);
    const limits = res.device.limits;
    this.onDevice = onDevice !== undefined;
    if (!onDevice && rows * Math.max(inputSize, width) * FLOAT > Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize)) return;
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
    const setX = onDevice?.x ?? this.own(res.buffer(rows * inputSize * FLOAT, storage, 'training inputs [rows, inputSize]'));
    const setY = onDevice?.y ?? this.own(res.buffer(rows * width * FLOAT, storage, `training targets [rows, ${y.labels ? '1 (class labels)' : 'outputs'}]`));
    const order = this.own(res.buffer(rows * 4, storage, 'epoch order [rows]'));
    const dims = this.own(res.uniform(2 * UNIFORM_SLOT, 'gather dims'));
    res.device.queue.writeBuffer(dims, 0, packDims([
      { m: batchSize, n: inputSize, k: 0, rowsAxis: 1 },
      { m: batchSize, n: width, k: 0, rowsAxis: 1 },
    ]));
    if (!onDevice) {
      [this.setX, this.setY] = [setX as GPUBuffer, setY as GPUBuffer];
      this.write(x, y);
    }
    const gather = (slot: number, source: GPUBuffer | GPUBufferBinding, batch: GPUBuffer, rowWidth: number) =>
      res.dispatch(gatherKernel, dims, slot, step, { source, order, batch }, (batchRows) => res.linearGrid(batchRows * rowWidth));
    this.gather = { order, dispatches: [gather(0, setX, input, inputSize), gather(1, setY, target, width)] };
  }

  private own(buffer: GPUBuffer): GPUBuffer {
    this.buffers.push(buffer);
    return buffer;
  }

  /** Whether a set of `rows` rows of this form can reuse these buffers (fit called again on same-sized data). */
  fits(rows: number, y: Targets): boolean {
    return this.gather !== undefined && !this.onDevice && this.rows === rows && this.y.labels === y.labels;
  }

  /** New contents of the same size and form. */
  write(x: Float32Array, y: Targets): void {
    [this.x, this.y] = [x, y];
    if (!this.setX || !this.setY) return;
    this.res.device.queue.writeBuffer(this.setX, 0, x, 0, this.rows * this.plan.inputSize);
    this.res.device.queue.writeBuffer(this.setY, 0, y.values, 0, this.rows * targetWidth(this.plan, y));
  }

  /** The upload fallback: rows [start, start + rows) of `order` gathered on the CPU into the step's input and target. */
  upload(order: Uint32Array, start: number, rows: number): void {
    const { inputSize, outputSize, batchSize } = this.plan;
    const width = targetWidth(this.plan, this.y);
    const staging = (this.staging ??= { x: new Float32Array(batchSize * inputSize), y: new Float32Array(batchSize * outputSize) });
    gatherRows(this.x, order, start, rows, inputSize, staging.x);
    gatherRows(this.y.values, order, start, rows, width, staging.y);
    this.res.device.queue.writeBuffer(this.input, 0, staging.x, 0, rows * inputSize);
    this.res.device.queue.writeBuffer(this.target, 0, staging.y, 0, rows * width);
  }

  destroy(): void {
    for (const buffer of this.buffers) this.res.release(buffer);
    this.buffers.length = 0;
  }
}
