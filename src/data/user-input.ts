import { BackpropError, SpecError } from '../errors.js';
import { checkKeyNames, describeValue } from '../ops/index.js';

/*
 * Reading what the user hands over: each value once, into our own memory, before anything checks
 * it. A getter, a Proxy or an array whose contents change between two reads then cannot pass a
 * check with one value and hand over another, and whatever user code runs while we read (a getter
 * that throws, a revoked Proxy, a trap) ends as one of our errors naming where it happened, its
 * own error kept as `cause`. Nothing here calls into a value to describe it (see describeValue).
 */

/** The error a refusal is raised as: SpecError for specs and options, ShapeError for data, ModelFileError for files. */
export type ErrorClass = new (message: string) => BackpropError;

/** An error thrown by user code, as words: its own `message` if it is a plain data property holding a string. */
export function thrownMessage(thrown: unknown): string {
  try {
    if (typeof thrown === 'object' && thrown !== null) {
      const message = Object.getOwnPropertyDescriptor(thrown, 'message')?.value;
      if (typeof message === 'string') return message.length > 200 ? `${message.slice(0, 200)}…` : message;
    }
  } catch {
    // A Proxy whose getOwnPropertyDescriptor trap throws: describe it by kind only.
  }
  return describeValue(thrown);
}

/** `error` with `cause` set, as `new Error(message, { cause })` would (our classes take a message only). */
export function withCause<E extends Error>(error: E, cause: unknown): E {
  Object.defineProperty(error, 'cause', { value: cause, writable: true, configurable: true });
  return error;
}

/**
 * Runs `read`, which touches a user value (a property read, Object.keys, a typed array copy).
 * Our own errors pass through; anything else (a getter or trap that throws, a revoked Proxy, an
 * allocation refused) becomes `Type` saying where, with what was thrown as its cause.
 */
export function guarded<T>(read: () => T, at: string, Type: ErrorClass): T {
  try {
    return read();
  } catch (thrown) {
    if (thrown instanceof BackpropError) throw thrown;
    throw withCause(new Type(`reading ${at} threw: ${thrownMessage(thrown)}`), thrown);
  }
}

/** `value[key]`, read once, guarded. */
export const readProperty = (value: object, key: string | number, at: string, Type: ErrorClass): unknown =>
  guarded(() => (value as Record<string | number, unknown>)[key], at, Type);

/**
 * A copy of the object `value`: every own enumerable key, and every `known` one it inherits, each
 * read once, in a null-prototype record. The caller checks the keys on the copy; `value` not an
 * object is a `Type` error.
 */
export function copyRecord(value: unknown, known: readonly string[], at: string, Type: ErrorClass = SpecError): Record<string, unknown> {
  if (typeof value !== 'object' || value === null) throw new Type(`${at} must be an object, got ${describeValue(value)}`);
  const own = guarded(() => Object.keys(value), `the keys of ${at}`, Type);
  const record: Record<string, unknown> = Object.create(null);
  for (const key of own) record[key] = readProperty(value, key, `${at}.${key}`, Type);
  for (const key of known) {
    if (own.includes(key)) continue;
    const inherited = readProperty(value, key, `${at}.${key}`, Type);
    if (inherited !== undefined) record[key] = inherited;
  }
  return record;
}

/** copyRecord, refusing (SpecError) an own key not in `known`, named with the closest known one, before reading any. */
export function readRecord(value: unknown, known: readonly string[], at: string, Type: ErrorClass = SpecError): Record<string, unknown> {
  if (typeof value !== 'object' || value === null) throw new Type(`${at} must be an object, got ${describeValue(value)}`);
  const own = guarded(() => Object.keys(value), `the keys of ${at}`, Type);
  checkKeyNames(own, known, at);
  const record: Record<string, unknown> = Object.create(null);
  for (const key of known) {
    const entry = readProperty(value, key, `${at}.${key}`, Type);
    // An own key set to undefined is kept, as it was given.
    if (entry !== undefined || own.includes(key)) record[key] = entry;
  }
  return record;
}

/**
 * Whether `value` is a genuine Array, without calling into it; false for anything else, including
 * a revoked Proxy (Array.isArray throws for that one only).
 */
export function isArray(value: unknown): value is unknown[] {
  try {
    return Array.isArray(value);
  } catch {
    return false;
  }
}

/** The length of a genuine Array, read once; `what` says what was expected, for the message when `value` is not one. */
export function arrayLength(value: unknown, at: string, what: string, Type: ErrorClass): number {
  if (!isArray(value)) throw new Type(`${at} must be ${what}, got ${describeValue(value)}`);
  return guarded(() => value.length, `${at}.length`, Type);
}

