import type { RowSet } from './backend.js';
import type { Targets } from './data/matrix.js';
import { guarded, isArray, readProperty, typedArrayName } from './data/user-input.js';
import { DeviceError, ShapeError } from './errors.js';
import { LOSSES } from './ops/index.js';
import type { Plan } from './plan.js';
import { describeValue } from './spec.js';

/**
 * A matrix that lives in a caller's GPU buffer, for an app whose data is on the GPU already:
 * row-major float32 [rows, width] starting `offset` bytes into `buffer` (default 0). The width is
 * the network's: inputSize for x, outputSize for y and for predict's `into`. As y, with `labels:
 * true`, it is one class index per row instead ([rows, 1], exact integers as float32), for a loss
 * that takes class labels (softmaxCrossEntropy); binaryCrossEntropy's 0/1 labels are its targets.
 *
 * The webgpu backend only. The buffer must be of the network's device, carry STORAGE usage, hold
 * `rows` rows from `offset` (a multiple of the device's minStorageBufferOffsetAlignment), and be
 * neither destroyed nor mapped. Its values are the caller's: they are not checked for NaN or range
 * (a NaN shows as a NaN loss), and a network that standardizes its inputs does not take x as one.
 */
export interface GpuMatrix {
  buffer: GPUBuffer;
  rows: number;
  offset?: number;
  labels?: boolean;
}

/** x [rows, inputs], y (targets or labels) and predict's into [rows, outputs]. */
export type MatrixRole = 'x' | 'y' | 'into';

/** A GpuMatrix read once and checked against the plan and the buffer's size and usage (not yet against the device). */
export interface DeviceMatrix {
  buffer: GPUBuffer;
  rows: number;
  offset: number;
  /** Floats per row. */
  width: number;
  /** The argument it came as: what it holds, and the name in messages. */
  name: MatrixRole;
}

/** Targets in a GpuMatrix: values [rows, outputs], or with `labels` one class index per row. */
export interface DeviceTargets {
  matrix: DeviceMatrix;
  labels: boolean;
}

/** Where a batch's rows come from: host rows (checked, standardized) or a caller's GPU buffer. */
export type RowSource = Float32Array | DeviceMatrix;
export type TargetSource = Targets | DeviceTargets;

export const isDeviceTargets = (y: TargetSource): y is DeviceTargets => 'matrix' in y;

/** The bytes a GpuMatrix's rows span from its offset. */
export const matrixBytes = (matrix: DeviceMatrix): number => matrix.rows * matrix.width * 4;

/**
 * Whether the user gave `value` as a GpuMatrix: an object, neither an array nor a typed array,
 * with a `buffer` property (a typed array's own buffer is an ArrayBuffer, and never gets here).
 */
export function isGpuMatrix(value: unknown): value is GpuMatrix {
  try {
    return typeof value === 'object' && value !== null && typedArrayName(value) === undefined && !isArray(value) && 'buffer' in value;
  } catch {
    // A revoked Proxy, say: not a GpuMatrix, and the readers of host rows refuse it with a typed error.
    return false;
  }
}

/** What a GPUBuffer has and an ArrayBuffer or a plain object lacks, read once. */
function gpuBufferOf(value: unknown, name: string): { buffer: GPUBuffer; size: number; usage: number; mapState: string } {
  const buffer = value as GPUBuffer;
  const [size, usage, mapState] = typeof value !== 'object' || value === null ? []
    : guarded(() => [buffer.size, buffer.usage, buffer.mapState] as unknown[], `${name}.buffer`, ShapeError);
  if (typeof size !== 'number' || typeof usage !== 'number' || typeof mapState !== 'string') {
    throw new ShapeError(`${name}.buffer must be a GPUBuffer, got ${describeValue(value)}`);
  }
  return { buffer, size, usage, mapState };
}

