/**
 * Property-based fuzzing (fast-check) of everything a user or a file can hand the engine: network
 * specs, call arguments, and model files (raw byte damage, and well-formed files with a hostile
 * header or payload). Every failure must be one of our typed errors, no call may hang (each run has
 * a time limit), a refused call must leave the weights exactly as they were, and whatever loads must
 * predict finite numbers. The seed is fixed for CI; FUZZ_SEED=<n> explores others.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BackpropError, createNetwork, DivergenceError, fromOnnx, loadNetwork, type Network, type NetworkSpec,
} from '../../src/index.js';
import { LOSS_NAMES, OPTIMIZER_NAMES } from '../../src/ops/index.js';
import { byteDamage } from '../support/damage.js';
import { dissect, forge, resign } from '../support/forge.js';

const SEED = Number(process.env.FUZZ_SEED ?? 6);
const RUN_LIMIT_MS = 10_000;
const fuzzed: Record<string, number> = {};

/** Runs a property, counting its runs for the summary printed at the end. */
async function check<T>(name: string, numRuns: number, arbitrary: fc.Arbitrary<T>, predicate: (value: T) => Promise<void>): Promise<void> {
  await fc.assert(fc.asyncProperty(arbitrary, predicate), { numRuns, seed: SEED, timeout: RUN_LIMIT_MS });
  fuzzed[name] = (fuzzed[name] ?? 0) + numRuns;
}

afterAll(() => {
  const total = Object.values(fuzzed).reduce((a, b) => a + b, 0);
  console.log(`[fuzz] seed ${SEED}: ${total} inputs — ${Object.entries(fuzzed).map(([k, v]) => {
    const { accepted, refused } = outcomes[k] ?? { accepted: 0, refused: 0 };
    return `${k} ${v} (${accepted} accepted, ${refused} refused)`;
  }).join('; ')}`);
});

/** The promise resolves, or rejects with a BackpropError; anything else fails the property. */
async function typedOutcome<T>(promise: Promise<T>): Promise<{ value?: T; error?: BackpropError }> {
  try {
    return { value: await promise };
  } catch (error) {
    if (!(error instanceof BackpropError)) throw error;
    return { error };
  }
}

const weird = fc.constantFrom<unknown>(0, -1, 2.5, NaN, Infinity, -Infinity, '3', null, undefined, true, 2 ** 31, 1e15, [], {});
const small = fc.integer({ min: 1, max: 6 });

/** A valid spec: 1–3 dense layers, each with or without an activation. */
const validSpec = (backends: string[]) => fc.record({
  inputSize: small,
  layers: fc.array(fc.tuple(small, fc.constantFrom('none', 'sigmoid', 'relu', 'tanh', 'linear', 'leakyRelu'), fc.double({ min: 0, max: 1, noNaN: true }),
    fc.constantFrom(0, 0.01)), { minLength: 1, maxLength: 3 }).map((list) => list.flatMap(([units, activation, slope, l2]) => [
    l2 > 0 ? { type: 'dense', units, l2 } : { type: 'dense', units },
    ...(activation === 'none' ? [] : [activation === 'leakyRelu' ? { type: activation, slope } : { type: activation }]),
  ])),
  loss: fc.oneof(fc.constantFrom<unknown>(...LOSS_NAMES), fc.record({ type: fc.constant('huber'), delta: fc.double({ min: 0.01, max: 5, noNaN: true }) })),
  optimizer: fc.record({ type: fc.constantFrom(...OPTIMIZER_NAMES), learningRate: fc.double({ min: 1e-4, max: 2, noNaN: true }),
    clipNorm: fc.option(fc.double({ min: 1e-3, max: 10, noNaN: true }), { nil: undefined }) }),
  batchSize: small,
  standardize: fc.boolean(),
  seed: fc.integer(),
  backend: fc.constantFrom(...backends),
});

