import type { RowSet } from '../backend.js';
import type { Targets } from '../data/matrix.js';
import { gatherRows } from '../data/matrix.js';
import type { Plan } from '../plan.js';
import { packDims, UNIFORM_SLOT } from './dims.js';
import type { Kernel } from './kernels.js';
import { FLOAT, type Dispatch, type GpuResources } from './resources.js';

/** Floats per row of `y`: one class index, or a value per output. */
export const targetWidth = (plan: Plan, y: Targets): number => (y.labels ? 1 : plan.outputSize);

/** Where the step's batch goes: its input and target buffers. */
export interface BatchBuffers {
  input: GPUBuffer;
  target: GPUBuffer;
}

/**
 * A set of rows kept on the GPU: uploaded once, so that batches of it are copied or gathered on the
 * device. Where the set is larger than a binding allows, it stays on the host (`x`, `y` undefined)
 * and each batch is written from there instead. Given as GpuMatrix data (`onDevice`), the rows are
 * the caller's buffers, bound where they are: never written, copied from or freed here (`set`
 * then holds only the row count and the targets' form).
 */
export class GpuRows {
  readonly x: GPUBuffer | GPUBufferBinding | undefined;
  readonly y: GPUBuffer | GPUBufferBinding | undefined;
  readonly width: number;
  private readonly onDevice: boolean;

  constructor(private readonly plan: Plan, private readonly res: GpuResources, public set: RowSet, what: string,
    onDevice?: { x: GPUBufferBinding; y: GPUBufferBinding }) {
    const { rows, y } = set;
    this.width = targetWidth(plan, y);
    this.onDevice = onDevice !== undefined;
    if (onDevice) {
      ({ x: this.x, y: this.y } = onDevice);
      return;
    }
    const limits = res.device.limits;
    if (rows * Math.max(plan.inputSize, this.width) * FLOAT > Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize)) return;
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    this.x = res.buffer(rows * plan.inputSize * FLOAT, usage, `${what} inputs [rows, inputSize]`);
    this.y = res.buffer(rows * this.width * FLOAT, usage, `${what} targets [rows, ${y.labels ? '1 (class labels)' : 'outputs'}]`);
    this.write(set);
  }

  /** Whether `set` has this one's size and form, so that write() can take it (never for the caller's buffers). */
  fits(set: RowSet): boolean {
    return !this.onDevice && this.set.rows === set.rows && this.set.y.labels === set.y.labels;
  }

  /** New contents of the same size and form. */
  write(set: RowSet): void {
    this.set = set;
    if (!(this.x instanceof GPUBuffer) || !(this.y instanceof GPUBuffer)) return;
    this.res.device.queue.writeBuffer(this.x, 0, set.x, 0, set.rows * this.plan.inputSize);
    this.res.device.queue.writeBuffer(this.y, 0, set.y.values, 0, set.rows * this.width);
  }

  /**
   * Rows [start, start + rows), in the set's own order, into the step's input and target: copied in
   * `encoder` where the set is on the GPU, else written from the host ahead of the encoder's submit.
   */
  copyRows(encoder: GPUCommandEncoder, start: number, rows: number, to: BatchBuffers): void {
    const [inputs, width] = [this.plan.inputSize, this.width];
    // fit refuses what would copy from the caller's buffers (training metrics on GpuMatrix data).
    if (this.x instanceof GPUBuffer && this.y instanceof GPUBuffer) {
      encoder.copyBufferToBuffer(this.x, start * inputs * FLOAT, to.input, 0, rows * inputs * FLOAT);
      encoder.copyBufferToBuffer(this.y, start * width * FLOAT, to.target, 0, rows * width * FLOAT);
      return;
    }
    this.res.device.queue.writeBuffer(to.input, 0, this.set.x, start * inputs, rows * inputs);
    this.res.device.queue.writeBuffer(to.target, 0, this.set.y.values, start * width, rows * width);
  }

  destroy(): void {
    for (const buffer of [this.x, this.y]) if (buffer instanceof GPUBuffer) this.res.release(buffer);
  }
}

/**
 * fit's training set on the GPU: its rows (GpuRows), an index buffer for the epoch's order and two
 * gathers that copy a batch's rows into the step's input and target, so shuffling never moves the
 * data through the CPU. Where the set stays on the host, each batch is gathered on the CPU and
 * uploaded instead (`gather` undefined).
 */
export class GpuTrainingSet {
  readonly gather: { order: GPUBuffer; dispatches: Dispatch[] } | undefined;
  readonly rows: GpuRows;
  private readonly buffers: GPUBuffer[] = [];
  /** Batch staging for the upload fallback, made on first use. */
  private staging: { x: Float32Array; y: Float32Array } | undefined;

  constructor(private readonly plan: Plan, private readonly res: GpuResources, set: RowSet, gatherKernel: Kernel, step: GPUBuffer,
    private readonly batch: BatchBuffers, onDevice?: { x: GPUBufferBinding; y: GPUBufferBinding }) {
    this.rows = new GpuRows(plan, res, set, 'training', onDevice);
    const { x: setX, y: setY, width } = this.rows;
    if (!setX || !setY) return;
    const { inputSize, batchSize } = plan;
    const order = this.own(res.buffer(set.rows * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, 'epoch order [rows]'));
    const dims = this.own(res.uniform(2 * UNIFORM_SLOT, 'gather dims'));
    res.device.queue.writeBuffer(dims, 0, packDims([
      { m: batchSize, n: inputSize, k: 0, rowsAxis: 1 },
      { m: batchSize, n: width, k: 0, rowsAxis: 1 },
    ]));
    const gather = (slot: number, source: GPUBuffer | GPUBufferBinding, into: GPUBuffer, rowWidth: number) =>
      res.dispatch(gatherKernel, dims, slot, step, { source, order, batch: into }, (batchRows) => res.linearGrid(batchRows * rowWidth));
    this.gather = { order, dispatches: [gather(0, setX, batch.input, inputSize), gather(1, setY, batch.target, width)] };
  }

  private own(buffer: GPUBuffer): GPUBuffer {
    this.buffers.push(buffer);
    return buffer;
  }

  /** Whether `set` can reuse these buffers (fit called again on same-sized data). */
  fits(set: RowSet): boolean {
    return this.gather !== undefined && this.rows.fits(set);
  }

  /** The upload fallback: rows [start, start + rows) of `order` gathered on the CPU into the step's input and target. */
  upload(order: Uint32Array, start: number, rows: number): void {
    const { inputSize, outputSize, batchSize } = this.plan;
    const { set, width } = this.rows;
    const staging = (this.staging ??= { x: new Float32Array(batchSize * inputSize), y: new Float32Array(batchSize * outputSize) });
    gatherRows(set.x, order, start, rows, inputSize, staging.x);
    gatherRows(set.y.values, order, start, rows, width, staging.y);
    this.res.device.queue.writeBuffer(this.batch.input, 0, staging.x, 0, rows * inputSize);
    this.res.device.queue.writeBuffer(this.batch.target, 0, staging.y, 0, rows * width);
  }

  destroy(): void {
    this.rows.destroy();
    for (const buffer of this.buffers) this.res.release(buffer);
    this.buffers.length = 0;
  }
}