/** A GpuMatrix's fields, each read once (copy, then validate). */
interface GivenMatrix {
  buffer: GPUBuffer;
  size: number;
  usage: number;
  mapState: string;
  rows: unknown;
  offset: unknown;
  labels: unknown;
}

function readFields(value: GpuMatrix, name: string): GivenMatrix {
  const given = readProperty(value, 'buffer', `${name}.buffer`, ShapeError);
  const rows = readProperty(value, 'rows', `${name}.rows`, ShapeError);
  const offset = readProperty(value, 'offset', `${name}.offset`, ShapeError) ?? 0;
  const labels = readProperty(value, 'labels', `${name}.labels`, ShapeError);
  return { ...gpuBufferOf(given, name), rows, offset, labels };
}

/**
 * A GpuMatrix's fields (argument `name`) checked for `width` floats per row: STORAGE usage, not
 * mapped, `rows` a positive integer, `offset` a non-negative multiple of 4 and the rows within the
 * buffer. The device's own checks (alignment, binding size, the buffer's device, destroyed) are
 * the backend's (DeviceMatrices.check).
 */
function checkFields({ buffer, size, usage, mapState, rows, offset }: GivenMatrix, name: MatrixRole, width: number, widthName: string): DeviceMatrix {
  if (typeof rows !== 'number' || !Number.isInteger(rows) || rows < 1) {
    throw new ShapeError(`${name}.rows must be a positive integer, got ${describeValue(rows)}`);
  }
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0 || offset % 4 !== 0) {
    throw new ShapeError(`${name}.offset must be a non-negative multiple of 4 bytes, got ${describeValue(offset)}`);
  }
  const matrix = { buffer, rows, offset, width, name };
  if (offset + matrixBytes(matrix) > size) {
    throw new ShapeError(`${name} is ${rows} rows of ${width} floats (${widthName}) from byte ${offset}, ${matrixBytes(matrix)} bytes, ` +
      `past the end of its ${size}-byte buffer`);
  }
  if ((usage & GPUBufferUsage.STORAGE) === 0) {
    throw new DeviceError(`${name}.buffer lacks GPUBufferUsage.STORAGE (its usage is ${usage}); the network's kernels bind it as storage`);
  }
  if (mapState !== 'unmapped') throw new DeviceError(`${name}.buffer is ${mapState === 'mapped' ? 'mapped' : 'being mapped'}; unmap it first`);
  return matrix;
}

/**
 * x (or predict's `into`, with the output width) as a GpuMatrix. A network that standardizes its
 * inputs refuses x as one: its statistics are taken and applied on the host.
 */
export function readRowsMatrix(value: GpuMatrix, plan: Plan, name: 'x' | 'into'): DeviceMatrix {
  if (name === 'x' && plan.standardize) {
    throw new ShapeError('x is a GpuMatrix, but this network standardizes its inputs (standardize: true), which is done on the host: ' +
      'standardize the data on the GPU yourself and create the network with standardize: false, or give x as host rows');
  }
  const fields = readFields(value, name);
  return name === 'x' ? checkFields(fields, name, plan.inputSize, 'inputSize') : checkFields(fields, name, plan.outputSize, 'the output width');
}

/**
 * y as a GpuMatrix of `rows` rows: [rows, outputs] targets, or with `labels: true` one class index
 * per row where the loss takes class labels (binaryCrossEntropy's 0/1 labels for one output are
 * its targets).
 */