/** Mostly valid specs with one field, one layer or everything replaced by something hostile. */
const specArb = (backends: string[]) => fc.oneof(
  { weight: 2, arbitrary: validSpec(backends) },
  {
    weight: 4,
    arbitrary: fc.tuple(validSpec(backends), fc.constantFrom('inputSize', 'layers', 'loss', 'optimizer', 'batchSize', 'standardize', 'seed', 'backend'),
      fc.oneof(weird, fc.anything())).map(([spec, key, value]) => ({ ...spec, [key]: value })),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(validSpec(backends), fc.nat(), fc.oneof(
      fc.record({ type: fc.constantFrom<unknown>('dense', 'leakyRelu', 'softmax', 'conv2d', ''), units: weird, slope: weird }), fc.anything(),
    )).map(([spec, at, layer]) => {
      const layers: unknown[] = [...spec.layers];
      layers.splice(at % (layers.length + 1), 0, layer);
      return { ...spec, layers };
    }),
  },
  { weight: 1, arbitrary: fc.anything() },
);

/** Outcomes per property: how many inputs were accepted and how many refused (always with a typed error). */
const outcomes: Record<string, { accepted: number; refused: number }> = {};
function tally(name: string, accepted: boolean): void {
  outcomes[name] ??= { accepted: 0, refused: 0 };
  outcomes[name][accepted ? 'accepted' : 'refused'] += 1;
}

/** Finite data of the network's shape, from a seed. */
function dataFor(net: Network, rows: number, seed: number): { x: Float32Array; y: Float32Array } {
  const random = (i: number) => Math.sin(seed * 7.1 + i * 1.3) * 3;
  const x = Float32Array.from({ length: rows * net.plan.inputSize }, (_, i) => random(i));
  const y = Float32Array.from({ length: rows * net.plan.outputSize }, (_, i) => (random(i + 99) > 0 ? 1 : 0));
  return { x, y };
}

describe('fuzzing network specs', () => {
  it.each([['cpu / reference', ['cpu', 'reference'], 300], ['webgpu', ['webgpu'], 40]] as const)(
    'every spec builds a working network or is refused with a typed error (%s)', async (name, backends, runs) => {
      await check(`specs (${name})`, runs, specArb([...backends]), async (spec) => {
        const { value: net } = await typedOutcome(createNetwork(spec as unknown as NetworkSpec));
        tally(`specs (${name})`, net !== undefined);
        if (!net) return;
        const { x, y } = dataFor(net, Math.min(3, net.plan.batchSize), 1);
        const step = await typedOutcome(net.trainBatch(x, y));
        if (step.error) expect(step.error).toBeInstanceOf(DivergenceError);
        else expect(Number.isFinite(step.value)).toBe(true);
        expect(Array.from(await net.predict(x)).every(Number.isFinite)).toBe(true);
        net.dispose();
      });
    });
});

