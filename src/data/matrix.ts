import { BackpropError, ShapeError } from '../errors.js';
import { describeValue, FLOAT32_MAX } from '../ops/index.js';
import {
  allocate, guarded, isArray, MAX_INPUT_VALUES, readProperty, thrownMessage, typedArrayName, withCause, type TypedArrayName,
} from './user-input.js';

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
export const targetAt = ({ values, labels }: Targets, r: number, j: number, width: number): number =>
  labels ? (values[r] === j ? 1 : 0) : values[r * width + j]!;

/**
 * User numbers, opened for reading once. A genuine typed array is read only through its internal
 * slots (its length, and `copyTyped`'s copies: its own `length`, a subclass or a Proxy is never
 * consulted, and no user code runs). Any other array-like has its length read once and each element
 * read once, on demand, through `item` or in one loop over `items` (the first is read when it is
 * opened, to tell rows from a flat list).
 */
export type NumberSource =
  | { kind: 'typed'; array: ArrayLike<number>; type: TypedArrayName; length: number; integers: boolean; name: string }
  | { kind: 'list'; length: number; array: boolean; first: unknown; item: (index: number) => unknown; items: ArrayLike<unknown>; name: string };

const INTEGER_ARRAYS: readonly TypedArrayName[] = ['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array'];

/** %TypedArray%.prototype.length's getter: the length from the internal slot (0 once detached). */
const typedLength = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'length')!.get!;

/** Opens `value` (argument `name`) for reading, or refuses what is not numbers at all. */
export function openNumbers(value: unknown, name: string): NumberSource {
  const type = typedArrayName(value);
  if (type === 'BigInt64Array' || type === 'BigUint64Array') throw new ShapeError(`${name} is a ${type}; give numbers (a Float32Array or an array)`);
  if (type !== undefined) {
    const length = typedLength.call(value) as number;
    return { kind: 'typed', array: value as ArrayLike<number>, type, length, integers: INTEGER_ARRAYS.includes(type), name };
  }
  if (typeof value !== 'object' || value === null) {
    throw new ShapeError(`${name} must be a Float32Array or an array of rows, got ${describeValue(value)}`);
  }
  const length = readProperty(value, 'length', `${name}.length`, ShapeError);
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 0) {
    throw new ShapeError(`${name} must be a Float32Array or an array of rows; its length is ${describeValue(length)}`);
  }
  if (length > MAX_INPUT_VALUES) throw new ShapeError(`${name} has ${length} entries; at most ${MAX_INPUT_VALUES} values are read`);
  const item = (index: number) => readProperty(value, index, `${name}[${index}]`, ShapeError);
  return { kind: 'list', length, array: isArray(value), first: length > 0 ? item(0) : undefined, item, items: value as ArrayLike<unknown>, name };
}

/**
 * A copy of a typed source made by the engine alone (TypedArray.prototype.set and the typed array
 * constructor read the internal slots): into `target` at `offset`, converted to float32, or, without
 * a target, a float64 copy that keeps every value exact (Float64, Int32 and Uint32 ones are not all
 * exact in float32). A detached buffer is a ShapeError.
 */
export function copyTyped(source: Extract<NumberSource, { kind: 'typed' }>, target?: Float32Array, offset = 0): Float64Array {
  return guarded(() => {
    if (target === undefined) return new Float64Array(source.array);
    target.set(source.array, offset);
    return new Float64Array(0);
  }, source.name, ShapeError);
}

/** Whether a list's first element is a row (then every element is one), read once. */
export const isRowList = (source: NumberSource): boolean => source.kind === 'list' && typeof source.first === 'object' && source.first !== null;

/** Element `i` of a list: the first one as read when it was opened, any other read now (once). */
export const itemOf = (source: Extract<NumberSource, { kind: 'list' }>, i: number): unknown => (i === 0 ? source.first : source.item(i));

