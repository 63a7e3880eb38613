import { ShapeError } from '../errors.js';
import { describeValue } from '../spec.js';

/**
 * What users may pass as a batch of rows: a flat row-major array, or one array per row. As `y` it
 * may also be class labels, one integer per row (see isLabelForm).
 */
export type MatrixInput = Float32Array | ArrayLike<number> | ArrayLike<ArrayLike<number>>;

/**
 * Targets as the backends take them: `values` [rows, outputs], or with `labels` one class index per
 * row, [rows, 1] (exact integers in float32), which stands for its one-hot row. Only a loss whose
 * LOSSES entry takes 'classes' labels is given labels; binaryCrossEntropy's 0/1 labels are its targets.
 */
export interface Targets {
  values: Float32Array;
  labels: boolean;
}

/** The target of output j of row r: its value, or 1 where j is the row's class index and 0 elsewhere. */
const targetAt = ({ values, labels }: Targets, r: number, j: number, width: number): number =>
  labels ? (values[r] === j ? 1 : 0) : values[r * width + j]!;

const INTEGER_ARRAYS = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array];

/**
 * Whether `value` is given as labels, one integer per row: an integer typed array (whatever its
 * length, so a wrong one is named as labels), or, for a network with several outputs, a flat
 * number[] with one value per row (a [rows, 1] number[] is the targets of a one-output network).
 */
export function isLabelForm(value: unknown, rows: number, width: number): boolean {
  if (INTEGER_ARRAYS.some((type) => value instanceof type)) return true;
  return Array.isArray(value) && width > 1 && value.length === rows && !isRowList(value);
}

/** Class labels above 2^24 would not be exact in the float32 buffers that carry them. */
const MAX_CLASSES = 2 ** 24;

/**
 * Copies labels (one per row, `rows` of them) into a Float32Array [rows, 1], then checks each is an
 * integer in [0, classes); `expected` says what a label must be, for the messages.
 */
export function toLabels(value: ArrayLike<unknown>, rows: number, classes: number, name: string, expected: string): Float32Array {
  const count = value.length;
  if (count !== rows) throw new ShapeError(`${name} has ${count} class labels (one per row) but x has ${rows} rows`);
  if (classes > MAX_CLASSES) {
    throw new ShapeError(`${name}: class labels are read for at most ${MAX_CLASSES} classes, this network has ${classes}; give one-hot rows`);
  }
  // Each value is read once into the copy; the copy is checked and used.
  const copy: unknown[] = Array.from({ length: rows }, (_, r) => value[r]);
  const labels = new Float32Array(rows);
  copy.forEach((label, r) => {
    if (typeof label !== 'number' || !Number.isInteger(label) || label < 0 || label >= classes) {
      throw new ShapeError(`${name} row ${r} has the label ${describeValue(label)}; expected ${expected}`);
    }
    labels[r] = label;
  });
  return labels;
}

/** Checks every value of [rows, width] `data` lies in [low, high]; `what` names the rule in the message. */
export function checkRange(data: Float32Array, width: number, low: number, high: number, name: string, what: string): void {
  for (let i = 0; i < data.length; i++) {
    const value = data[i]!;
    if (value < low || value > high) {
      throw new ShapeError(`${name} has ${value} at row ${Math.floor(i / width)}, column ${i % width}; ${what} must be in [${low}, ${high}]`);
    }
  }
}

function isRowList(value: MatrixInput): value is ArrayLike<ArrayLike<number>> {
  return !ArrayBuffer.isView(value) && value.length > 0 && typeof value[0] === 'object' && value[0] !== null;
}

function requireNumber(value: unknown, name: string, row: number, column: number): number {
  if (typeof value !== 'number') {
    throw new ShapeError(`${name} has a ${typeof value} (${describeValue(value)}) at row ${row}, column ${column}; expected a number`);
  }
  return value;
}

/**
 * Converts user data into a flat Float32Array [rows, width] and checks it: non-empty, length a
 * multiple of width (or every row of that width), every value finite. `name` ('x' or 'y') and
 * `widthName` appear in the errors so the user knows which argument is wrong.
 */
export function toMatrix(value: MatrixInput, width: number, name: string, widthName: string): { data: Float32Array; rows: number } {
  if (value === null || value === undefined || typeof value !== 'object' || typeof value.length !== 'number') {
    throw new ShapeError(`${name} must be a Float32Array or an array of rows, got ${value === null ? 'null' : typeof value}`);
  }
  let data: Float32Array;
  if (isRowList(value)) {
    data = new Float32Array(value.length * width);
    for (let r = 0; r < value.length; r++) {
      const row = value[r]!;
      if (!row || row.length !== width) {
        throw new ShapeError(`${name} row ${r} has ${row ? describeValue(row.length) : 'no'} values; expected ${width} (${widthName})`);
      }
      for (let c = 0; c < width; c++) data[r * width + c] = requireNumber(row[c], name, r, c);
    }
  } else {
    if (value.length % width !== 0) {
      throw new ShapeError(`${name} has ${value.length} values, not a multiple of ${widthName} ${width}`);
    }
    const flat = value as ArrayLike<number>;
    data = value instanceof Float32Array
      ? value
      : Float32Array.from({ length: flat.length }, (_, i) => requireNumber(flat[i], name, Math.floor(i / width), i % width));
  }
  const rows = data.length / width;
  if (rows === 0) throw new ShapeError(`${name} has no rows`);
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) {
      const source = isRowList(value) ? value[Math.floor(i / width)]![i % width] : (value as ArrayLike<number>)[i];
      throw new ShapeError(`${name} has a non-finite value (${String(source)}) at row ${Math.floor(i / width)}, column ${i % width}`);
    }
  }
  return { data, rows };
}

/**
 * Copies rows order[start], order[start + 1], … (count of them) of `source` [·, width] into the first
 * rows of `target`: how a shuffled batch is taken out of a training set on the host.
 */
export function gatherRows(source: Float32Array, order: Uint32Array, start: number, count: number, width: number, target: Float32Array): void {
  for (let r = 0; r < count; r++) {
    const from = order[start + r]! * width;
    const to = r * width;
    for (let j = 0; j < width; j++) target[to + j] = source[from + j]!;
  }
}

/** Index of the largest value in each row of a [rows, width] matrix. */
export function argmaxRows(data: ArrayLike<number>, rows: number, width: number): Uint32Array {
  const result = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let j = 1; j < width; j++) if (data[r * width + j]! > data[r * width + best]!) best = j;
    result[r] = best;
  }
  return result;
}

/**
 * Fraction classified right (LossEntry.accuracy): 'argmax', of rows, each row's argmax against its
 * target's (its class index for labels), or with one output a 0.5 threshold on both; 'threshold', of
 * every output, on the same side of 0.5 as its target.
 */
export function accuracy(outputs: ArrayLike<number>, targets: Targets, rows: number, width: number, rule: 'argmax' | 'threshold'): number {
  let correct = 0;
  switch (rule) {
    case 'threshold':
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < width; j++) if ((outputs[r * width + j]! >= 0.5) === (targetAt(targets, r, j, width) >= 0.5)) correct++;
      }
      return correct / (rows * width);
    case 'argmax': {
      if (width === 1) return accuracy(outputs, targets, rows, width, 'threshold');
      const predicted = argmaxRows(outputs, rows, width);
      const expected = targets.labels ? targets.values : argmaxRows(targets.values, rows, width);
      for (let r = 0; r < rows; r++) if (predicted[r] === expected[r]) correct++;
      return correct / rows;
    }
    default: return rule satisfies never;
  }
}
