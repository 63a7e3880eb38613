/**
 * PyTorch state dicts as safetensors (src/io/safetensors.ts): files made by PyTorch load and
 * predict what PyTorch printed, our files load into torch's nn.Sequential (checked once by
 * scripts/make-safetensors-fixtures.py, its predictions committed), round trips are exact, and
 * hostile or foreign files are refused with a ModelFileError naming the problem.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BackpropError, createNetwork, fromSafetensors, ModelFileError, SpecError, type Network, type NetworkSpec,
} from '../../src/index.js';
import { parseSafetensors } from '../../src/io/safetensors.js';
import { flatWeights } from '../support/agreement.js';
import { byteDamage } from '../support/damage.js';

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`../fixtures/safetensors/${name}`, import.meta.url)));
const json = (name: string) => JSON.parse(new TextDecoder().decode(fixture(name)));
const TORCH = { bytes: fixture('torch.safetensors'), ...json('torch.json') as { spec: NetworkSpec; x: number[]; outputs: number[] } };
const OURS = { bytes: fixture('ours.safetensors'), ...json('ours.json') as { spec: NetworkSpec; x: number[]; torchOutputs: number[] } };

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  const worst = Array.from(actual).reduce((max, v, i) => Math.max(max, Math.abs(v - expected[i]!)), 0);
  expect(worst).toBeLessThan(tolerance);
}

/** Each tensor's dtype, shape and raw bytes, by name. */
function tensorsOf(bytes: Uint8Array): Map<string, { dtype: string; shape: number[]; data: number[] }> {
  const { tensors } = parseSafetensors(bytes);
  return new Map([...tensors].map(([name, t]) => [name, { dtype: t.dtype, shape: t.shape, data: Array.from(bytes.subarray(t.begin, t.end)) }]));
}

/** The header (JSON) and data block of a file, and a file from them: for forging hostile files. */
function dissect(bytes: Uint8Array): { header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>; data: Uint8Array } {
  const size = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + size))), data: bytes.slice(8 + size) };
}
function forge(header: unknown, data: Uint8Array, text = JSON.stringify(header)): Uint8Array {
  const raw = new TextEncoder().encode(text);
  const bytes = new Uint8Array(8 + raw.length + data.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(raw.length), true);
  bytes.set(raw, 8);
  bytes.set(data, 8 + raw.length);
  return bytes;
}

/** Every weight's bits, in getWeights order. */
const weightBits = async (net: Network) => new Uint8Array((await flatWeights(net)).buffer);

describe('files made by PyTorch', () => {
  it.each(['reference', 'cpu'] as const)('a torch nn.Sequential\'s state_dict loads and predicts what torch printed within 1e-5 (%s)', async (backend) => {
    const net = await fromSafetensors(TORCH.bytes, { spec: { ...TORCH.spec, backend } });
    expectClose(await net.predict(Float32Array.from(TORCH.x)), TORCH.outputs, 1e-5);
    // Then it trains: a step on the torch model's own inputs moves its predictions.
    const before = await net.predict(Float32Array.from(TORCH.x));
    expect(Number.isFinite(await net.trainBatch(Float32Array.from(TORCH.x), Float32Array.from(TORCH.outputs, (v) => v * 0.5)))).toBe(true);
    expect(Array.from(await net.predict(Float32Array.from(TORCH.x)))).not.toEqual(Array.from(before));
    net.dispose();
  });

  it('our export of it has torch\'s names, dtypes, shapes and bytes for every tensor', async () => {
    const net = await fromSafetensors(TORCH.bytes, { spec: { ...TORCH.spec, backend: 'reference' } });
    const ours = tensorsOf(await net.toSafetensors());
    const torch = tensorsOf(TORCH.bytes);
    expect([...ours.keys()].sort()).toEqual([...torch.keys()].sort());
    for (const [name, tensor] of torch) {
      if (name.endsWith('num_batches_tracked')) {
        // torch counted its 3 training batches; ours counts the optimizer's steps since the weights were set.
        expect({ ...ours.get(name)!, data: undefined }).toEqual({ ...tensor, data: undefined });
        expect(tensor.data).toEqual([3, 0, 0, 0, 0, 0, 0, 0]);
        expect(ours.get(name)!.data).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
      } else {
        expect(ours.get(name), name).toEqual(tensor);
      }
    }
    net.dispose();
  });
});

