/**
 * Hostile input at every public entry point: sparse arrays, absurd lengths, Proxies whose traps
 * throw or answer differently each time, revoked Proxies, getters that throw, values whose
 * toString/valueOf/Symbol.toPrimitive throw or are not functions, null prototypes. Each call either
 * refuses with a BackpropError subclass (never a TypeError or RangeError) whose message names the
 * problem (a user's throw kept as `cause`), or succeeds having read every value exactly once, so a
 * value cannot pass the checks and be used as another. After each, the network trains bit for bit
 * like a twin (same spec and seed) that saw only the clean calls.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BackpropError, createNetwork, fromTfjsArtifacts, loadNetwork, ModelFileError, ShapeError, SpecError,
  type Network, type NetworkSpec, type TfjsArtifacts,
} from '../../src/index.js';
import { ACTIVATION_NAMES, ACTIVATIONS, FLOAT32_MAX, LAYER_KINDS, LAYERS, LOSS_NAMES, LOSSES, OPTIMIZER_NAMES, OPTIMIZERS, type NumberParam, type ParamTable } from '../../src/ops/index.js';

type ErrorClass = typeof SpecError | typeof ShapeError | typeof ModelFileError;

/** Settles within `ms`, or fails the test saying it hung. */
function within<T>(promise: Promise<T>, ms = 20_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the call did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The call rejects with `Type` (so a BackpropError) whose message holds every fragment; `cause`: the user's error it wraps. */
async function expectRefused(call: () => Promise<unknown>, Type: ErrorClass, fragments: string[], cause?: string): Promise<void> {
  let error: unknown;
  try {
    // The call itself may throw synchronously only as a BackpropError too: run it inside the bound.
    await within(Promise.resolve().then(call));
  } catch (thrown) {
    error = thrown;
  }
  expect(error, 'the call was accepted').toBeInstanceOf(Type);
  expect(error).toBeInstanceOf(BackpropError);
  const { message, name } = error as Error;
  expect(name).toBe(Type.name);
  for (const fragment of fragments) expect(message).toContain(fragment);
  if (cause !== undefined) expect(((error as Error).cause as Error).message).toBe(cause);
}

// ---------------------------------------------------------------------------------------------
// Hostile values.

const BOOM = 'boom from user code';

/** A Proxy that has been revoked: every operation on it throws a TypeError. */
function revoked(): object {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

/** A Proxy over `target` whose every trap throws. */
const trapsThrow = (target: object = {}): object => new Proxy(target, {
  get() { throw new Error(BOOM); },
  ownKeys() { throw new Error(BOOM); },
  has() { throw new Error(BOOM); },
  getOwnPropertyDescriptor() { throw new Error(BOOM); },
  getPrototypeOf() { throw new Error(BOOM); },
});

/** `values` as an array whose element `index` reads `first` the first time and `later` every time after; `reads` counts. */
function changing(values: readonly number[], index: number, first: unknown, later: unknown): { array: number[]; reads: () => number } {
  let count = 0;
  const array = new Proxy([...values], {
    get(target, key, receiver) {
      if (key === String(index)) return count++ === 0 ? first : later;
      return Reflect.get(target, key, receiver);
    },
  });
  return { array, reads: () => count };
}

/** An object with a getter at `key` that throws. */
const throwingGetter = (base: object, key: string): object => Object.defineProperty({ ...base }, key, {
  enumerable: true,
  get() { throw new Error(BOOM); },
});

/** Objects that cannot be turned into a primitive: each way of trying throws or finds no function. */
const UNPRINTABLE: [string, unknown][] = [
  ['toString not a function', { toString: 5, valueOf: 5 }],
  ['toPrimitive throws', { [Symbol.toPrimitive]() { throw new Error(BOOM); } }],
  ['a null-prototype object', Object.create(null)],
  ['a symbol', Symbol('s')],
  ['a bigint', 10n],
];

// ---------------------------------------------------------------------------------------------
// The network under test: inputSize 3, two softmax outputs (targets and class labels), Adam (state a
// refused call must not touch), standardize (statistics a refused call must not set), batchSize 4.

const INPUT = 3;
const X_ROWS = Array.from({ length: 4 }, (_, r) => [Math.sin(r + 1), (r % 3) / 2 - 0.5, Math.cos(2 * r)]);
const X = Float32Array.from(X_ROWS.flat());
const CLASSES = [0, 1, 1, 0];
const Y = Float32Array.from(CLASSES.flatMap((c) => (c === 0 ? [1, 0] : [0, 1])));

const spec = (backend: string): NetworkSpec => ({
  inputSize: INPUT,
  layers: [{ type: 'dense', units: 4, activation: 'tanh' }, { type: 'dense', units: 2 }],
  loss: 'softmaxCrossEntropy',
  optimizer: { type: 'adam', learningRate: 0.05 },
  batchSize: 4,
  standardize: true,
  seed: 11,
  backend: backend as NetworkSpec['backend'],
});

const flat = async (net: Network) => (await net.getWeights()).flatMap((l) => Object.values(l).flatMap((v: Float32Array) => [...v]));

/** Two more steps on both networks: the same losses, the same weights bit for bit, and they moved. */
async function expectLockstep(net: Network, twin: Network): Promise<void> {
  const before = await flat(net);
  for (let step = 0; step < 2; step++) expect(await within(net.trainBatch(X, Y))).toBe(await within(twin.trainBatch(X, Y)));
  const after = await flat(net);
  expect(after).toEqual(await flat(twin));
  expect(after).not.toEqual(before);
}

/** A hostile call; `twin`, where the call is accepted, the clean call that must have the same effect. */
interface Case {
  name: string;
  call: (net: Network) => Promise<unknown>;
  refused?: [ErrorClass, string[], string?];
  twin?: (net: Network) => Promise<unknown>;
  /** Checks on the accepted call's result (or on the net after it). */
  check?: (result: unknown, net: Network) => void | Promise<void>;
}

/** Runs each case on `net`, and the clean call on `twin`, then steps both in lockstep. */
function runCases(backend: string, cases: Case[]): void {
  let net: Network;
  let twin: Network;
  beforeAll(async () => {
    [net, twin] = await Promise.all([createNetwork(spec(backend)), createNetwork(spec(backend))]);
  });
  afterAll(() => {
    net.dispose();
    twin.dispose();
  });
  for (const c of cases) {
    it(c.name, async () => {
      if (c.refused) {
        const [Type, fragments, cause] = c.refused;
        await expectRefused(() => c.call(net), Type, fragments, cause);
      } else {
        const result = await within(c.call(net));
        const expected = c.twin ? await within(c.twin(twin)) : undefined;
        if (c.twin && !(result === undefined && expected === undefined)) expect(result).toEqual(expected);
        await c.check?.(result, net);
      }
      await expectLockstep(net, twin);
    });
  }
}

const refusedData = (name: string, call: Case['call'], fragments: string[], cause?: string): Case =>
  ({ name, call, refused: [ShapeError, fragments, cause] });
const refusedSpec = (name: string, call: Case['call'], fragments: string[], cause?: string): Case =>
  ({ name, call, refused: [SpecError, fragments, cause] });

// ---------------------------------------------------------------------------------------------
// Data: x and y of fit, trainBatch, predict and evaluate.

/** Every way of handing over a bad x, for each call that takes one. */
const BAD_X: [string, () => unknown, string[], string?][] = [
  ['a fake length of 4e10', () => ({ length: 4e10 }), ['x has 40000000000 entries', 'at most 1073741824']],
  ['a fake length of 999,999,999 over nothing', () => ({ length: 999_999_999 }), ['x has undefined at row 0, column 0; expected a number']],
  ['a length that is an object', () => ({ length: { valueOf: () => 12 } }), ['x must be a Float32Array or an array of rows', 'its length is an object']],
  ['a revoked Proxy', revoked, ['reading x.length threw', 'revoked']],
  ['a Proxy whose traps throw', () => trapsThrow([1, 2, 3]), ['reading x.length threw', BOOM], BOOM],
  ['a hole', () => [1, , 3], ['x has undefined at row 0, column 1; expected a number']],
  ['holes only (new Array(3))', () => new Array(3), ['x has undefined at row 0, column 0']],
  ['a getter that throws', () => Object.defineProperty([1, 2, 3], 1, { get() { throw new Error(BOOM); } }), ['reading x[1] threw', BOOM], BOOM],
  ['NaN when first read, then an object whose toString is not a function', () => changing([1, 2, 3], 0, NaN, { toString: 5 }).array,
    ['x has a non-finite value (NaN) at row 0, column 0']],
  ...UNPRINTABLE.map(([what, value]): [string, () => unknown, string[]] =>
    [`an element that is ${what}`, () => [1, value, 3], ['x has', 'at row 0, column 1; expected a number']]),
  ['a row that is a revoked Proxy', () => [[1, 2, 3], revoked()], ['reading x row 1.length threw']],
  ['a row with a hole', () => [[1, 2, 3], [1, , 3]], ['x has undefined at row 1, column 1']],
  ['a row that is a number', () => [[1, 2, 3], 5], ['x row 1 is 5, not a row; expected 3 (inputSize)']],
  ['a BigInt64Array', () => new BigInt64Array(3), ['x is a BigInt64Array']],
  ['a Float32Array on a detached buffer', () => {
    const data = new Float32Array(3);
    structuredClone(data.buffer, { transfer: [data.buffer] });
    return data;
  }, ['reading x threw']],
  ['1e39, finite but not in float32', () => [1, 1e39, 3], ['x has a non-finite value in float32 (1e+39', 'row 0, column 1']],
  ['1e39 in a Float64Array', () => Float64Array.of(1, 2, -1e39), ['x has a non-finite value in float32 (-1e+39', 'row 0, column 2']],
];

const BAD_Y: [string, () => unknown, string[], string?][] = [
  ['a fake length of 4e10', () => ({ length: 4e10 }), ['y has 40000000000 entries']],
  ['a revoked Proxy', revoked, ['reading y.length threw', 'revoked']],
  ['labels with a hole', () => [0, , 1, 0], ['y row 1 has the label undefined; expected a class index']],
  ['labels where one is an object with a throwing toPrimitive', () => [0, 1, { [Symbol.toPrimitive]() { throw new Error(BOOM); } }, 0],
    ['y row 2 has the label an object']],
  ['labels read 1, then 7', () => changing(CLASSES, 1, 7, 1).array, ['y row 1 has the label 7']],
  ['targets with a throwing getter', () => Object.defineProperty(Array.from(Y), 3, { get() { throw new Error(BOOM); } }), ['reading y[3] threw'], BOOM],
];

const dataCases = (): Case[] => [
  ...BAD_X.flatMap(([what, x, fragments, cause]) => [
    refusedData(`fit: x ${what}`, (n) => n.fit(x() as never, Y), fragments, cause),
    refusedData(`trainBatch: x ${what}`, (n) => n.trainBatch(x() as never, Y), fragments, cause),
    refusedData(`predict: x ${what}`, (n) => n.predict(x() as never), fragments, cause),
    refusedData(`evaluate: x ${what}`, (n) => n.evaluate(x() as never, Y), fragments, cause),
  ]),
  ...BAD_Y.flatMap(([what, y, fragments, cause]) => [
    refusedData(`fit: y ${what}`, (n) => n.fit(X, y() as never), fragments, cause),
    refusedData(`trainBatch: y ${what}`, (n) => n.trainBatch(X, y() as never), fragments, cause),
    refusedData(`evaluate: y ${what}`, (n) => n.evaluate(X, y() as never), fragments, cause),
  ]),
  {
    name: 'predict: a value read 0.25, then NaN, is read once and used as 0.25',
    call: async (n) => {
      const { array, reads } = changing(Array.from(X), 4, 0.25, NaN);
      const outputs = await n.predict(array);
      expect(reads()).toBe(1);
      return outputs;
    },
    twin: (t) => t.predict(Float32Array.from(X, (v, i) => (i === 4 ? 0.25 : v))),
  },
  {
    name: 'trainBatch: labels read once (1, then 7), from a null-prototype array-like',
    call: (n) => {
      const { array } = changing(CLASSES, 1, 1, 7);
      const labels = Object.assign(Object.create(null), { ...array, length: 4 });
      return n.trainBatch(X_ROWS, [...CLASSES.keys()].map((i) => labels[i]));
    },
    twin: (t) => t.trainBatch(X_ROWS, CLASSES),
  },
  {
    name: 'predict: a Float32Array whose own length lies is read by its real length',
    call: (n) => n.predict(Object.defineProperty(X.slice(), 'length', { value: 3 })),
    twin: (t) => t.predict(X),
    check: (result) => expect((result as Float32Array).length).toBe(4 * 2),
  },
  {
    // Breakage 3 for data: the CPU backends trained on the caller's own Float32Array, so a change
    // made between epochs (here in onEpochEnd) was trained on unchecked. Now fit trains on its copy.
    name: 'fit: x changed to NaN by onEpochEnd is not what the next epoch trains on',
    call: (n) => {
      const x = X.slice();
      return n.fit(x, Y, { epochs: 2, onEpochEnd: () => { x.fill(NaN); } });
    },
    twin: (t) => t.fit(X, Y, { epochs: 2 }),
  },
];

// ---------------------------------------------------------------------------------------------
// Options of fit, save and restore.

const optionCases = (backend: string): Case[] => [
  refusedSpec('fit: options a revoked Proxy', (n) => n.fit(X, Y, revoked() as never), ['reading the keys of fit options threw', 'revoked']),
  refusedSpec('fit: options whose traps throw', (n) => n.fit(X, Y, trapsThrow() as never), ['reading the keys of fit options threw', BOOM], BOOM),
  refusedSpec('fit: an epochs getter that throws', (n) => n.fit(X, Y, throwingGetter({}, 'epochs') as never), ['reading fit options.epochs threw', BOOM], BOOM),
  refusedSpec('fit: epochs an object with valueOf', (n) => n.fit(X, Y, { epochs: { valueOf: () => 2 } } as never), ['epochs must be a positive integer, got an object']),
  refusedSpec('fit: epochs a symbol', (n) => n.fit(X, Y, { epochs: Symbol('e') } as never), ['epochs must be a positive integer, got a symbol']),
  refusedSpec('fit: shuffle not a boolean', (n) => n.fit(X, Y, { shuffle: 'yes' } as never), ['shuffle must be true or false, got "yes"']),
  refusedSpec('fit: onEpochEnd not a function', (n) => n.fit(X, Y, { onEpochEnd: 5 } as never), ['onEpochEnd must be a function, got 5']),
  refusedSpec('fit: onBatchEnd a revoked Proxy', (n) => n.fit(X, Y, { onBatchEnd: revoked() } as never), ['onBatchEnd must be a function, got a revoked Proxy']),
  {
    name: 'fit: epochs read once (1, then 1e9), from a null-prototype object',
    call: (n) => {
      let reads = 0;
      const options = Object.create(null, { epochs: { enumerable: true, get: () => (reads++ === 0 ? 1 : 1e9) } });
      return n.fit(X, Y, options);
    },
    twin: (t) => t.fit(X, Y, { epochs: 1 }),
  },
  refusedSpec('save: options a revoked Proxy', (n) => n.save(revoked() as never), ['reading the keys of save options threw']),
  refusedSpec('save: optimizerState a getter that throws', (n) => n.save(throwingGetter({}, 'optimizerState') as never), ['reading save options.optimizerState threw'], BOOM),
  refusedSpec('save: optimizerState not a boolean', (n) => n.save({ optimizerState: 1 } as never), ['optimizerState must be true or false, got 1']),
  refusedSpec('restore: options a revoked Proxy', (n) => n.restore(revoked() as never), ['reading the keys of restore options threw']),
  refusedSpec('restore: a threads getter that throws', (n) => n.restore(throwingGetter({ backend }, 'threads') as never), ['reading restore options.threads threw'], BOOM),
  refusedSpec('restore: a device whose has trap throws', (n) => n.restore({ device: trapsThrow() } as never), ['reading device threw', BOOM], BOOM),
  {
    name: 'restore: backend read once (the network\'s, then "bogus")',
    call: (n) => {
      let reads = 0;
      return n.restore({ get backend() { return reads++ === 0 ? backend : 'bogus'; } } as never);
    },
    twin: (t) => t.restore({ backend: backend as never }),
    check: (_, n) => expect(n.backend).toBe(backend),
  },
];

// ---------------------------------------------------------------------------------------------
// setWeights.

type Entry = { weights: ArrayLike<number>; bias: ArrayLike<number> };
/** Weights every value of which is known: layer l's value i is (l + 1)·0.01·(i − 5). */
const known = (): Entry[] => [[12, 4], [8, 2]].map(([w, b], l) => ({
  weights: Array.from({ length: w! }, (_, i) => (l + 1) * 0.01 * (i - 5)),
  bias: Array.from({ length: b! }, (_, i) => (l + 1) * 0.02 * i),
}));
const withLayer0 = (change: Partial<Record<keyof Entry, unknown>>): Entry[] => [{ ...known()[0]!, ...change } as Entry, known()[1]!];

const setWeightsCases = (): Case[] => [
  // Breakage 4 for setWeights: holes were skipped (Array.prototype.forEach), leaving those layers' weights at zero.
  refusedData('a list with a hole for layer 0', (n) => n.setWeights([, known()[1]!] as never), ['setWeights: layer 0 must be { weights, bias } (dense), got undefined']),
  refusedData('a list of holes only (new Array(2))', (n) => n.setWeights(new Array(2)), ['setWeights: layer 0 must be { weights, bias } (dense), got undefined']),
  refusedData('a list that is a revoked Proxy', (n) => n.setWeights(revoked() as never), ['setWeights needs 2 layers (an array), got a revoked Proxy']),
  refusedData('a list whose element getter throws', (n) => n.setWeights(Object.defineProperty(known(), 1, { get() { throw new Error(BOOM); } })),
    ['reading setWeights\' argument[1] threw', BOOM], BOOM),
  refusedData('a list whose length reads 2, then 3', (n) => {
    let reads = 0;
    const list = new Proxy(known(), { get: (t, k, r) => (k === 'length' ? (reads++ === 0 ? 2 : 3) : Reflect.get(t, k, r)) });
    return n.setWeights(Object.defineProperty(list, 0, { value: null }));
  }, ['layer 0 must be { weights, bias } (dense), got null']),
  refusedData('an entry that is a revoked Proxy', (n) => n.setWeights([revoked(), known()[1]!] as never), ['reading the keys of setWeights layer 0 (dense) threw']),
  refusedData('an entry whose traps throw', (n) => n.setWeights([trapsThrow(), known()[1]!] as never), ['reading the keys of setWeights layer 0 (dense) threw', BOOM], BOOM),
  refusedData('a weights getter that throws', (n) => n.setWeights([throwingGetter(known()[0]!, 'weights'), known()[1]!] as never),
    ['reading setWeights layer 0 (dense).weights threw', BOOM], BOOM),
  refusedData('weights with a fake length of 4e10', (n) => n.setWeights(withLayer0({ weights: { length: 4e10 } })), ['setWeights: layer 0 weights [3, 4] has 40000000000 entries']),
  refusedData('weights with a hole', (n) => n.setWeights(withLayer0({ weights: Object.assign(new Array(12).fill(0.1), { 3: undefined }) })),
    ['layer 0 weights [3, 4][3] is undefined; expected a number']),
  refusedData('weights as a revoked Proxy', (n) => n.setWeights(withLayer0({ weights: revoked() })), ['reading setWeights: layer 0 weights [3, 4].length threw']),
  refusedData('a weight whose toPrimitive throws', (n) => n.setWeights(withLayer0({ weights: Array.from({ length: 12 }, (_, i) => (i === 2 ? { [Symbol.toPrimitive]() { throw new Error(BOOM); } } : 0)) })),
    ['layer 0 weights [3, 4][2] is an object; expected a number']),
  refusedData('weights as a BigInt64Array', (n) => n.setWeights(withLayer0({ weights: new BigInt64Array(12) })), ['is a BigInt64Array']),
  {
    // Breakage 3: a weight read 0.25 when checked and NaN when copied. Read once now, it is 0.25.
    name: 'a weight read 0.25, then NaN, is read once and set as 0.25',
    call: async (n) => {
      const { array, reads } = changing(known()[0]!.weights as number[], 0, 0.25, NaN);
      await n.setWeights(withLayer0({ weights: array }));
      expect(reads()).toBe(1);
    },
    twin: (t) => t.setWeights(withLayer0({ weights: [0.25, ...Array.from(known()[0]!.weights).slice(1)] })),
  },
  {
    // Breakage 3: a weights getter with 12 floats when checked and 52 when copied put NaN in the padding.
    name: 'a weights getter read once (12 floats, then 52 NaN)',
    call: (n) => {
      let reads = 0;
      const entry = { ...known()[0]!, get weights() { return reads++ === 0 ? known()[0]!.weights : new Array(52).fill(NaN); } };
      return n.setWeights([entry, known()[1]!]);
    },
    twin: (t) => t.setWeights(known()),
  },
  {
    name: 'weights as a Float32Array whose own length lies, and a null-prototype entry',
    call: (n) => n.setWeights([Object.assign(Object.create(null), {
      weights: Object.defineProperty(Float32Array.from(known()[0]!.weights), 'length', { value: 3 }),
      bias: known()[0]!.bias,
    }), known()[1]!]),
    twin: (t) => t.setWeights(known()),
  },
];

// ---------------------------------------------------------------------------------------------

for (const backend of ['cpu', 'reference']) {
  describe(`data (${backend})`, () => runCases(backend, dataCases()));
  describe(`options of fit, save and restore (${backend})`, () => runCases(backend, optionCases(backend)));
  describe(`setWeights (${backend})`, () => runCases(backend, setWeightsCases()));
}
describe('setWeights (webgpu)', () => runCases('webgpu', setWeightsCases().filter((c) => /hole for layer 0|0.25, then NaN|12 floats/.test(c.name))));

// ---------------------------------------------------------------------------------------------
// createNetwork: the spec.

const base = spec('cpu');
const withSpec = (change: Record<string, unknown>) => ({ ...base, ...change }) as NetworkSpec;
const dense = (units: number) => ({ type: 'dense', units });

const SPEC_CASES: [string, () => unknown, string[], string?][] = [
  ['a revoked Proxy', revoked, ['reading the keys of the network spec threw', 'revoked']],
  ['a Proxy whose traps throw', () => trapsThrow(), ['reading the keys of the network spec threw', BOOM], BOOM],
  ['an inputSize getter that throws', () => throwingGetter(base, 'inputSize'), ['reading the network spec.inputSize threw', BOOM], BOOM],
  ['inputSize an object with valueOf', () => withSpec({ inputSize: { valueOf: () => 3 } }), ['inputSize must be a positive integer, got an object']],
  ['inputSize a bigint', () => withSpec({ inputSize: 3n }), ['inputSize must be a positive integer, got the bigint 3']],
  ['layers: new Array(3)', () => withSpec({ layers: new Array(3) }), ['layers[0] must be an object, got undefined']],
  ['layers with a hole', () => withSpec({ layers: [dense(4), , dense(2)] }), ['layers[1] must be an object, got undefined']],
  ['layers of length 1e9', () => withSpec({ layers: Object.assign([], { length: 1e9 }) }), ['layers has 1000000000 entries; more than 65536']],
  ['layers an array-like', () => withSpec({ layers: { length: 1, 0: dense(2) } }), ['layers must be a non-empty array', 'got an object']],
  ['layers a revoked Proxy', () => withSpec({ layers: revoked() }), ['layers must be a non-empty array', 'got a revoked Proxy']],
  ['a layer that is a revoked Proxy', () => withSpec({ layers: [revoked(), dense(2)] }), ['reading the keys of layers[0] threw']],
  ['a layer whose units getter throws', () => withSpec({ layers: [throwingGetter(dense(4), 'units'), dense(2)] }), ['reading layers[0].units threw', BOOM], BOOM],
  ['a layer type whose toString throws', () => withSpec({ layers: [{ type: { toString() { throw new Error(BOOM); } }, units: 4 }, dense(2)] }),
    ['layers[0].type an object is unknown']],
  ['units a symbol', () => withSpec({ layers: [{ type: 'dense', units: Symbol('u') }, dense(2)] }), ['layers[0].units must be a positive integer, got a symbol']],
  ['an optimizer that is a revoked Proxy', () => withSpec({ optimizer: revoked() }), ['reading the keys of optimizer threw']],
  ['a learningRate getter that throws', () => withSpec({ optimizer: throwingGetter({ type: 'adam' }, 'learningRate') }), ['reading optimizer.learningRate threw'], BOOM],
  ['a loss whose traps throw', () => withSpec({ loss: trapsThrow() }), ['reading the keys of loss threw', BOOM], BOOM],
  ['a device whose has trap throws', () => withSpec({ device: trapsThrow() }), ['reading device threw', BOOM], BOOM],
];

/**
 * Every numeric parameter of every op table, with a spec that sets it: values finite in float64 but
 * past float32's largest (where the range has no upper bound) or flushed to 0 in float32 (where 0
 * is excluded) are SpecErrors naming the parameter, from the tables' ranges.
 */
function float32Cases(): [string, NetworkSpec, string][] {
  const cases: [string, NetworkSpec, string][] = [];
  const add = (table: ParamTable, at: string, make: (name: string, value: number) => NetworkSpec) => {
    for (const [name, param] of Object.entries(table)) {
      if (param.kind !== 'number') continue;
      const { min, max, minOpen } = param as NumberParam;
      if (max === Infinity) cases.push([`${at}.${name} 1e39`, make(name, 1e39), `${at}.${name} is 1e+39, which is Infinity in float32`]);
      if (min === 0 && minOpen) cases.push([`${at}.${name} 1e-45`, make(name, 1e-45), `${at}.${name} is 1e-45, which is 0 in float32`]);
    }
  };
  for (const type of OPTIMIZER_NAMES) {
    add(OPTIMIZERS[type].params, 'optimizer', (name, value) => withSpec({ optimizer: { type, learningRate: 0.1, [name]: value } }));
  }
  for (const type of LOSS_NAMES) add(LOSSES[type].params, 'loss', (name, value) => withSpec({ loss: { type, [name]: value } }));
  for (const type of LAYER_KINDS) {
    const extra = type === 'dense' ? { units: 4 } : {};
    add(LAYERS[type].params, 'layers[1]', (name, value) => withSpec({ layers: [dense(4), { type, ...extra, [name]: value }, dense(2)] }));
  }
  for (const type of ACTIVATION_NAMES) {
    add(ACTIVATIONS[type].params, 'layers[1]', (name, value) => withSpec({ layers: [dense(4), { type, [name]: value }, dense(2)] }));
  }
  return cases;
}

describe('createNetwork refuses a hostile spec with a SpecError', () => {
  it.each(SPEC_CASES)('%s', async (_, make, fragments, cause) => {
    await expectRefused(() => createNetwork(make() as NetworkSpec), SpecError, fragments, cause);
  });

  it.each(float32Cases())('%s is outside float32', async (_, bad, fragment) => {
    await expectRefused(() => createNetwork(bad), SpecError, [fragment]);
  });

  it('covers every unbounded and every positive parameter of the tables (a new one is covered by construction)', () => {
    const names = float32Cases().map(([name]) => name);
    expect(names).toContain('optimizer.learningRate 1e39');
    expect(names).toContain('optimizer.learningRate 1e-45');
    expect(names).toContain('optimizer.clipNorm 1e39');
    expect(names).toContain('loss.delta 1e39');
    expect(names).toContain('layers[1].l2 1e39');
    expect(names).toContain('layers[1].epsilon 1e-45');
    expect(names).toContain('layers[1].slope 1e39');
    expect(names.length).toBeGreaterThanOrEqual(20);
  });

  it.each([
    ['beta1 0.99999999999 (1 in float32)', { type: 'adam', learningRate: 0.1, beta1: 0.99999999999 }, 'optimizer.beta1 is 0.99999999999, which is 1 in float32'],
    ['learningRate 1e300', { type: 'sgd', learningRate: 1e300 }, 'optimizer.learningRate is 1e+300, which is Infinity in float32'],
    ['learningRate 1e-40 (a float32 subnormal)', { type: 'sgd', learningRate: 1e-40 }, 'optimizer.learningRate is 1e-40, which is 0 in float32'],
  ])('optimizer %s', async (_, optimizer, fragment) => {
    await expectRefused(() => createNetwork(withSpec({ optimizer })), SpecError, [fragment]);
  });

  it('accepts float32\'s largest learning rate and smallest normal epsilon', async () => {
    const net = await createNetwork(withSpec({ optimizer: { type: 'adam', learningRate: FLOAT32_MAX, epsilon: 1e-30 } }));
    expect(net.plan.optimizer).toMatchObject({ learningRate: FLOAT32_MAX, epsilon: 1e-30 });
    net.dispose();
  });

  it('reads every key of the spec and of each layer once: getters that change are used as first read', async () => {
    let reads = 0;
    const layer = { type: 'dense', get units() { reads++; return reads === 1 ? 4 : -1; }, activation: 'tanh' };
    const hostile = Object.assign(Object.create(null), { ...base, layers: [layer, dense(2)] });
    const [net, twin] = await Promise.all([createNetwork(hostile), createNetwork(base)]);
    expect(reads).toBe(1);
    expect(net.plan).toEqual(twin.plan);
    await expectLockstep(net, twin);
    net.dispose();
    twin.dispose();
  });
});

// ---------------------------------------------------------------------------------------------
// loadNetwork and fromTfjsArtifacts.

describe('loadNetwork and fromTfjsArtifacts refuse hostile files and options with typed errors', () => {
  let file: Uint8Array;
  let artifacts: TfjsArtifacts;
  beforeAll(async () => {
    const source = await createNetwork(spec('cpu'));
    await source.trainBatch(X, Y);
    file = await source.save({ optimizerState: true });
    artifacts = await source.toTfjsArtifacts();
    source.dispose();
  });

  const load = (bytes: unknown, options?: unknown) => loadNetwork(bytes as never, options as never);
  const LOAD_CASES: [string, () => Promise<unknown>, ErrorClass, string[], string?][] = [
    ['bytes a revoked Proxy', () => load(revoked()), ModelFileError, ['a model file must be a Uint8Array or ArrayBuffer, got a revoked Proxy']],
    ['bytes a Proxy over a Uint8Array', () => load(new Proxy(file, {})), ModelFileError, ['a model file must be a Uint8Array or ArrayBuffer, got an object']],
    ['bytes a Proxy whose traps throw', () => load(trapsThrow(file)), ModelFileError, ['must be a Uint8Array or ArrayBuffer']],
    ['bytes on a detached buffer', () => {
      const bytes = file.slice();
      structuredClone(bytes.buffer, { transfer: [bytes.buffer] });
      return load(bytes);
    }, ModelFileError, ['reading the model file threw']],
    ['options a revoked Proxy', () => load(file, revoked()), SpecError, ['reading the keys of loadNetwork options threw']],
    ['a batchSize getter that throws', () => load(file, throwingGetter({}, 'batchSize')), SpecError, ['reading loadNetwork options.batchSize threw'], BOOM],
    ['a backend getter that throws', () => load(file, throwingGetter({}, 'backend')), SpecError, ['reading loadNetwork options.backend threw'], BOOM],
  ];
  it.each(LOAD_CASES)('loadNetwork: %s', async (_, call, Type, fragments, cause) => {
    await expectRefused(call, Type, fragments, cause);
  });

  const topologyWith = (change: (layers: Record<string, unknown>[]) => void) => {
    const copy = structuredClone(artifacts);
    change(copy.modelTopology.config.layers as Record<string, unknown>[]);
    return copy;
  };
  const TFJS_CASES: [string, () => unknown, unknown, ErrorClass, string[], string?][] = [
    ['artifacts a revoked Proxy', revoked, undefined, ModelFileError, ['reading the keys of TF.js artifacts threw']],
    ['artifacts whose traps throw', () => trapsThrow(), undefined, ModelFileError, ['reading the keys of TF.js artifacts threw', BOOM], BOOM],
    ['a units getter that throws deep in the topology', () => topologyWith((layers) => {
      Object.defineProperty(layers[0]!.config, 'units', { enumerable: true, get() { throw new Error(BOOM); } });
    }), undefined, ModelFileError, ['reading TF.js artifacts: modelTopology.config.layers[0].config.units threw'], BOOM],
    ['a cyclic topology', () => topologyWith((layers) => { (layers[0]!.config as Record<string, unknown>).self = layers[0]; }), undefined, ModelFileError,
      ['nested more than 64 levels deep']],
    ['a layer list with a hole', () => topologyWith((layers) => { delete layers[1]; }), undefined, ModelFileError, ['layer 1 is not a { class_name, config } object']],
    ['a layer list of length 1e9', () => topologyWith((layers) => { layers.length = 1e9; }), undefined, ModelFileError, ['has 1000000000 entries']],
    ['a function in the topology', () => topologyWith((layers) => { (layers[0]!.config as Record<string, unknown>).units = () => 4; }), undefined, ModelFileError,
      ['modelTopology.config.layers[0].config.units is a function; expected JSON data']],
    ['weightSpecs a revoked Proxy', () => ({ ...artifacts, weightSpecs: revoked() }), undefined, ModelFileError, ['reading the keys of TF.js artifacts: weightSpecs threw']],
    ['weightData a Proxy over an ArrayBuffer', () => ({ ...artifacts, weightData: new Proxy(artifacts.weightData, {}) }), undefined, ModelFileError,
      ['weightData must be an ArrayBuffer or an array of them']],
    ['weightData detached', () => {
      const data = artifacts.weightData.slice(0);
      structuredClone(data, { transfer: [data] });
      return { ...artifacts, weightData: data };
    }, undefined, ModelFileError, ['reading TF.js artifacts: weightData threw', 'detached']],
    ['LeakyReLU alpha 1e39', () => topologyWith((layers) => { layers.splice(1, 0, { class_name: 'LeakyReLU', config: { alpha: 1e39, name: 'lr' } }); }), undefined,
      ModelFileError, ['alpha is 1e+39, which is Infinity in float32']],
    ['options a revoked Proxy', () => artifacts, revoked(), SpecError, ['reading the keys of fromTfjsArtifacts options threw']],
    ['an optimizer getter that throws', () => artifacts, throwingGetter({}, 'optimizer'), SpecError, ['reading fromTfjsArtifacts options.optimizer threw'], BOOM],
    ['an optimizer with learningRate 1e39', () => artifacts, { optimizer: { type: 'sgd', learningRate: 1e39 } }, SpecError, ['optimizer.learningRate is 1e+39']],
  ];
  it.each(TFJS_CASES)('fromTfjsArtifacts: %s', async (_, make, options, Type, fragments, cause) => {
    await expectRefused(() => fromTfjsArtifacts(make(), options as never), Type, fragments, cause);
  });

  it('a file and artifacts behind lying lengths, getters and null prototypes load as the clean ones, and train in lockstep', async () => {
    const lying = Object.defineProperty(file.slice(), 'length', { value: 8 });
    let reads = 0;
    const options = Object.create(null, { backend: { enumerable: true, get: () => (reads++ === 0 ? 'cpu' : 'bogus') } });
    const [net, twin] = await Promise.all([within(loadNetwork(lying, options)), within(loadNetwork(file, { backend: 'cpu' }))]);
    expect(reads).toBe(1);
    await expectLockstep(net, twin);
    const hostile = Object.create(null, {
      modelTopology: { enumerable: true, get: () => structuredClone(artifacts.modelTopology) },
      weightSpecs: { enumerable: true, value: artifacts.weightSpecs },
      weightData: { enumerable: true, value: [artifacts.weightData] },
    });
    const [imported, importedTwin] = await Promise.all([within(fromTfjsArtifacts(hostile, { backend: 'cpu' })), within(fromTfjsArtifacts(artifacts, { backend: 'cpu' }))]);
    await expectLockstep(imported, importedTwin);
    for (const n of [net, twin, imported, importedTwin]) n.dispose();
  });
});

// ---------------------------------------------------------------------------------------------
// The issue's own probes, each of which failed on main before this change (ea5e844).

describe('issue 14, breakages 3 and 4: the probes that failed before', () => {
  it.each(['cpu', 'reference'])('3: fit trains on its own copy of x, not on the caller\'s array changed between epochs (%s)', async (backend) => {
    const plain = { ...spec(backend), standardize: false };
    const [net, twin] = await Promise.all([createNetwork(plain), createNetwork(plain)]);
    const x = X.slice();
    // Before: the host backends trained on the caller's Float32Array itself, so epoch 2 read the NaN.
    const fitted = await within(net.fit(x, Y, { epochs: 2, onEpochEnd: () => { x.fill(NaN); } }));
    expect(fitted.loss).toEqual((await within(twin.fit(X, Y, { epochs: 2 }))).loss);
    await expectLockstep(net, twin);
    net.dispose();
    twin.dispose();
  });

  it('3: a setWeights list with holes no longer leaves those layers at zero', async () => {
    const net = await createNetwork(spec('cpu'));
    const before = await flat(net);
    await expectRefused(() => net.setWeights(new Array(2)), ShapeError, ['setWeights: layer 0 must be { weights, bias } (dense), got undefined']);
    expect(await flat(net)).toEqual(before);
    net.dispose();
  });

  it('4: untyped errors from hostile input are typed now', async () => {
    // inputSize 4 divides 4e10, so the length check passed and the allocation threw a RangeError.
    const net = await createNetwork({ ...spec('cpu'), inputSize: 4 });
    await expectRefused(() => net.predict({ length: 4e10 } as never), ShapeError, ['x has 40000000000 entries']);
    await expectRefused(() => createNetwork(revoked() as never), SpecError, ['revoked']);
    // The message re-read the value it described: NaN at the check, then an object with no toString.
    await expectRefused(() => net.predict(changing([1, 2, 3, 4], 0, NaN, { toString: 5 }).array), ShapeError, ['x has a non-finite value (NaN)']);
    await expectRefused(() => net.predict([1, , 3, 4] as never), ShapeError, ['x has undefined at row 0, column 1; expected a number']);
    await expectRefused(() => createNetwork({ ...base, optimizer: { type: 'sgd', learningRate: 1.7e308 } }), SpecError,
      ['optimizer.learningRate is 1.7e+308, which is Infinity in float32']);
    net.dispose();
  });
});
