import { SpecError } from '../errors.js';

/**
 * A numeric parameter of an op (a leaky-ReLU slope, Adam's beta1, Huber's delta): its default and
 * its range. Validation and its message come from here, so every entry of the op tables states its
 * limits once and every reader (spec validation, the CLI, the app's menus, io) agrees on them.
 */
export interface NumberParam {
  kind: 'number';
  /** Undefined: the parameter is required, unless it is `optional`. */
  default?: number;
  /** Without a default: may be left out, and is then absent from the values (a setting that is off, such as clipNorm). */
  optional?: true;
  min: number;
  max: number;
  /** The bounds themselves are excluded. */
  minOpen?: boolean;
  maxOpen?: boolean;
  /** Only integers (a count, such as frequencyEncoding's octaves). */
  integer?: true;
  /** Why the range ends where it does, where that is not plain: the out-of-range message says it. */
  limit?: string;
  /** What it is, for docs and the app's labels. */
  doc: string;
}

export interface BooleanParam {
  kind: 'boolean';
  default: boolean;
  doc: string;
}

export type ParamSpec = NumberParam | BooleanParam;
export type ParamTable = Readonly<Record<string, ParamSpec>>;

/** The names of a table's optional parameters. */
type OptionalKeys<T extends ParamTable> = { [K in keyof T]: T[K] extends { optional: true } ? K : never }[keyof T];

/** The values of a table's parameters with every default filled in; an optional one left out is absent. */
export type ParamValues<T extends ParamTable> =
  & { -readonly [K in Exclude<keyof T, OptionalKeys<T>>]: T[K] extends BooleanParam ? boolean : number }
  & { -readonly [K in OptionalKeys<T>]?: number };

/**
 * A value for an error message. It never calls into the value (no toString, valueOf or getter, so
 * nothing a Proxy traps), hence never throws: primitives as written, anything else by its kind.
 */
export function describeValue(value: unknown): string {
  const kind = typeof value;
  switch (kind) {
    case 'string': {
      const text = value as string;
      return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
    }
    case 'number': case 'boolean': case 'undefined': return String(value);
    case 'bigint': return `the bigint ${(value as bigint).toString()}`;
    case 'symbol': return 'a symbol';
    case 'function': return 'a function';
    case 'object': {
      if (value === null) return 'null';
      try {
        return Array.isArray(value) ? 'an array' : 'an object';
      } catch {
        // Array.isArray throws on a revoked Proxy, and only then.
        return 'a revoked Proxy';
      }
    }
    default: return kind satisfies never;
  }
}

/** The range of a numeric parameter in words: "in [0, 1)", "> 0". */
export function describeRange(param: NumberParam): string {
  const low = Number.isFinite(param.min);
  const high = Number.isFinite(param.max) && param.max < Number.MAX_VALUE;
  if (low && high) return `in ${param.minOpen ? '(' : '['}${param.min}, ${param.max}${param.maxOpen ? ')' : ']'}`;
  if (low) return `${param.minOpen ? '>' : '≥'} ${param.min}`;
  if (high) return `${param.maxOpen ? '<' : '≤'} ${param.max}`;
  return 'finite';
}

/** Edit distance (insertions, deletions, substitutions; case ignored) for "did you mean" hints. */
function editDistance(a: string, b: string): number {
  const [s, t] = [a.toLowerCase(), b.toLowerCase()];
  let previous = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const current = [i];
    for (let j = 1; j <= t.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (s[i - 1] === t[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[t.length]!;
}

/** The known name closest to `name`, if one is close enough to be a likely slip (at most ~half its letters off). */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 2)) + 1;
  for (const candidate of known) {
    const distance = editDistance(name, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

/** Rejects every key of `keys` not in `known`, naming the closest known one. */
export function checkKeyNames(keys: readonly string[], known: readonly string[], at: string): void {
  for (const key of keys) {
    if (known.includes(key)) continue;
    const hint = closest(key, known);
    throw new SpecError(`${at} has an unknown key ${JSON.stringify(key)}${hint === undefined ? '' : `; did you mean ${JSON.stringify(hint)}?`}` +
      ` (known: ${known.join(', ')})`);
  }
}

/** Rejects every own key of `object` (one of ours, or a copy: Object.keys runs no user code on those) not in `known`. */
export const checkKeys = (object: object, known: readonly string[], at: string): void => checkKeyNames(Object.keys(object), known, at);

/** The largest finite float32, and the smallest normal one (GPUs may flush smaller magnitudes to 0). */
export const FLOAT32_MAX = 3.4028234663852886e38;
export const FLOAT32_MIN_NORMAL = 1.1754943508222875e-38;

/**
 * What the kernels see of `value`, which every backend but the reference reads as float32: ±Infinity
 * past FLOAT32_MAX, 0 below the smallest normal float32 (GPUs may flush subnormals), else the
 * nearest float32. A value in range whose float32 is not (a learning rate of 1e-50 becomes 0, a
 * beta1 of 0.999999999 becomes 1) would overflow or stall training at its first step.
 */
function asFloat32(value: number): number {
  if (Math.abs(value) > FLOAT32_MAX) return Math.sign(value) * Infinity;
  return Math.abs(value) < FLOAT32_MIN_NORMAL ? 0 : Math.fround(value);
}

const inRange = (param: NumberParam, value: number): boolean => Number.isFinite(value) && (!param.integer || Number.isInteger(value)) &&
  (param.minOpen ? value > param.min : value >= param.min) && (param.maxOpen ? value < param.max : value <= param.max);

/**
 * One parameter's value from `given` (undefined: its default, or undefined for an optional one),
 * checked against its range, in float64 and as the float32 the kernels will read.
 */
export function readParam(param: ParamSpec, given: unknown, at: string): number | boolean | undefined {
  if (param.kind === 'boolean') {
    if (given === undefined) return param.default;
    if (typeof given !== 'boolean') throw new SpecError(`${at} must be true or false, got ${describeValue(given)}`);
    return given;
  }
  if (given === undefined && param.default !== undefined) return param.default;
  if (given === undefined && param.optional) return undefined;
  if (typeof given !== 'number' || !inRange(param, given)) {
    throw new SpecError(`${at} must be ${param.integer ? 'an integer' : 'a finite number'} ${describeRange(param)}, got ${describeValue(given)}` +
      (param.limit === undefined ? '' : ` (${param.limit})`));
  }
  const float32 = asFloat32(given);
  if (!inRange(param, float32)) {
    throw new SpecError(`${at} is ${given}, which is ${float32} in float32, the precision the kernels compute in; it must be ` +
      `a finite number ${describeRange(param)} there too (float32 holds magnitudes up to ${FLOAT32_MAX}; below ${FLOAT32_MIN_NORMAL} GPUs may flush to 0)`);
  }
  return given;
}

/**
 * Every parameter of `table` read from `object` (`at` names it in messages: "layers[1]"), defaults
 * filled in. `others` are keys the object may hold besides the parameters (its `type`); any other key
 * is a SpecError. Each value is read once, so a getter cannot change it between check and use.
 */
export function readParams<T extends ParamTable>(table: T, object: Record<string, unknown>, at: string,
  others: readonly string[] = ['type']): ParamValues<T> {
  checkKeys(object, [...others, ...Object.keys(table)], at);
  const values: Record<string, number | boolean> = {};
  for (const [name, param] of Object.entries(table)) {
    const value = readParam(param, object[name], `${at}.${name}`);
    if (value !== undefined) values[name] = value;
  }
  return values as ParamValues<T>;
}