/**
 * Whether y is given as labels, one integer per row: an integer typed array (whatever its length,
 * so a wrong one is named as labels), or, for a network with several outputs, a flat number[] with
 * one value per row (a [rows, 1] number[] is the targets of a one-output network).
 */
export function isLabelForm(source: NumberSource, rows: number, width: number): boolean {
  if (source.kind === 'typed') return source.integers;
  return source.array && width > 1 && source.length === rows && !isRowList(source);
}

/** Class labels above 2^24 would not be exact in the float32 buffers that carry them. */
const MAX_CLASSES = 2 ** 24;

/**
 * The labels of `source` (one per row, `rows` of them) as a Float32Array [rows, 1], each read once
 * and checked to be an integer in [0, classes); `expected` says what a label must be, for the messages.
 */
export function toLabels(source: NumberSource, rows: number, classes: number, name: string, expected: string): Float32Array {
  const count = source.length;
  if (count !== rows) throw new ShapeError(`${name} has ${count} class labels (one per row) but x has ${rows} rows`);
  if (classes > MAX_CLASSES) {
    throw new ShapeError(`${name}: class labels are read for at most ${MAX_CLASSES} classes, this network has ${classes}; give one-hot rows`);
  }
  const labels = allocate(Float32Array, rows, name, ShapeError);
  const exact = source.kind === 'typed' ? copyTyped(source) : undefined;
  for (let r = 0; r < rows; r++) {
    const label = source.kind === 'typed' ? exact![r] : itemOf(source, r);
    if (typeof label !== 'number' || !Number.isInteger(label) || label < 0 || label >= classes) {
      throw new ShapeError(`${name} row ${r} has the label ${describeValue(label)}; expected ${expected}`);
    }
    labels[r] = label;
  }
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

/**
 * Checks one value already read (a primitive, so nothing is read again): a number whose float32 is
 * finite. Where it is not, the message gives the value as the user wrote it.
 */
function checkNumber(value: unknown, name: string, index: number, width: number): number {
  const at = `row ${Math.floor(index / width)}, column ${index % width}`;
  if (typeof value !== 'number') throw new ShapeError(`${name} has ${describeValue(value)} at ${at}; expected a number`);
  if (!Number.isFinite(value)) throw new ShapeError(`${name} has a non-finite value (${value}) at ${at}`);
  if (Math.abs(value) > FLOAT32_MAX) {
    throw new ShapeError(`${name} has a non-finite value in float32 (${value}, beyond its largest ${FLOAT32_MAX}) at ${at}`);
  }
  return value;
}

/**
 * Whether target[from, to) holds only finite values, without a branch per value: x·0 is 0 for a
 * finite x and NaN for NaN and ±Infinity, and four float32 values summed in float64 never overflow,
 * so one NaN anywhere makes the total NaN. About twice as fast as a Number.isFinite test per value
 * (0.15 against 0.32 ms for a 256×784 batch), which trainBatch pays on every x.
 */
function allFinite(target: Float32Array, from: number, to: number): boolean {
  let probe = 0;
  let i = from;
  for (; i + 4 <= to; i += 4) probe += (target[i]! + target[i + 1]! + target[i + 2]! + target[i + 3]!) * 0;
  for (; i < to; i++) probe += target[i]! * 0;
  return probe === 0;
}

/** Copies `count` values of `source` (starting at its element 0) into `target` from `offset`, checking each. */
function copyValues(source: NumberSource, count: number, target: Float32Array, offset: number, name: string, width: number): void {
  if (source.kind === 'typed') {
    if (source.type === 'Float64Array') {
      // Checked as the exact float64 values given (which may overflow float32), then converted.
      const exact = copyTyped(source);
      for (let i = 0; i < count; i++) if (!(Math.abs(exact[i]!) <= FLOAT32_MAX)) checkNumber(exact[i], name, offset + i, width);
      target.set(exact, offset);
      return;
    }
    copyTyped(source, target, offset);
    // Integer values are finite; float32 ones are checked in the copy.
    if (source.type === 'Float32Array' && !allFinite(target, offset, offset + count)) {
      for (let i = offset; i < offset + count; i++) if (!Number.isFinite(target[i]!)) checkNumber(target[i], name, i, width);
    }
    return;
  }
  // The user's elements, each read once, in one guarded loop (a try per element would triple the cost of a number[]).
  const { items, first } = source;
  let i = 0;
  try {
    if (count > 0) target[offset] = checkNumber(first, name, offset, width);
    for (i = 1; i < count; i++) target[offset + i] = checkNumber(items[i], name, offset + i, width);
  } catch (thrown) {
    if (thrown instanceof BackpropError) throw thrown;
    throw withCause(new ShapeError(`reading ${source.name}[${i}] threw: ${thrownMessage(thrown)}`), thrown);
  }
}

/**
 * User data as our own flat Float32Array [rows, width], read once and checked: non-empty, length a
 * multiple of width (or every row of that width), every value a finite number in float32. `name`
 * ('x' or 'y') and `widthName` appear in the errors so the user knows which argument is wrong.
 */
export function toMatrix(value: unknown, width: number, name: string, widthName: string, into?: Float32Array): { data: Float32Array; rows: number } {
  return matrixOf(openNumbers(value, name), width, name, widthName, into);
}

/**
 * toMatrix of a source already opened (y, once it is known not to be labels). `into`: a buffer of
 * ours the copy goes to where it fits (trainBatch's, reused from call to call), else a new one.
 */
export function matrixOf(source: NumberSource, width: number, name: string, widthName: string, into?: Float32Array): { data: Float32Array; rows: number } {
  const buffer = (length: number) => (into !== undefined && into.length >= length ? into.subarray(0, length) : allocate(Float32Array, length, name, ShapeError));
  let data: Float32Array;
  if (source.kind === 'list' && isRowList(source)) {
    const rows = source.length;
    if (rows * width > MAX_INPUT_VALUES) throw new ShapeError(`${name} has ${rows} rows of ${width}; at most ${MAX_INPUT_VALUES} values are read`);
    data = buffer(rows * width);
    for (let r = 0; r < rows; r++) {
      const given = itemOf(source, r);
      const row = typeof given === 'object' && given !== null ? openNumbers(given, `${name} row ${r}`) : undefined;
      const length = row?.length;
      if (row === undefined || length !== width) {
        throw new ShapeError(`${name} row ${r} ${row === undefined ? `is ${describeValue(given)}, not a row` : `has ${length} values`}; ` +
          `expected ${width} (${widthName})`);
      }
      copyValues(row, width, data, r * width, name, width);
    }
  } else {
    const { length } = source;
    if (length % width !== 0) throw new ShapeError(`${name} has ${length} values, not a multiple of ${widthName} ${width}`);
    // The first value, read already, is checked before the copy is allocated: a fake length over nothing costs nothing.
    if (source.kind === 'list' && length > 0) checkNumber(source.first, name, 0, width);
    data = buffer(length);
    copyValues(source, length, data, 0, name, width);
  }
  if (data.length === 0) throw new ShapeError(`${name} has no rows`);
  return { data, rows: data.length / width };
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

/**
 * The mean over `rows` rows of per-chunk means, chunk c holding rows [c·chunkSize, (c+1)·chunkSize)
 * (the last may be smaller): each chunk's mean weighted by its row count. `first` is the index of
 * chunk 0's mean in `means`.
 */
export function meanOfChunkMeans(means: ArrayLike<number>, rows: number, chunkSize: number, first = 0): number {
  let weighted = 0;
  for (let chunk = 0; chunk * chunkSize < rows; chunk++) weighted += means[first + chunk]! * Math.min(chunkSize, rows - chunk * chunkSize);
  return weighted / rows;
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
