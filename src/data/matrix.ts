import { ShapeError } from '../errors.js';
import { describeValue } from '../spec.js';

/** What users may pass as a batch of rows: a flat row-major array, or one array per row. */
export type MatrixInput = Float32Array | ArrayLike<number> | ArrayLike<ArrayLike<number>>;

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
 * Fraction of rows classified right: argmax against argmax of the targets, or with one output a
 * 0.5 threshold on both.
 */
export function accuracy(outputs: ArrayLike<number>, targets: ArrayLike<number>, rows: number, width: number): number {
  let correct = 0;
  if (width === 1) {
    for (let r = 0; r < rows; r++) if ((outputs[r]! >= 0.5) === (targets[r]! >= 0.5)) correct++;
  } else {
    const predicted = argmaxRows(outputs, rows, width);
    const expected = argmaxRows(targets, rows, width);
    for (let r = 0; r < rows; r++) if (predicted[r] === expected[r]) correct++;
  }
  return correct / rows;
}
