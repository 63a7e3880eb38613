import { STEP_BYTES } from '../../shaders/index.js';
import type { DeviceMatrix } from '../gpu-matrix.js';
import { matrixBytes } from '../gpu-matrix.js';
import { DeviceError } from '../errors.js';
import type { Plan } from '../plan.js';
import { packDims, UNIFORM_SLOT } from './dims.js';
import { getKernel, type Kernel } from './kernels.js';
import { encodePass, FLOAT, type Dispatch, type GpuResources } from './resources.js';
import type { StepRecording } from './step.js';

/**
 * Steps and predict chunks a caller may encode into its own encoders between two of its submits.
 * Each takes a slot of the Step ring: its Step uniform is written into the slot at once (a
 * queue.writeBuffer, which runs before the caller's later submit) and the caller's encoder copies
 * the slot into the Step uniform before the pass, so several encoded steps in one submit each see
 * their own rows, t and learning rate. More than this many between two submits would overwrite
 * slots not yet read.
 */
export const STEP_RING = 64;

/** Encoded steps' losses kept on the GPU until readLosses: the last this many. */
export const ENCODED_LOSSES = 4096;

/** At most this many bind groups are kept per caller buffer (offsets and row counts in use). */
const BINDINGS_PER_BUFFER = 16;

/** The Dims slots of the row copies: a probe that copies nothing, then one per row width. */
type Width = 'input' | 'output' | 'label';

/** A caller's matrix as a binding: its rows from its offset. */
export const matrixBinding = (matrix: DeviceMatrix): GPUBufferBinding => ({ buffer: matrix.buffer, offset: matrix.offset, size: matrixBytes(matrix) });

/**
 * The webgpu backend's side of GpuMatrix data (src/gpu-matrix.ts): the dispatches that copy rows
 * between a caller's buffer and the step's batch buffers (matrixRows kernels), bound once per
 * buffer, offset and size and then reused, so a frame loop on the same buffers creates nothing per
 * step; the device checks; and the Step ring and loss record of steps encoded into a caller's
 * command encoder.
 */
export class MatrixBindings {
  private readonly cache = new WeakMap<GPUBuffer, Map<string, { copy: Dispatch; probe: Dispatch }>>();
  private nextSlot = 0;
  /** Encoded losses written since the last read (those past ENCODED_LOSSES overwrite the oldest). */
  private written = 0;

  private constructor(private readonly plan: Plan, private readonly res: GpuResources, private readonly step: StepRecording,
    private readonly kernels: { read: Kernel; write: Kernel }, private readonly dims: GPUBuffer, private readonly ring: GPUBuffer,
    private readonly losses: GPUBuffer, private readonly lossStaging: GPUBuffer, readonly targetStaging: GPUBuffer) {}

  static async create(plan: Plan, res: GpuResources, step: StepRecording): Promise<MatrixBindings> {
    const device = res.device;
    const [read, write] = await Promise.all([getKernel(device, { kind: 'matrixRows', direction: 'read' }),
      getKernel(device, { kind: 'matrixRows', direction: 'write' })]);
    const { batchSize, inputSize, outputSize } = plan;
    const dims = res.uniform(4 * UNIFORM_SLOT, 'matrix rows dims');
    // The probe's m = 0 with no rows axis: its threads find nothing to copy.
    device.queue.writeBuffer(dims, 0, packDims([{ m: 0, n: 1, k: 0, rowsAxis: 0 },
      ...[inputSize, outputSize, 1].map((n) => ({ m: batchSize, n, k: 0, rowsAxis: 1 as const }))]));
    const copies = GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    return new MatrixBindings(plan, res, step, { read, write }, dims,
      res.buffer(STEP_RING * STEP_BYTES, copies, `step ring [${STEP_RING}]`),
      res.buffer(ENCODED_LOSSES * FLOAT, GPUBufferUsage.STORAGE | copies, `encoded losses [${ENCODED_LOSSES}]`),
      res.buffer(ENCODED_LOSSES * FLOAT, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'encoded loss readback'),
      res.buffer(batchSize * outputSize * FLOAT, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'target readback [batchSize, outputs]'));
  }

  /** Which batch buffer a matrix's rows go to or come from, and the Dims slot of its width. */
  private roleOf(matrix: DeviceMatrix): { batch: GPUBuffer; width: Width } {
    switch (matrix.name) {
      case 'x': return { batch: this.step.input, width: 'input' };
      case 'y': return { batch: this.step.target, width: matrix.width === this.plan.outputSize ? 'output' : 'label' };
      case 'into': return { batch: this.step.outputs, width: 'output' };
      default: return matrix.name satisfies never;
    }
  }

  /** The matrix's copy and probe dispatches, bound on first use; WebGPU's validation errors are the caller's scope's. */
  private dispatches(matrix: DeviceMatrix): { copy: Dispatch; probe: Dispatch } {
    let byBinding = this.cache.get(matrix.buffer);
    if (!byBinding) this.cache.set(matrix.buffer, (byBinding = new Map()));
    const key = `${matrix.name}:${matrix.width}:${matrix.offset}:${matrix.rows}`;
    let entry = byBinding.get(key);
    if (!entry) {
      const { batch, width } = this.roleOf(matrix);
      const slot = 1 + (['input', 'output', 'label'] as const).indexOf(width);
      const binding = matrixBinding(matrix);
      const grid = (rows: number) => this.res.linearGrid(rows * matrix.width);
      const [kernel, bindings] = matrix.name === 'into' ? [this.kernels.write, { batch, matrix: binding }] : [this.kernels.read, { matrix: binding, batch }];
      entry = {
        copy: this.res.dispatch(kernel, this.dims, slot, this.step.step, bindings, grid),
        // Binds the matrix read-only whatever its role, so the probe never writes to it.
        probe: this.res.dispatch(this.kernels.read, this.dims, 0, this.step.step, { matrix: binding, batch: this.step.input }, () => [1, 1]),
      };
      if (byBinding.size >= BINDINGS_PER_BUFFER) byBinding.clear();
      byBinding.set(key, entry);
    }
    return entry;
  }