describe('files made here, read by PyTorch', () => {
  it('ours.safetensors loaded into torch predicted what we predict, within 1e-5, and loads back byte-identically', async () => {
    const net = await fromSafetensors(OURS.bytes, { spec: { ...OURS.spec, backend: 'cpu' } });
    expectClose(await net.predict(Float32Array.from(OURS.x)), OURS.torchOutputs, 1e-5);
    expect(await net.toSafetensors()).toEqual(OURS.bytes);
    net.dispose();
  });

  it('names each module as nn.Sequential numbers it, in the metadata and the tensor names', () => {
    const { header } = dissect(OURS.bytes);
    expect((header.__metadata__ as unknown as Record<string, string>).module).toBe('nn.Sequential(nn.Linear(4, 6), nn.ReLU(), ' +
      'nn.BatchNorm1d(6, eps=0.001, momentum=0.05), nn.Softplus(), nn.Linear(6, 5), nn.GELU(approximate=\'tanh\'), nn.Dropout(p=0.3), ' +
      'nn.Linear(5, 5), nn.LayerNorm(5, eps=0.0001), nn.Sigmoid(), nn.Linear(5, 3))');
    expect(Object.keys(header).filter((k) => k !== '__metadata__')).toEqual(['2.num_batches_tracked', '0.weight', '0.bias', '2.weight', '2.bias',
      '2.running_mean', '2.running_var', '4.weight', '4.bias', '7.weight', '7.bias', '8.weight', '8.bias', '10.weight', '10.bias']);
    expect(header['0.weight']!.shape).toEqual([6, 4]);
    // The data block starts on a multiple of 8, as safetensors' own writer leaves it.
    expect((OURS.bytes.length - dissect(OURS.bytes).data.length) % 8).toBe(0);
  });
});

const SPEC: NetworkSpec = {
  inputSize: 3,
  layers: [{ type: 'dense', units: 5, activation: 'tanh' }, { type: 'batchNormalization' }, { type: 'dropout', rate: 0.2 },
    { type: 'dense', units: 4 }, { type: 'layerNormalization' }, { type: 'elu' }, { type: 'dense', units: 2 }],
  loss: 'mse',
  optimizer: { type: 'adam', learningRate: 0.01 },
  batchSize: 8,
  seed: 5,
};
const X = Float32Array.from({ length: 8 * 3 }, (_, i) => Math.sin(i * 1.7) * 2);
const Y = Float32Array.from({ length: 8 * 2 }, (_, i) => Math.cos(i));

describe('round trips', () => {
  it.each(['cpu', 'webgpu'] as const)('a trained network\'s weights come back bit for bit, and predict the same (%s)', async (backend) => {
    const net = await createNetwork({ ...SPEC, backend });
    for (let i = 0; i < 3; i++) await net.trainBatch(X, Y);
    const bytes = await net.toSafetensors();
    const loaded = await fromSafetensors(bytes, { spec: { ...SPEC, backend } });
    expect(await weightBits(loaded)).toEqual(await weightBits(net));
    expect(await loaded.predict(X)).toEqual(await net.predict(X));
    // The same file again, but for the count of batches (3 trained, 0 since the load).
    const again = tensorsOf(await loaded.toSafetensors());
    for (const [name, tensor] of tensorsOf(bytes)) if (!name.endsWith('num_batches_tracked')) expect(again.get(name)).toEqual(tensor);
    expect(tensorsOf(bytes).get('2.num_batches_tracked')!.data[0]).toBe(3);
    net.dispose();
    loaded.dispose();
  }, 60_000);

  it('a prefix puts every name under a parent module, and the same prefix reads them back', async () => {
    const net = await createNetwork({ ...SPEC, backend: 'cpu' });
    const bytes = await net.toSafetensors({ prefix: 'model.net.' });
    expect([...tensorsOf(bytes).keys()].every((name) => name.startsWith('model.net.'))).toBe(true);
    const loaded = await fromSafetensors(bytes, { spec: { ...SPEC, backend: 'cpu' }, prefix: 'model.net.' });
    expect(await weightBits(loaded)).toEqual(await weightBits(net));
    await expect(fromSafetensors(bytes, { spec: SPEC })).rejects.toThrow(
      /safetensors: the file holds model\.net\.2\.num_batches_tracked, model\.net\.0\.weight, .* and \d+ more, which nn\.Sequential\(nn\.Linear\(3, 5\), .*\) does not have \(a state dict of a model that nests the Sequential takes a prefix\)/);
    net.dispose();
    loaded.dispose();
  });

  it('a standardizing network exports its statistics folded into the first Linear', async () => {
    const net = await createNetwork({ ...SPEC, standardize: true, backend: 'reference' });
    await net.trainBatch(X.map((v, i) => v * 10 + i), Y);
    const loaded = await fromSafetensors(await net.toSafetensors(), { spec: { ...SPEC, backend: 'reference' } });
    const x = X.map((v) => v * 7 + 3);
    expectClose(await loaded.predict(x), await net.predict(x), 1e-5);
    net.dispose();
    loaded.dispose();
  });
});

