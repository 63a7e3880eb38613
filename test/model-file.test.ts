/**
 * Model files: save/load round trips (bit-identical predictions on the same backend, exact resumed
 * training with the optimizer state) and a loader that refuses every damaged, truncated, foreign
 * or hostile file with a ModelFileError before allocating for it. Runs in Node and in the browser.
 */
import { describe, expect, it } from 'vitest';
import { BackpropError, createNetwork, loadNetwork, ModelFileError, type Network, type NetworkSpec } from '../src/index.js';
import { crc32, dissect, forge, MAGIC, resign } from './support/forge.js';
import V1 from './fixtures/model-files/v1-adam.json';

const X = Array.from({ length: 13 }, (_, r) => [Math.sin(r) * 3 + 5, (r % 5) - 2, Math.cos(r * 1.7)]);
const Y = X.map(([a, b, c]) => (a! - 5 + b! * c! > 0 ? [1, 0] : [0, 1]));
const X_TEST = Array.from({ length: 7 }, (_, r) => [r - 3, Math.sqrt(r + 1), -r / 4]);

const spec = (backend: NetworkSpec['backend'], extra: Partial<NetworkSpec> = {}): NetworkSpec => ({
  inputSize: 3,
  layers: [{ type: 'dense', units: 5 }, { type: 'leakyRelu', slope: 0.05 }, { type: 'dense', units: 4 }, { type: 'tanh' },
    { type: 'dense', units: 2 }],
  loss: 'softmaxCrossEntropy',
  optimizer: { type: 'adam', learningRate: 0.02 },
  batchSize: 4,
  standardize: true,
  seed: 11,
  backend,
  ...extra,
});

async function refused(file: unknown, ...fragments: (string | RegExp)[]): Promise<ModelFileError> {
  const error = await loadNetwork(file as Uint8Array, { backend: 'cpu' }).then(
    (net) => { net.dispose(); throw new Error('the file was accepted'); },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ModelFileError);
  expect(error).toBeInstanceOf(BackpropError);
  for (const fragment of fragments) expect((error as Error).message).toMatch(fragment);
  return error as ModelFileError;
}

async function trainedFile(extra: Partial<NetworkSpec> = {}, optimizerState = false): Promise<Uint8Array> {
  const net = await createNetwork(spec('cpu', extra));
  await net.fit(X, Y, { epochs: 2 });
  const bytes = await net.save({ optimizerState });
  net.dispose();
  return bytes;
}