  /** The dispatch that copies the matrix's rows from Step.start into its batch buffer (or the outputs into it, for `into`). */
  copy(matrix: DeviceMatrix): Dispatch {
    return this.dispatches(matrix).copy;
  }

  /**
   * Refuses what the device cannot use, before anything is recorded: an offset off the device's
   * storage offset alignment, rows past its binding size, a buffer of another device (WebGPU's
   * validation refuses the bind group) and a destroyed one (it refuses a submit that uses it: a
   * probe pass that copies nothing, in an error scope). The probe is one small submit per call.
   */
  async check(matrices: DeviceMatrix[]): Promise<void> {
    const { limits } = this.res.device;
    for (const matrix of matrices) {
      if (matrix.offset % limits.minStorageBufferOffsetAlignment !== 0) {
        throw new DeviceError(`${matrix.name}.offset ${matrix.offset} is not a multiple of this device's minStorageBufferOffsetAlignment ` +
          `(${limits.minStorageBufferOffsetAlignment} bytes)`);
      }
      if (matrixBytes(matrix) > limits.maxStorageBufferBindingSize) {
        throw new DeviceError(`${matrix.name} spans ${matrixBytes(matrix)} bytes, more than this device binds at once ` +
          `(maxStorageBufferBindingSize ${limits.maxStorageBufferBindingSize}): give it in smaller matrices`);
      }
    }
    const device = this.res.device;
    const probes: Dispatch[] = [];
    for (const matrix of matrices) {
      device.pushErrorScope('validation');
      const { probe } = this.dispatches(matrix);
      const error = await device.popErrorScope();
      if (error) {
        this.cache.get(matrix.buffer)?.clear();
        throw new DeviceError(`${matrix.name}.buffer cannot be bound on this network's device: it belongs to another GPUDevice (WebGPU: ${error.message})`);
      }
      probes.push(probe);
    }
    const refused = await this.probe(probes);
    if (!refused) return;
    // Which one: each on its own (only on this error path, so the usual call pays one submit).
    for (const [i, matrix] of matrices.entries()) {
      const error = await this.probe([probes[i]!]);
      if (error) throw new DeviceError(`${matrix.name}.buffer was destroyed (WebGPU refused a submit using it: ${error.message})`);
    }
    throw new DeviceError(`WebGPU refused a submit using ${matrices.map((matrix) => matrix.name).join(', ')}: ${refused.message}`);
  }

  /** Submits `probes` (passes that copy nothing) in an error scope: WebGPU's validation error, if any. */
  private async probe(probes: Dispatch[]): Promise<GPUError | null> {
    const device = this.res.device;
    device.pushErrorScope('validation');
    const encoder = device.createCommandEncoder();
    encodePass(encoder, probes, 0, device.limits.maxComputeWorkgroupsPerDimension);
    device.queue.submit([encoder.finish()]);
    return device.popErrorScope();
  }

  /**
   * Records a pass's Step uniform into the caller's encoder: `values(slot)` (the packed Step of
   * loss slot `slot`) is written into the next ring slot now and copied into the Step uniform by
   * the encoder. Returns the slot.
   */
  encodeStep(encoder: GPUCommandEncoder, values: (slot: number) => ArrayBuffer): number {
    const slot = this.nextSlot;
    this.nextSlot = (slot + 1) % STEP_RING;
    this.res.device.queue.writeBuffer(this.ring, slot * STEP_BYTES, values(slot));
    encoder.copyBufferToBuffer(this.ring, slot * STEP_BYTES, this.step.step, 0, STEP_BYTES);
    return slot;
  }

  /** Copies the loss an encoded step left in lossRecord[slot] to the encoded-loss record, in the caller's encoder. */
  recordLoss(encoder: GPUCommandEncoder, lossRecord: GPUBuffer, slot: number): void {
    encoder.copyBufferToBuffer(lossRecord, slot * FLOAT, this.losses, (this.written % ENCODED_LOSSES) * FLOAT, FLOAT);
    this.written += 1;
  }

  /** The encoded steps' losses since the last read, oldest first (the last ENCODED_LOSSES of them), read with `readBack`. */
  async readLosses(readBack: (staging: GPUBuffer, floats: number) => Promise<Float32Array>): Promise<Float32Array> {
    const written = this.written;
    if (written === 0) return new Float32Array(0);
    this.written = 0;
    const encoder = this.res.device.createCommandEncoder();
    encoder.copyBufferToBuffer(this.losses, 0, this.lossStaging, 0, ENCODED_LOSSES * FLOAT);
    this.res.device.queue.submit([encoder.finish()]);
    return ringInOrder(await readBack(this.lossStaging, ENCODED_LOSSES), written);
  }
}

/**
 * The values of a ring of `record.length` slots that `written` writes filled from slot 0 on (write
 * i into slot i mod length), oldest first: all of them, or the last record.length once it wrapped.
 */
export function ringInOrder(record: Float32Array, written: number): Float32Array {
  const capacity = record.length;
  if (written <= capacity) return record.slice(0, written);
  const oldest = written % capacity;
  const values = new Float32Array(capacity);
  values.set(record.subarray(oldest));
  values.set(record.subarray(0, oldest), capacity - oldest);
  return values;
}