describe('fuzzing call arguments', () => {
  const junk = fc.oneof(
    weird,
    fc.array(fc.oneof(fc.double(), weird), { maxLength: 12 }),
    fc.float32Array({ maxLength: 12 }),
    fc.constantFrom<unknown>(new Int32Array(6), new Float64Array(9), 'x'),
    // Class labels, some out of range, as the label forms take them.
    fc.int32Array({ min: -1, max: 3, maxLength: 7 }),
    fc.array(fc.oneof(fc.integer({ min: -1, max: 3 }), weird), { minLength: 1, maxLength: 7 }),
    fc.anything(),
  );
  /** Rows of `width`: valid, or with one value made hostile, or the wrong width. */
  const matrix = (rows: number, width: number) => fc.oneof(
    { weight: 3, arbitrary: fc.array(fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: width, maxLength: width }),
      { minLength: rows, maxLength: rows }) },
    { weight: 1, arbitrary: fc.float32Array({ minLength: rows * width, maxLength: rows * width, noNaN: true, min: -5, max: 5 }) },
    {
      weight: 2,
      arbitrary: fc.tuple(fc.nat(), fc.nat(), weird).map(([r, c, value]) => Array.from({ length: rows }, (_, i) =>
        Array.from({ length: width }, (__, j) => (i === r % rows && j === c % width ? value : 0.5)))),
    },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: width + 2 }).map((w) => Array.from({ length: rows }, () => new Array(w).fill(1))) },
  );
  type Call = { method: 'trainBatch' | 'fit' | 'predict' | 'evaluate' | 'setWeights'; x: unknown; y: unknown; options: unknown };
  const callArb: fc.Arbitrary<Call> = fc.record({
    method: fc.constantFrom('trainBatch', 'fit', 'predict', 'evaluate', 'setWeights'),
    rows: fc.integer({ min: 1, max: 6 }),
    otherRows: fc.integer({ min: 1, max: 6 }),
    hostileX: fc.boolean(),
    hostileY: fc.boolean(),
    xJunk: junk,
    yJunk: junk,
    options: fc.oneof(fc.constant(undefined), fc.record({ epochs: fc.oneof(fc.constantFrom(1, 2), weird), shuffle: fc.boolean() }), weird),
  }).chain(({ method, rows, otherRows, hostileX, hostileY, xJunk, yJunk, options }) => fc.record({
    method: fc.constant(method),
    x: hostileX ? fc.oneof(matrix(rows, 3), fc.constant(xJunk)) : matrix(rows, 3),
    y: hostileY ? fc.oneof(matrix(otherRows, 2), fc.constant(yJunk)) : matrix(rows, 2),
    options: fc.constant(options),
  }));

  it.each([['cpu', 300], ['webgpu', 60]] as const)('a refused call is typed and leaves the weights as they were (%s)', async (backend, runs) => {
    const net = await createNetwork({
      inputSize: 3, layers: [{ type: 'dense', units: 4 }, { type: 'tanh' }, { type: 'dense', units: 2 }],
      loss: 'softmaxCrossEntropy', optimizer: { type: 'adam', learningRate: 0.01 }, batchSize: 4, standardize: true, backend,
    });
    await check(`call arguments (${backend})`, runs, callArb, async ({ method, x, y, options }) => {
      const before = await net.getWeights();
      const call = method === 'setWeights' ? net.setWeights(x as never)
        : method === 'predict' ? net.predict(x as never)
        : method === 'fit' ? net.fit(x as never, y as never, options as never)
        : (net[method] as (a: unknown, b: unknown) => Promise<unknown>).call(net, x, y);
      const { error } = await typedOutcome(call);
      tally(`call arguments (${backend})`, error === undefined);
      if (error && !(error instanceof DivergenceError)) expect(await net.getWeights()).toEqual(before);
    });
    // Still trains after all of it.
    const { x, y } = dataFor(net, 4, 2);
    expect(Number.isFinite(await net.trainBatch(x, y))).toBe(true);
    net.dispose();
  });
});