describe('save and load', () => {
  it.each(['cpu', 'webgpu'] as const)('predictions after a round trip are bit-identical (%s)', async (backend) => {
    const net = await createNetwork(spec(backend));
    await net.fit(X, Y, { epochs: 3 });
    const bytes = await net.save();
    expect(bytes).toBeInstanceOf(Uint8Array);
    const loaded = await loadNetwork(bytes, { backend });
    expect(loaded.backend).toBe(backend);
    expect(Array.from(await loaded.predict(X_TEST))).toEqual(Array.from(await net.predict(X_TEST)));
    expect(await loaded.getWeights()).toEqual(await net.getWeights());
    expect(await loaded.evaluate(X, Y)).toEqual(await net.evaluate(X, Y));
    // The loaded network trains, and its file round-trips again to the same bytes.
    expect(await loaded.save()).toEqual(bytes);
    expect(Number.isFinite((await loaded.fit(X, Y, { epochs: 1 })).loss[0]!)).toBe(true);
    net.dispose();
    loaded.dispose();
  });

  it('the reference backend keeps float64 weights; its file holds them rounded to float32', async () => {
    const net = await createNetwork(spec('reference'));
    await net.fit(X, Y, { epochs: 3 });
    const loaded = await loadNetwork(await net.save(), { backend: 'reference' });
    expect(await loaded.getWeights()).toEqual(await net.getWeights());
    const [a, b] = [await net.predict(X_TEST), await loaded.predict(X_TEST)];
    a.forEach((v, i) => expect(Math.abs(v - b[i]!)).toBeLessThan(1e-6));
    net.dispose();
    loaded.dispose();
  });

  it('a file saved on the GPU loads on the CPU and agrees within float32 rounding', async () => {
    const gpu = await createNetwork(spec('webgpu'));
    await gpu.fit(X, Y, { epochs: 2 });
    const cpu = await loadNetwork(await gpu.save(), { backend: 'cpu' });
    const [a, b] = [await gpu.predict(X_TEST), await cpu.predict(X_TEST)];
    a.forEach((v, i) => expect(Math.abs(v - b[i]!)).toBeLessThan(1e-5));
    gpu.dispose();
    cpu.dispose();
  });

  it.each(['cpu', 'webgpu'] as const)('with the optimizer state, training resumes exactly where it stopped (%s)', async (backend) => {
    const straight = await createNetwork(spec(backend));
    await straight.fit(X, Y, { epochs: 4 });
    const first = await createNetwork(spec(backend));
    await first.fit(X, Y, { epochs: 2 });
    const withState = await first.save({ optimizerState: true });
    expect(withState.length).toBeGreaterThan((await first.save()).length);
    const resumed = await loadNetwork(withState, { backend });
    await resumed.fit(X, Y, { epochs: 2 });
    expect(await resumed.getWeights()).toEqual(await straight.getWeights());
    for (const net of [straight, first, resumed]) net.dispose();
  });

  it('keeps a standardizing network\'s statistics, and saves none before its first fit', async () => {
    const fresh = await createNetwork(spec('cpu'));
    const reloaded = await loadNetwork(await fresh.save(), { backend: 'cpu' });
    // Both take their statistics from their first fit, so they train identically.
    await fresh.fit(X, Y, { epochs: 1, shuffle: false });
    await reloaded.fit(X, Y, { epochs: 1, shuffle: false });
    expect(Array.from(await reloaded.predict(X_TEST))).toEqual(Array.from(await fresh.predict(X_TEST)));
    fresh.dispose();
    reloaded.dispose();
  });

  it('loadNetwork may change the batch size', async () => {
    const loaded = await loadNetwork(await trainedFile(), { backend: 'cpu', batchSize: 64 });
    expect(loaded.plan.batchSize).toBe(64);
    loaded.dispose();
  });
});