/** The first `length` elements of an array, each read once (a hole reads as undefined): check the length first. */
export const readElements = (value: unknown[], length: number, at: string, Type: ErrorClass): unknown[] =>
  Array.from({ length }, (_, i) => readProperty(value, i, `${at}[${i}]`, Type));

/** %TypedArray%.prototype[Symbol.toStringTag]'s getter: a typed array's kind from its internal slot, undefined for anything else (a Proxy included). */
const typedArrayTag = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag)!.get!;

export type TypedArrayName = 'Int8Array' | 'Uint8Array' | 'Uint8ClampedArray' | 'Int16Array' | 'Uint16Array' | 'Int32Array' | 'Uint32Array' |
  'Float32Array' | 'Float64Array' | 'BigInt64Array' | 'BigUint64Array';

/** The kind of a genuine typed array, read from its internal slot (no getter, no trap runs), or undefined. */
export const typedArrayName = (value: unknown): TypedArrayName | undefined => typedArrayTag.call(value) as TypedArrayName | undefined;

/** ArrayBuffer.prototype.byteLength's getter: it throws for anything but a genuine (non-shared) ArrayBuffer. */
const byteLengthOf = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'byteLength')!.get!;

/** Whether `value` is a genuine ArrayBuffer, read from its internal slot. */
export function isArrayBuffer(value: unknown): value is ArrayBuffer {
  try {
    byteLengthOf.call(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * A copy of the bytes of a genuine Uint8Array or ArrayBuffer, made from their internal slots (a
 * Uint8Array's own `length`, a subclass or a Proxy cannot change what is copied); undefined for
 * anything else. A detached buffer is a `Type` error.
 */
export function copyBytes(value: unknown, at: string, Type: ErrorClass): Uint8Array | undefined {
  if (isArrayBuffer(value)) return guarded(() => new Uint8Array(new Uint8Array(value)), at, Type);
  if (typedArrayName(value) === 'Uint8Array') return guarded(() => new Uint8Array(value as Uint8Array), at, Type);
  return undefined;
}

/**
 * Allocates `length` values of `Array` (float32 unless said), where a refused allocation (past the
 * engine's memory) is a `Type` error naming what it was for rather than a RangeError.
 */
export function allocate<T>(Array: new (length: number) => T, length: number, at: string, Type: ErrorClass): T {
  try {
    return new Array(length);
  } catch (thrown) {
    throw withCause(new Type(`${at}: could not allocate ${length} values to copy it into (${thrownMessage(thrown)})`), thrown);
  }
}

/** Past this many values (4 GiB of float32) an input is a mistake: refused before anything is allocated. */
export const MAX_INPUT_VALUES = 2 ** 30;

/**
 * Plain JSON data (objects, arrays, strings, finite or not numbers, booleans, null, undefined)
 * copied from `value`, each property and element read once, at most `maxDepth` levels deep and
 * `maxValues` values in all (so a cycle or a huge fake length ends in a `Type` error). Anything
 * else (a function, a symbol, a bigint, a typed array) is a `Type` error naming where it sits.
 */
export function copyJson(value: unknown, at: string, Type: ErrorClass, maxDepth = 64, maxValues = 1 << 20): unknown {
  let budget = maxValues;
  const copy = (item: unknown, where: string, depth: number): unknown => {
    if (--budget < 0) throw new Type(`${at} holds more than ${maxValues} values; it is not a model description`);
    if (item === null || item === undefined || typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean') return item;
    if (typeof item !== 'object') throw new Type(`${where} is ${describeValue(item)}; expected JSON data`);
    if (depth >= maxDepth) throw new Type(`${where} is nested more than ${maxDepth} levels deep (a cycle?)`);
    if (isArray(item)) {
      const length = guarded(() => item.length, `${where}.length`, Type);
      if (length > budget) throw new Type(`${where} has ${length} entries; ${at} holds at most ${maxValues} values`);
      return Array.from({ length }, (_, i) => copy(readProperty(item, i, `${where}[${i}]`, Type), `${where}[${i}]`, depth + 1));
    }
    if (typedArrayName(item) !== undefined || isArrayBuffer(item)) throw new Type(`${where} is binary data; expected JSON data`);
    const record: Record<string, unknown> = Object.create(null);
    for (const key of guarded(() => Object.keys(item), `the keys of ${where}`, Type)) {
      record[key] = copy(readProperty(item, key, `${where}.${key}`, Type), `${where}.${key}`, depth + 1);
    }
    return record;
  };
  return copy(value, at, 0);
}