describe('refusals', () => {
  it('bad options are a SpecError naming them, and the network trains on as its twin does', async () => {
    const [net, twin] = await Promise.all([createNetwork({ ...SPEC, backend: 'cpu' }), createNetwork({ ...SPEC, backend: 'cpu' })]);
    await expect(net.toSafetensors({ prefix: 'net' })).rejects.toThrow(SpecError);
    await expect(net.toSafetensors({ prefix: 'net' })).rejects.toThrow(/toSafetensors: prefix must be '' or module names each followed by a dot .*got "net"/);
    await expect(net.toSafetensors({ prefx: 'net.' } as never)).rejects.toThrow(/toSafetensors options.*prefx/);
    expect(await net.trainBatch(X, Y)).toBe(await twin.trainBatch(X, Y));
    expect(await weightBits(net)).toEqual(await weightBits(twin));
    const file = await net.toSafetensors();
    await expect(fromSafetensors(file, { spec: { ...SPEC, standardize: true } })).rejects.toThrow(
      /fromSafetensors: the spec has standardize: true, but a state dict holds no standardization statistics/);
    await expect(fromSafetensors(file, undefined as never)).rejects.toThrow(/fromSafetensors needs \{ spec \}, got undefined/);
    await expect(fromSafetensors(file, { spec: 'x' } as never)).rejects.toThrow(SpecError);
    await expect(fromSafetensors(file, { spec: SPEC, prefix: 3 } as never)).rejects.toThrow(/fromSafetensors: prefix must be/);
    net.dispose();
    twin.dispose();
  });

  it('a network torch.nn has no module for (frequencyEncoding) is a SpecError both ways, and trains on as its twin does', async () => {
    const spec: NetworkSpec = {
      inputSize: 2, layers: [{ type: 'frequencyEncoding', octaves: 2 }, { type: 'dense', units: 3, activation: 'tanh' }, { type: 'dense', units: 1 }],
      loss: 'mse', optimizer: { type: 'sgd', learningRate: 0.1 }, batchSize: 4, seed: 3, backend: 'cpu',
    };
    const message = 'safetensors: layer 0 is a frequencyEncoding, and torch.nn has no module that takes the sine and cosine of its input: ' +
      'no nn.Sequential state dict describes this network';
    const [net, twin] = await Promise.all([createNetwork(spec), createNetwork(spec)]);
    await expect(net.toSafetensors()).rejects.toThrow(new SpecError(message));
    // Refused for the spec before the file is read: even a file that is not safetensors at all.
    await expect(fromSafetensors(new Uint8Array(3), { spec })).rejects.toThrow(new SpecError(message));
    const x = Float32Array.of(0.1, 0.2, -0.5, 0.7, 0.9, -0.3, 0, 0.4);
    const y = Float32Array.of(0.5, -0.2, 0.3, 0.1);
    expect(await net.trainBatch(x, y)).toBe(await twin.trainBatch(x, y));
    expect(await weightBits(net)).toEqual(await weightBits(twin));
    net.dispose();
    twin.dispose();
  });

  const { header, data } = dissect(OURS.bytes);
  const entry = (name: string) => header[name]!;
  const withEntry = (name: string, value: unknown) => forge({ ...header, [name]: value }, data);
  const setFloat = (name: string, index: number, value: number) => {
    const changed = data.slice();
    new DataView(changed.buffer).setFloat32(entry(name).data_offsets[0] + 4 * index, value, true);
    return forge(header, changed);
  };
  const without = (name: string) => {
    // The entry gone, and its bytes with it: the offsets after it move down.
    const [begin, end] = entry(name).data_offsets;
    const rest = Object.fromEntries(Object.entries(header).filter(([k]) => k !== name).map(([k, v]) => [k, k === '__metadata__' || v.data_offsets[0] < begin ? v
      : { ...v, data_offsets: [v.data_offsets[0] - (end - begin), v.data_offsets[1] - (end - begin)] }]));
    return forge(rest, Uint8Array.from([...data.subarray(0, begin), ...data.subarray(end)]));
  };
  const lengthOf = (size: bigint, file: Uint8Array = OURS.bytes) => {
    const copy = file.slice();
    new DataView(copy.buffer).setBigUint64(0, size, true);
    return copy;
  };
  const big = new Uint8Array(8 + (1 << 20) + 16);
  const cases: [string, Uint8Array, RegExp][] = [
    ['too short for the length', OURS.bytes.subarray(0, 7), /the file is 7 bytes; a safetensors file starts with an 8-byte header length/],
    ['a header longer than the file', lengthOf(5000n), /the header claims 5000 bytes but the file has \d+ after the length/],
    ['a header length of 2^63', lengthOf(2n ** 63n), /the header claims 9223372036854775808 bytes/],
    ['a header past the cap', lengthOf(BigInt((1 << 20) + 1), big), /the header claims 1048577 bytes .*a header has at most 1048576/],
    ['a cut file', OURS.bytes.subarray(0, OURS.bytes.length - 3), /tensor 10\.bias has data_offsets \[\d+,\d+\]; expected \[begin, end\] with 0 ≤ begin ≤ end ≤ \d+/],
    ['a header that is not JSON', forge(undefined, data, '{"0.weight": '), /the header is not valid UTF-8 JSON/],
    ['a header that is not UTF-8', Uint8Array.from([...lengthOf(2n).subarray(0, 8), 0xff, 0xfe]), /not valid UTF-8 JSON/],
    ['a header that is an array', forge([1], new Uint8Array()), /the header must be a JSON object, got an array/],
    ['metadata that is not strings', withEntry('__metadata__', { format: 1 }), /__metadata__ must map strings to strings/],
    ['an entry that is not an object', withEntry('0.bias', 7), /tensor 0\.bias must be \{ dtype, shape, data_offsets \}, got 7/],
    ['an unknown dtype', withEntry('0.bias', { ...entry('0.bias'), dtype: 'F33' }), /tensor 0\.bias has dtype "F33"; expected one of BOOL, .*F32/],
    ['a negative dimension', withEntry('0.bias', { ...entry('0.bias'), shape: [-6] }), /tensor 0\.bias has shape \[-6\]; expected an array of non-negative integers/],
    ['a shape its bytes do not hold', withEntry('0.bias', { ...entry('0.bias'), shape: [7] }), /tensor 0\.bias \(F32 \[7\]\) needs 28 bytes, but its data_offsets hold 24/],
    ['an absurd shape', withEntry('0.bias', { ...entry('0.bias'), shape: [2 ** 40, 2 ** 40, 2 ** 40] }), /tensor 0\.bias \(F32 \[1099511627776, .*\]\) needs .* bytes/],
    ['offsets past the data', withEntry('0.bias', { ...entry('0.bias'), data_offsets: [data.length - 8, data.length + 16] }), /tensor 0\.bias has data_offsets/],
    ['offsets reversed', withEntry('0.bias', { ...entry('0.bias'), data_offsets: [128, 104] }), /tensor 0\.bias has data_offsets \[128,104\]/],
    ['overlapping tensors', withEntry('0.bias', { ...entry('0.bias'), data_offsets: [100, 124] }),
      /tensor 0\.bias at data bytes \[100, 124\) overlaps the tensor before it \(which ends at 104\)/],
    ['a hole between tensors', forge({ ...header, '0.bias': { ...entry('0.bias'), shape: [5], data_offsets: [104, 124] } }, data),
      /data bytes \[124, 128\) belong to no tensor \(before 2\.weight\)/],
    ['bytes after the last tensor', forge(header, Uint8Array.from([...data, 0, 0, 0, 0])), /data bytes \[\d+, \d+\) belong to no tensor$/],
    ['a missing tensor', without('4.bias'), /the file has no tensor 4\.bias \(module 4, Linear\(6, 5\)\); it holds 2\.num_batches_tracked, 0\.weight/],
    ['a tensor the network lacks', withEntry('3.weight', { dtype: 'F32', shape: [0], data_offsets: [0, 0] }),
      /the file holds 3\.weight, which nn\.Sequential\(nn\.Linear\(4, 6\), nn\.ReLU\(\), .*\) does not have/],
    ['a BF16 weight', withEntry('0.bias', { ...entry('0.bias'), dtype: 'BF16', shape: [12] }), /0\.bias is BF16; only F32 is read \(save the model after model\.float\(\)\)/],
    ['a weight of the wrong shape', withEntry('0.weight', { ...entry('0.weight'), shape: [4, 6] }), /0\.weight has shape \[4, 6\], expected \[6, 4\]/],
    ['a counter that is not I64', withEntry('2.num_batches_tracked', { ...entry('2.num_batches_tracked'), dtype: 'F64' }),
      /2\.num_batches_tracked is F64 \[\]; expected an I64 scalar \[\]/],
    ['a NaN weight', setFloat('4.weight', 7, NaN), /4\.weight\[7\] is NaN; expected a finite number$/],
    ['an infinite bias', setFloat('10.bias', 2, -Infinity), /10\.bias\[2\] is -Infinity; expected a finite number$/],
    ['a negative variance', setFloat('2.running_var', 3, -0.5), /2\.running_var\[3\] is -0\.5; expected a finite number ≥ 0/],
  ];
  it.each(cases)('%s is a ModelFileError naming the problem', async (_, bytes, message) => {
    const error = await fromSafetensors(bytes, { spec: { ...OURS.spec, backend: 'cpu' } }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ModelFileError);
    expect((error as Error).message).toMatch(/^safetensors: /);
    expect((error as Error).message).toMatch(message);
  });

  it('a missing num_batches_tracked is read as torch\'s older files have it: absent', async () => {
    const net = await fromSafetensors(without('2.num_batches_tracked'), { spec: { ...OURS.spec, backend: 'cpu' } });
    expectClose(await net.predict(Float32Array.from(OURS.x)), OURS.torchOutputs, 1e-5);
    net.dispose();
  });

  it('neither a Uint8Array nor an ArrayBuffer is a ModelFileError', async () => {
    await expect(fromSafetensors([1, 2, 3] as never, { spec: OURS.spec })).rejects.toThrow(
      /safetensors: a safetensors file must be a Uint8Array or ArrayBuffer, got an array/);
  });

  it('fuzzed damage (bit flips, cuts, insertions, rewritten lengths) is refused with a ModelFileError or loads a working network', async () => {
    const damage = fc.oneof(
      ...byteDamage,
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((size) => (f: Uint8Array) => lengthOf(size, f)),
    );
    let accepted = 0;
    await fc.assert(fc.asyncProperty(damage, async (apply) => {
      let net: Network;
      try {
        net = await fromSafetensors(apply(OURS.bytes), { spec: { ...OURS.spec, backend: 'cpu' } });
      } catch (error) {
        expect(error).toBeInstanceOf(ModelFileError);
        expect(error).toBeInstanceOf(BackpropError);
        return;
      }
      accepted++;
      expect(Array.from(await net.predict(Float32Array.from(OURS.x))).every(Number.isFinite)).toBe(true);
      net.dispose();
    }), { numRuns: 300, seed: 17, timeout: 10_000 });
    // Flips inside the floats keep the file well-formed: some damage loads (and still predicts finite numbers).
    expect(accepted).toBeGreaterThan(0);
  }, 120_000);
});