describe('a damaged or hostile model file is a ModelFileError', () => {
  it('refuses what is not bytes', async () => {
    await refused('a string', 'Uint8Array or ArrayBuffer', 'string');
    await refused(null, 'null');
    await refused([0x89, 0x57], 'got an array');
  });

  it('refuses a file of another kind or version', async () => {
    await refused(new TextEncoder().encode('{"modelTopology": {}, "weightsManifest": []}'), 'not a webgpu-backprop model file', '7b 22');
    const bytes = await trainedFile();
    const v4 = bytes.slice();
    new DataView(v4.buffer).setUint32(8, 4, true);
    await refused(resign(v4), 'format version 4', 'reads versions 1, 2 and 3');
  });

  it('refuses the file cut at every length, and with a byte added', async () => {
    const bytes = await trainedFile();
    for (let length = 0; length < bytes.length; length++) {
      await refused(bytes.slice(0, length), /truncated|damaged/);
    }
    await refused(Uint8Array.from([...bytes, 0]), 'extra bytes');
  });

  it('refuses a changed byte anywhere (the checksum)', async () => {
    const bytes = await trainedFile();
    const { header } = dissect(bytes);
    const floatsStart = Math.ceil((16 + JSON.stringify(header).length) / 4) * 4;
    for (const at of [floatsStart, floatsStart + 9, bytes.length - 5, bytes.length - 1]) {
      const copy = bytes.slice();
      copy[at] ^= 0x10;
      await refused(copy, 'damaged', 'checksum');
    }
  });

  it('refuses NaN and infinite weights, and a std that is not positive', async () => {
    const { header, floats } = dissect(await trainedFile());
    for (const [index, value, where] of [[3, NaN, 'layer 0 weights[3]'], [15, Infinity, 'layer 0 bias[0]']] as const) {
      const changed = floats.slice();
      changed[index] = value;
      await refused(forge({ header, floats: changed }), String(value), where, 'finite');
    }
    const changed = floats.slice();
    changed[changed.length - 1] = 0;
    await refused(forge({ header, floats: changed }), 'standardization std', 'holds 0');
  });

  it('refuses a header that is not JSON, not UTF-8, or not the expected object', async () => {
    const { floats } = dissect(await trainedFile());
    await refused(forge({ header: undefined, headerText: '{"spec": ', floats }), 'not valid UTF-8 JSON');
    const latin = forge({ header: undefined, headerText: 'xx', floats: [] });
    latin[16] = 0xff;
    await refused(resign(latin), 'not valid UTF-8 JSON');
    await refused(forge({ header: [1, 2], floats }), 'spec (an object)');
    await refused(forge({ header: { spec: {}, standardization: 'yes', training: null }, floats }), 'standardization');
  });

  it('refuses absurd dimensions without allocating for them', async () => {
    const { header } = dissect(await trainedFile());
    const base = header.spec as Record<string, unknown>;
    const withSpec = (changes: Record<string, unknown>) => forge({ header: { ...header, spec: { ...base, ...changes } }, floats: [1, 2, 3] });
    // 2^27 parameters claimed by a 400-byte file: refused by the length check, before any allocation.
    await refused(withSpec({ inputSize: 2 ** 14, layers: [{ type: 'dense', units: 2 ** 13 }] }), 'header describes', 'truncated');
    await refused(withSpec({ inputSize: 1e9, layers: [{ type: 'dense', units: 1e9 }] }), 'invalid network', 'parameters');
    await refused(withSpec({ inputSize: -3 }), 'invalid network', 'inputSize');
    await refused(withSpec({ layers: [{ type: 'conv2d' }] }), 'invalid network', 'conv2d');
    await refused(withSpec({ batchSize: 2 ** 30 }), 'batchSize 1073741824', 'smaller batchSize');
    const many = Array.from({ length: 1500 }, () => ({ type: 'dense', units: 2 }));
    await refused(withSpec({ layers: many }), '1500 layers');
  });

  it('refuses sizes that disagree and a training state that does not fit the optimizer', async () => {
    const { header, floats } = dissect(await trainedFile({}, true));
    await refused(forge({ header, floats: floats.subarray(1) }), 'header describes', 'truncated');
    await refused(forge({ header: { ...header, standardization: false }, floats }), 'extra bytes');
    const training = header.training as Record<string, unknown>;
    await refused(forge({ header: { ...header, training: { ...training, moments: 1 } }, floats }), 'moments: 2', 'adam');
    await refused(forge({ header: { ...header, training: { ...training, step: -1 } }, floats }), 'training state');
    await refused(forge({ header: { ...header, training: { ...training, shuffleDraws: 2 ** 40 } }, floats }), 'below 2^32');
  });

  it('writes the format it documents: magic, version 3, a standard CRC-32', async () => {
    const bytes = await trainedFile();
    expect(Array.from(bytes.subarray(0, 8))).toEqual(MAGIC);
    expect(new DataView(bytes.buffer).getUint32(8, true)).toBe(3);
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(new DataView(bytes.buffer).getUint32(bytes.length - 4, true)).toBe(crc32(bytes, bytes.length - 4));
    // A file forged from the documented layout loads.
    const { header, floats } = dissect(bytes);
    const net: Network = await loadNetwork(forge({ header, floats }), { backend: 'cpu' });
    net.dispose();
  });
});

describe('files of version 1 written before the op tables', () => {
  it('load, predict and resume training as the engine that wrote them did (test/fixtures/model-files/make-v1.ts)', async () => {
    const bytes = Uint8Array.from(atob(V1.file), (c) => c.charCodeAt(0));
    const net = await loadNetwork(bytes, { backend: 'cpu' });
    expect(net.plan.optimizer).toEqual({ type: 'adam', learningRate: 0.05, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 });
    const x = Float32Array.from(V1.x);
    // The writer ran in Node, on the plain wasm SIMD kernels: on those the predictions are its bit for
    // bit; the relaxed-SIMD build (a browser's) fuses multiply-adds, so there they agree to float32 rounding.
    const predictions = Array.from(await net.predict(x));
    if (net.deviceInfo.kernels === 'wasm-simd') expect(predictions).toEqual(V1.predictions);
    else predictions.forEach((p, i) => expect(Math.abs(p - V1.predictions[i]!)).toBeLessThanOrEqual(1e-6));
    // The optimizer state and shuffle position resume: the next epochs' losses are the writer's.
    const next = (await net.fit(x, Float32Array.from(V1.y), { epochs: 2 })).loss;
    next.forEach((loss, i) => expect(Math.abs(loss - V1.next[i]!)).toBeLessThanOrEqual(1e-6 * Math.abs(V1.next[i]!)));
    net.dispose();
  });
});