describe('fuzzing model files', () => {
  let file: Uint8Array;
  const load = async (property: string, bytes: Uint8Array) => {
    const { value: net } = await typedOutcome(loadNetwork(bytes, { backend: 'cpu' }));
    tally(property, net !== undefined);
    if (!net) return;
    const { x } = dataFor(net, 2, 3);
    expect(Array.from(await net.predict(x)).every(Number.isFinite)).toBe(true);
    net.dispose();
  };

  it('a valid file to start from', async () => {
    const net = await createNetwork({
      inputSize: 3, layers: [{ type: 'dense', units: 4 }, { type: 'leakyRelu' }, { type: 'dense', units: 2 }, { type: 'sigmoid' }],
      optimizer: { type: 'momentum', learningRate: 0.1 }, batchSize: 4, standardize: true, backend: 'cpu',
    });
    const { x, y } = dataFor(net, 8, 4);
    await net.fit(x, y, { epochs: 2 });
    file = await net.save({ optimizerState: true });
    net.dispose();
    await load('valid file', file);
  });

  it('raw damage (bit flips, cuts, insertions, overwritten fields) is refused or harmless', async () => {
    const damage = fc.oneof(
      ...byteDamage,
      fc.tuple(fc.integer({ min: 8, max: 12 }), fc.nat(), fc.boolean()).map(([at, value, sign]) => (f: Uint8Array) => {
        const copy = f.slice();
        new DataView(copy.buffer).setUint32(at, value, true);
        return sign ? resign(copy) : copy;
      }),
    );
    await check('raw file damage', 400, damage, async (apply) => load('raw file damage', apply(file)));
  });

  it('well-formed files with a hostile header or payload (correct checksum) are refused or load a working network', async () => {
    const { header, floats } = dissect(file);
    const spec = header.spec as Record<string, unknown>;
    const edit = fc.oneof(
      fc.record({ key: fc.constantFrom(...Object.keys(spec)), value: fc.oneof(weird, fc.anything()) })
        .map(({ key, value }) => ({ header: { ...header, spec: { ...spec, [key]: value } }, floats })),
      fc.record({ key: fc.constantFrom('spec', 'standardization', 'training', 'extra'), value: fc.oneof(weird, fc.anything()) })
        .map(({ key, value }) => ({ header: { ...header, [key]: value }, floats })),
      fc.record({ step: fc.oneof(fc.nat(), weird), moments: fc.oneof(fc.nat({ max: 3 }), weird), shuffleDraws: fc.oneof(fc.nat(), weird) })
        .map((training) => ({ header: { ...header, training }, floats })),
      fc.record({ at: fc.nat(), value: fc.oneof(fc.double(), fc.constantFrom(NaN, Infinity, -Infinity, 0, -0, 3.4e38)) }).map(({ at, value }) => {
        const changed = floats.slice();
        changed[at % changed.length] = value;
        return { header, floats: changed };
      }),
      fc.integer({ min: -20, max: 20 }).map((delta) => ({
        header, floats: delta < 0 ? floats.slice(0, floats.length + delta) : Float32Array.from([...floats, ...new Array(delta).fill(1)]),
      })),
      fc.string({ maxLength: 64 }).map((text) => ({ header: undefined, headerText: text, floats })),
    );
    await check('forged files', 300, edit, async (forged) => load('forged files', forge(forged)));
  });
});

/*
 * ONNX files have no checksum: damage inside weight data loads (as other weights), so what loads
 * must have finite weights and predict the right number of outputs; everything else is refused
 * with a typed error. Besides raw damage, protobuf fields of every wire type are spliced in.
 */
describe('fuzzing ONNX files', () => {
  let file: Uint8Array;
  const load = async (property: string, bytes: Uint8Array) => {
    const { value: net } = await typedOutcome(fromOnnx(bytes, { backend: 'cpu' }));
    tally(property, net !== undefined);
    if (!net) return;
    const weights = await net.getWeights();
    expect(weights.every((layer) => Object.values(layer).every((v: Float32Array) => v.every(Number.isFinite)))).toBe(true);
    const { x } = dataFor(net, 2, 3);
    expect((await net.predict(x)).length).toBe(2 * net.plan.outputSize);
    net.dispose();
  };

  it('a valid file to start from', async () => {
    const net = await createNetwork({
      inputSize: 3, layers: [{ type: 'dense', units: 4, activation: 'gelu' }, { type: 'layerNormalization' }, { type: 'dense', units: 3 },
        { type: 'batchNormalization', activation: 'silu' }, { type: 'dense', units: 2 }],
      loss: 'softmaxCrossEntropy', batchSize: 4, backend: 'cpu',
    });
    file = await net.toOnnx();
    net.dispose();
    await load('valid ONNX file', file);
  });

  it('raw damage and spliced protobuf fields are refused or load a network with finite weights', async () => {
    const varint = (n: number) => {
      const out: number[] = [];
      do {
        out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
        n = Math.floor(n / 128);
      } while (n > 0);
      return out;
    };
    const splice = fc.tuple(fc.nat(), fc.integer({ min: 1, max: 30 }), fc.constantFrom(0, 1, 2, 3, 5, 7), fc.uint8Array({ maxLength: 12 }), fc.nat({ max: 2 ** 31 }))
      .map(([at, field, wire, payload, length]) => (f: Uint8Array) => {
        const i = at % f.length;
        const value = wire === 2 ? [...varint(length % 3 === 0 ? length : payload.length), ...payload] : [...payload];
        return Uint8Array.from([...f.subarray(0, i), ...varint(field * 8 + wire), ...value, ...f.subarray(i)]);
      });
    await check('raw ONNX damage', 400, fc.oneof(...byteDamage, splice), async (apply) => load('raw ONNX damage', apply(file)));
  });
});