export function readTargetMatrix(value: GpuMatrix, plan: Plan, rows: number): DeviceTargets {
  const { loss, outputSize } = plan;
  const fields = readFields(value, 'y');
  const flag = fields.labels;
  if (flag !== undefined && typeof flag !== 'boolean') throw new ShapeError(`y.labels must be true or false, got ${describeValue(flag)}`);
  let labels = false;
  if (flag === true) {
    const kind = LOSSES[loss.type].labels;
    switch (kind) {
      case 'classes':
        labels = true;
        break;
      case 'binary':
        if (outputSize !== 1) {
          throw new ShapeError(`y is a GpuMatrix of labels, but loss ${loss.type} takes 0/1 labels only for one output unit and this network has ` +
            `${outputSize}: give y as [rows, ${outputSize}] targets`);
        }
        break;
      case 'none':
        throw new ShapeError(`y is a GpuMatrix of class labels, which loss ${loss.type} cannot take: give y as [rows, ${outputSize}] targets`);
      default: kind satisfies never;
    }
  }
  const matrix = checkFields(fields, 'y', labels ? 1 : outputSize, labels ? 'one class index per row' : 'the output width');
  if (matrix.rows !== rows) throw new ShapeError(`y has ${matrix.rows} rows but x has ${rows}`);
  return { matrix, labels };
}

/** The refusal of a GpuMatrix on a backend that is not webgpu. */
export const notOnThisBackend = (call: string, name: string, backend: string): DeviceError =>
  new DeviceError(`${call}: ${name} is a GpuMatrix, which only the webgpu backend takes, and this network runs on the ${backend} backend: ` +
    'give it as host rows (a Float32Array or an array)');

/**
 * What the webgpu backend does with GpuMatrix data (Backend.matrices); the Network has read and
 * checked every matrix (readGpuMatrix) and calls `check` before anything else.
 */
export interface DeviceMatrices {
  /**
   * Refuses with DeviceError what the device cannot use: an offset that is not a multiple of its
   * minStorageBufferOffsetAlignment, rows over its maxStorageBufferBindingSize, a buffer of another
   * device or a destroyed one. Nothing is recorded or run for the network before it settles.
   */
  check(matrices: DeviceMatrix[]): Promise<void>;
  /** trainBatch with either side in a GpuMatrix. */
  trainBatch(x: RowSource, y: TargetSource, rows: number): Promise<number>;
  /** A training step recorded into the caller's encoder; its loss goes to the record readLosses reads. */
  encodeTrainBatch(encoder: GPUCommandEncoder, x: DeviceMatrix, y: DeviceTargets): void;
  /** Outputs for every row of x, read back, or written into `into` (and nothing read back). */
  predict(x: RowSource, rows: number, into?: DeviceMatrix): Promise<Float32Array | undefined>;
  /** predict into `into`, recorded into the caller's encoder. */
  encodePredict(encoder: GPUCommandEncoder, x: DeviceMatrix, into: DeviceMatrix): void;
  /** evaluate with either side in a GpuMatrix; returns the targets too (read back where they were on the device), for the metrics. */
  evaluate(x: RowSource, y: TargetSource, rows: number): Promise<{ loss: number; outputs: Float32Array; targets: Targets }>;
  /** fit's training set in the caller's buffers (the epoch's gathers read them, nothing is uploaded), and its validation rows from the host. */
  setTrainingSet(x: DeviceMatrix, y: DeviceTargets, rows: number, validation?: RowSet): void;
  /** The losses of the steps encoded since the last read, oldest first (at most the last ENCODED_LOSSES). */
  readLosses(): Promise<Float32Array>;
}

/** predict's options: `into`, a GpuMatrix [rows, outputs] the outputs are written to (nothing is read back). */
export interface PredictOptions {
  into?: GpuMatrix;
}

export const PREDICT_OPTION_KEYS: readonly (keyof PredictOptions)[] = ['into'];

/** Whether `value` looks like a GPUCommandEncoder (the device validates the rest when the caller finishes it). */
export function checkEncoder(value: unknown, call: string): GPUCommandEncoder {
  const encoder = value as GPUCommandEncoder;
  if (typeof value !== 'object' || value === null || typeof encoder.beginComputePass !== 'function' || typeof encoder.copyBufferToBuffer !== 'function') {
    throw new ShapeError(`${call}: the encoder must be a GPUCommandEncoder of the network's device, got ${describeValue(value)}`);
  }
  return encoder;
}
