/**
 * GpuMatrix data (src/gpu-matrix.ts): matrices in the caller's GPU buffers train, predict and
 * evaluate exactly as the same rows given as Float32Array; predictions go into a caller's buffer;
 * steps and predictions record into a caller's command encoder; every bad buffer is refused with a
 * typed error before anything runs, after which the network trains exactly as its twin. Runs in
 * Node and in the browser.
 */
import { describe, expect, it } from 'vitest';
import {
  BackpropError, createNetwork, DeviceError, ShapeError, type GpuMatrix, type Network, type NetworkSpec,
} from '../src/index.js';
import { requestAdapter } from '../src/webgpu/device.js';
import { ringInOrder } from '../src/webgpu/gpu-matrices.js';
import { gpuDevice } from './support/kernel-runner.js';

const ROWS = 11;
const INPUTS = 3;
const X = Float32Array.from({ length: ROWS * INPUTS }, (_, i) => Math.sin(i * 1.3) * 2);
const CLASSES = Float32Array.from({ length: ROWS }, (_, r) => (X[r * INPUTS]! + X[r * INPUTS + 1]! > 0 ? 1 : 0));
const ONE_HOT = Float32Array.from({ length: ROWS * 2 }, (_, i) => (CLASSES[i >> 1] === (i & 1) ? 1 : 0));
const BATCH = 4;
/** Rows whose start is a multiple of 256 bytes apart: 256 / (3 · 4) is not whole, so matrices sit at byte 256 of their buffer. */
const OFFSET = 256;
const TIMEOUT = 120_000;

const spec = (device: GPUDevice | undefined, extra: Partial<NetworkSpec> = {}): NetworkSpec => ({
  inputSize: INPUTS,
  layers: [{ type: 'dense', units: 5 }, { type: 'relu' }, { type: 'dense', units: 2 }],
  loss: 'softmaxCrossEntropy',
  optimizer: { type: 'adam', learningRate: 0.05 },
  batchSize: BATCH,
  seed: 7,
  backend: device ? 'webgpu' : 'cpu',
  ...(device ? { device } : {}),
  ...extra,
});

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

/** A buffer holding `data` from byte `offset` (garbage before it, so a wrong offset shows). */
function upload(device: GPUDevice, data: Float32Array, offset = 0, usage = STORAGE()): GPUBuffer {
  const buffer = device.createBuffer({ size: offset + data.byteLength + 64, usage });
  device.queue.writeBuffer(buffer, 0, new Float32Array(offset / 4 + data.length + 16).fill(-7));
  device.queue.writeBuffer(buffer, offset, data);
  return buffer;
}

async function download(device: GPUDevice, buffer: GPUBuffer, offset: number, floats: number): Promise<Float32Array> {
  const staging = device.createBuffer({ size: floats * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(buffer, offset, staging, 0, floats * 4);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const data = new Float32Array(staging.getMappedRange()).slice();
  staging.destroy();
  return data;
}

const rowsOf = (data: Float32Array, width: number, from: number, to: number) => data.subarray(from * width, to * width);

/** Every parameter as its float32 bits, for exact comparison. */
async function bits(net: Network): Promise<number[]> {
  const layers = await net.getWeights();
  return layers.flatMap((layer) => Object.values(layer).flatMap((v: Float32Array) => [...new Uint32Array(Float32Array.from(v).buffer)]));
}

async function twins(device: GPUDevice, extra: Partial<NetworkSpec> = {}): Promise<[Network, Network]> {
  const [a, b] = await Promise.all([createNetwork(spec(device, extra)), createNetwork(spec(device, extra))]);
  // The autotune's decisions in force on both before anything is compared.
  await Promise.all([a.tuned(), b.tuned()]);
  return [a, b];
}

/** Three host steps on both networks: the same losses and the same weights, bit for bit. */
async function expectSameTraining(net: Network, twin: Network): Promise<void> {
  for (let step = 0; step < 3; step++) {
    const x = rowsOf(X, INPUTS, step, step + BATCH);
    const y = rowsOf(ONE_HOT, 2, step, step + BATCH);
    expect(await net.trainBatch(x, y)).toBe(await twin.trainBatch(x, y));
  }
  expect(await bits(net)).toEqual(await bits(twin));
}

describe('GpuMatrix data on webgpu', () => {
  it('trainBatch on GpuMatrix x, y, both, and class labels trains bit-identically to the same Float32Array rows', async () => {
    const device = await gpuDevice();
    const xBuffer = upload(device, X, OFFSET);
    const yBuffer = upload(device, ONE_HOT, OFFSET);
    const [host, gpu] = await twins(device);
    try {
      for (let step = 0; step < 8; step++) {
        const start = step % (ROWS - BATCH);
        const rows = step === 5 ? 3 : BATCH;
        // Each matrix starts at its own buffer's offset: the step's rows are placed there by a copy on the GPU.
        const x = rowsOf(X, INPUTS, start, start + rows);
        const y = rowsOf(ONE_HOT, 2, start, start + rows);
        const xMatrix = upload(device, x, OFFSET);
        const yMatrix: GpuMatrix = { buffer: upload(device, y), rows };
        const labels: GpuMatrix = { buffer: upload(device, CLASSES.slice(start, start + rows)), rows, labels: true };
        const forms: [GpuMatrix | Float32Array, GpuMatrix | Float32Array | Uint8Array][] = [
          [{ buffer: xMatrix, rows, offset: OFFSET }, yMatrix],
          [{ buffer: xMatrix, rows, offset: OFFSET }, y],
          [x, yMatrix],
          [{ buffer: xMatrix, rows, offset: OFFSET }, labels],
        ];
        const [gx, gy] = forms[step % forms.length]!;
        const expected = await host.trainBatch(x, step % forms.length === 3 ? Uint8Array.from(CLASSES.slice(start, start + rows)) : y);
        expect(await gpu.trainBatch(gx, gy)).toBe(expected);
        expect(await bits(gpu)).toEqual(await bits(host));
      }
      // The same buffers again: no buffer and no bind group is made per step.
      for (let step = 0; step < 3; step++) await gpu.trainBatch({ buffer: xBuffer, rows: BATCH, offset: OFFSET }, { buffer: yBuffer, rows: BATCH, offset: OFFSET });
      const again = gpu.stats();
      await gpu.trainBatch({ buffer: xBuffer, rows: BATCH, offset: OFFSET }, { buffer: yBuffer, rows: BATCH, offset: OFFSET });
      expect(gpu.stats().buffersCreated).toBe(again.buffersCreated);
      expect(gpu.stats().bindGroupsCreated).toBe(again.bindGroupsCreated);
    } finally {
      host.dispose();
      gpu.dispose();
      for (const buffer of [xBuffer, yBuffer]) buffer.destroy();
    }
  }, TIMEOUT);

  it('fit on GpuMatrix x and y (one-hot and labels) trains bit-identically to the same Float32Array set, validationData on the host', async () => {
    const device = await gpuDevice();
    const xBuffer = upload(device, X, OFFSET);
    const yBuffer = upload(device, ONE_HOT, OFFSET);
    const labelBuffer = upload(device, CLASSES);
    const validation = { x: rowsOf(X, INPUTS, 0, 5), y: rowsOf(ONE_HOT, 2, 0, 5) };
    const [host, gpu] = await twins(device);
    try {
      const expected = await host.fit(X, ONE_HOT, { epochs: 3, validationData: [validation.x, validation.y] });
      const got = await gpu.fit({ buffer: xBuffer, rows: ROWS, offset: OFFSET }, { buffer: yBuffer, rows: ROWS, offset: OFFSET },
        { epochs: 3, validationData: [validation.x, validation.y] });
      expect(got.loss).toEqual(expected.loss);
      expect(got.valLoss).toEqual(expected.valLoss);
      expect(await bits(gpu)).toEqual(await bits(host));
      const labels = Uint8Array.from(CLASSES);
      expect((await gpu.fit({ buffer: xBuffer, rows: ROWS, offset: OFFSET }, { buffer: labelBuffer, rows: ROWS, labels: true }, { epochs: 2 })).loss)
        .toEqual((await host.fit(X, labels, { epochs: 2 })).loss);
      expect(await bits(gpu)).toEqual(await bits(host));
      // The caller's buffers were read where they are: the network made none for the set.
      expect(xBuffer.mapState).toBe('unmapped');
    } finally {
      host.dispose();
      gpu.dispose();
      for (const buffer of [xBuffer, yBuffer, labelBuffer]) buffer.destroy();
    }
  }, TIMEOUT);

  it('predict of a GpuMatrix, predict into a GpuMatrix and evaluate on GpuMatrix data equal the host calls (several chunks)', async () => {
    const device = await gpuDevice();
    const xBuffer = upload(device, X, OFFSET);
    const yBuffer = upload(device, ONE_HOT);
    const into = device.createBuffer({ size: OFFSET + ROWS * 2 * 4, usage: STORAGE() });
    const net = await createNetwork(spec(device));
    try {
      await net.trainBatch(rowsOf(X, INPUTS, 0, BATCH), rowsOf(ONE_HOT, 2, 0, BATCH));
      const expected = await net.predict(X);
      const x: GpuMatrix = { buffer: xBuffer, rows: ROWS, offset: OFFSET };
      expect(await net.predict(x)).toEqual(expected);
      expect(await net.predict(x, { into: { buffer: into, rows: ROWS, offset: OFFSET } })).toBeUndefined();
      expect(await download(device, into, OFFSET, ROWS * 2)).toEqual(expected);
      // Host rows into a caller's buffer too.
      await net.predict(X.slice(INPUTS), { into: { buffer: into, rows: ROWS - 1 } });
      expect(await download(device, into, 0, (ROWS - 1) * 2)).toEqual(expected.subarray(2));
      const evaluation = await net.evaluate(X, ONE_HOT);
      expect(await net.evaluate(x, { buffer: yBuffer, rows: ROWS })).toEqual(evaluation);
      expect(await net.evaluate(X, { buffer: yBuffer, rows: ROWS })).toEqual(evaluation);
      expect(evaluation.accuracy).toBeGreaterThanOrEqual(0);
    } finally {
      net.dispose();
      for (const buffer of [xBuffer, yBuffer, into]) buffer.destroy();
    }
  }, TIMEOUT);

  it('two steps encoded into one caller encoder equal two trainBatch calls, bit for bit; readLosses gives their losses', async () => {
    const device = await gpuDevice();
    const first = { x: upload(device, rowsOf(X, INPUTS, 0, BATCH)), y: upload(device, rowsOf(ONE_HOT, 2, 0, BATCH)) };
    const second = { x: upload(device, rowsOf(X, INPUTS, 4, 7)), y: upload(device, rowsOf(ONE_HOT, 2, 4, 7)) };
    const into = device.createBuffer({ size: ROWS * 2 * 4, usage: STORAGE() });
    const xAll = upload(device, X);
    const [host, gpu] = await twins(device, { optimizer: { type: 'adam', learningRate: { type: 'exponential', initial: 0.05, decayRate: 0.5, decaySteps: 1 } } });
    try {
      const losses = [await host.trainBatch(rowsOf(X, INPUTS, 0, BATCH), rowsOf(ONE_HOT, 2, 0, BATCH)),
        await host.trainBatch(rowsOf(X, INPUTS, 4, 7), rowsOf(ONE_HOT, 2, 4, 7))];
      const encoder = device.createCommandEncoder();
      await gpu.encodeTrainBatch(encoder, { buffer: first.x, rows: BATCH }, { buffer: first.y, rows: BATCH });
      await gpu.encodeTrainBatch(encoder, { buffer: second.x, rows: 3 }, { buffer: second.y, rows: 3 });
      // A prediction after both steps in the same submit: it sees the weights after the second.
      await gpu.encodePredict(encoder, { buffer: xAll, rows: ROWS }, { buffer: into, rows: ROWS });
      device.queue.submit([encoder.finish()]);
      expect(await bits(gpu)).toEqual(await bits(host));
      expect([...await gpu.readLosses()]).toEqual(losses);
      expect((await gpu.readLosses()).length).toBe(0);
      expect(await download(device, into, 0, ROWS * 2)).toEqual(await host.predict(X));
      // t counted both encoded steps: the next steps (and their schedule) agree too.
      await expectSameTraining(gpu, host);
    } finally {
      host.dispose();
      gpu.dispose();
      for (const buffer of [first.x, first.y, second.x, second.y, into, xAll]) buffer.destroy();
    }
  }, TIMEOUT);

  it('a coordinate network (frequencyEncoding first) trains and predicts into a buffer from GpuMatrix inputs as from host rows', async () => {
    const device = await gpuDevice();
    const extra: Partial<NetworkSpec> = {
      layers: [{ type: 'frequencyEncoding', octaves: 3 }, { type: 'dense', units: 6, activation: 'relu' }, { type: 'dense', units: 2 }],
      loss: 'mse',
    };
    const xBuffer = upload(device, X);
    const yBuffer = upload(device, ONE_HOT);
    const into = device.createBuffer({ size: ROWS * 2 * 4, usage: STORAGE() });
    const [host, gpu] = await twins(device, extra);
    try {
      for (let step = 0; step < 3; step++) {
        expect(await gpu.trainBatch({ buffer: xBuffer, rows: BATCH }, { buffer: yBuffer, rows: BATCH }))
          .toBe(await host.trainBatch(rowsOf(X, INPUTS, 0, BATCH), rowsOf(ONE_HOT, 2, 0, BATCH)));
      }
      expect(await bits(gpu)).toEqual(await bits(host));
      await gpu.predict({ buffer: xBuffer, rows: ROWS }, { into: { buffer: into, rows: ROWS } });
      expect(await download(device, into, 0, ROWS * 2)).toEqual(await host.predict(X));
    } finally {
      host.dispose();
      gpu.dispose();
      for (const buffer of [xBuffer, yBuffer, into]) buffer.destroy();
    }
  }, TIMEOUT);

  it('stats() counts a step\'s dispatches', async () => {
    const device = await gpuDevice();
    const [gpu, cpu] = await Promise.all([createNetwork(spec(device)), createNetwork(spec(undefined))]);
    try {
      // forward 2 products, the loss, the top layer's weight gradient, bias gradient and signal
      // product, the bottom layer's weight and bias gradients, the loss reduction, the update.
      expect(gpu.stats().dispatchesPerStep).toBe(10);
      expect(cpu.stats().dispatchesPerStep).toBeUndefined();
    } finally {
      gpu.dispose();
      cpu.dispose();
    }
  }, TIMEOUT);
});

describe('the encoded-loss ring', () => {
  it('gives every loss written, oldest first, or the last capacity of them once it wrapped', () => {
    for (let written = 0; written <= 11; written++) {
      // Write i lands in slot i mod 4, as recordLoss writes the encoded steps' losses.
      const record = new Float32Array(4);
      for (let i = 0; i < written; i++) record[i % 4] = 100 + i;
      const expected = Array.from({ length: Math.min(written, 4) }, (_, k) => 100 + written - Math.min(written, 4) + k);
      expect([...ringInOrder(record, written)], `${written} written`).toEqual(expected);
    }
  });
});

type Refusal = [what: string, call: (net: Network, device: GPUDevice) => Promise<unknown>, type: typeof BackpropError, message: RegExp];

const y4 = (device: GPUDevice): GpuMatrix => ({ buffer: upload(device, rowsOf(ONE_HOT, 2, 0, BATCH)), rows: BATCH });
const x4 = (device: GPUDevice, offset = 0): GpuMatrix => ({ buffer: upload(device, rowsOf(X, INPUTS, 0, BATCH), offset), rows: BATCH, offset });

const REFUSALS: Refusal[] = [
  ['a buffer without STORAGE usage', (net, device) => net.trainBatch({ buffer: device.createBuffer({ size: 256, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }), rows: 2 }, y4(device)),
    DeviceError, /^x\.buffer lacks GPUBufferUsage\.STORAGE \(its usage is \d+\); the network's kernels bind it as storage$/],
  ['a buffer too small for its rows', (net, device) => net.predict({ buffer: upload(device, new Float32Array(6)), rows: 8 }),
    ShapeError, /^x is 8 rows of 3 floats \(inputSize\) from byte 0, 96 bytes, past the end of its 88-byte buffer$/],
  ['a buffer too small for its rows from its offset', (net, device) => net.trainBatch(x4(device), { buffer: upload(device, new Float32Array(8)), rows: BATCH, offset: 72 }),
    ShapeError, /^y is 4 rows of 2 floats \(the output width\) from byte 72, 32 bytes, past the end of its 96-byte buffer$/],
  ['an offset off the device alignment', (net, device) => net.trainBatch({ ...x4(device, 16) }, y4(device)),
    DeviceError, /^x\.offset 16 is not a multiple of this device's minStorageBufferOffsetAlignment \(\d+ bytes\)$/],
  ['an offset not a multiple of 4', (net, device) => net.predict({ buffer: upload(device, X), rows: 2, offset: 2 }),
    ShapeError, /^x\.offset must be a non-negative multiple of 4 bytes, got 2$/],
  ['rows that are not a positive integer', (net, device) => net.predict({ buffer: upload(device, X), rows: 1.5 }),
    ShapeError, /^x\.rows must be a positive integer, got 1\.5$/],
  ['zero rows', (net, device) => net.predict({ buffer: upload(device, X), rows: 0 }), ShapeError, /^x\.rows must be a positive integer, got 0$/],
  ['more rows than batchSize in trainBatch', (net, device) => net.trainBatch({ buffer: upload(device, X), rows: 5 }, rowsOf(ONE_HOT, 2, 0, 5)),
    ShapeError, /^trainBatch got 5 rows, more than batchSize 4; use fit\(\) for larger sets$/],
  ['y with other rows than x', (net, device) => net.trainBatch(x4(device), { buffer: upload(device, ONE_HOT), rows: 3 }),
    ShapeError, /^y has 3 rows but x has 4$/],
  ['a destroyed buffer', (net, device) => {
    const x = x4(device);
    x.buffer.destroy();
    return net.trainBatch(x, y4(device));
  }, DeviceError, /^x\.buffer was destroyed \(WebGPU refused a submit using it: /],
  ['a mapped buffer', (net, device) => net.predict({ buffer: device.createBuffer({ size: 64, usage: GPUBufferUsage.STORAGE, mappedAtCreation: true }), rows: 1 }),
    DeviceError, /^x\.buffer is mapped; unmap it first$/],
  ['a buffer of another device', async (net) => {
    const other = await (await requestAdapter())!.requestDevice();
    return net.trainBatch({ buffer: upload(other, rowsOf(X, INPUTS, 0, 2)), rows: 2 }, rowsOf(ONE_HOT, 2, 0, 2));
  }, DeviceError, /^x\.buffer cannot be bound on this network's device: it belongs to another GPUDevice \(WebGPU: /],
  ['an ArrayBuffer for buffer', (net) => net.predict({ buffer: new ArrayBuffer(64) as unknown as GPUBuffer, rows: 1 }),
    ShapeError, /^x\.buffer must be a GPUBuffer, got /],
  ['a buffer whose size getter throws', (net) => net.predict({ buffer: { get size(): number { throw new Error('no size'); } } as unknown as GPUBuffer, rows: 1 }),
    ShapeError, /^reading x\.buffer threw: no size$/],
  ['class labels for a loss that takes none', (net, device) => net.trainBatch(x4(device), { buffer: upload(device, CLASSES), rows: BATCH, labels: true }),
    ShapeError, /^y is a GpuMatrix of class labels, which loss mse cannot take: give y as \[rows, 2\] targets$/],
  ['into with other rows than x', (net, device) => net.predict(X, { into: { buffer: upload(device, ONE_HOT), rows: 2 } }),
    ShapeError, /^predict: into has 2 rows but x has 11$/],
  ['host rows to encodeTrainBatch', (net, device) => net.encodeTrainBatch(device.createCommandEncoder(), rowsOf(X, INPUTS, 0, 2) as unknown as GpuMatrix, y4(device)),
    ShapeError, /^encodeTrainBatch: x must be a GpuMatrix \(\{ buffer, rows, offset\? \}\); host rows are for trainBatch/],
  ['no encoder to encodePredict', (net, device) => net.encodePredict({} as GPUCommandEncoder, x4(device), y4(device)),
    ShapeError, /^encodePredict: the encoder must be a GPUCommandEncoder of the network's device/],
  ['a GpuMatrix x and host y to fit', (net, device) => net.fit(x4(device), rowsOf(ONE_HOT, 2, 0, BATCH)),
    ShapeError, /^fit: x is a GpuMatrix and y is not; fit takes its training set either all on the GPU/],
  ['GpuMatrix validationData', (net, device) => net.fit(rowsOf(X, INPUTS, 0, BATCH), rowsOf(ONE_HOT, 2, 0, BATCH), { validationData: [x4(device), y4(device)] as unknown as [Float32Array, Float32Array] }),
    ShapeError, /^fit: validationData is a GpuMatrix; the validation rows are taken as host rows/],
  ['a validationSplit of a GpuMatrix set', (net, device) => net.fit(x4(device), y4(device), { validationSplit: 0.5 }),
    ShapeError, /^fit: validationSplit cannot split a GpuMatrix training set; give validationData \(host rows\) instead$/],
];

describe('bad GpuMatrix data is refused before anything runs', () => {
  it.each(REFUSALS)('%s', async (what, call, type, message) => {
    const device = await gpuDevice();
    // mse, so that class labels are refused by the loss; one-hot targets are mse targets as well.
    const [net, twin] = await twins(device, { loss: 'mse' });
    try {
      const error = await call(net, device).then(() => undefined, (e: unknown) => e);
      expect(error, what).toBeInstanceOf(type);
      expect((error as Error).name).toBe(type.name);
      expect((error as Error).message).toMatch(message);
      await expectSameTraining(net, twin);
    } finally {
      net.dispose();
      twin.dispose();
    }
  }, TIMEOUT);

  it('the cpu backend refuses a GpuMatrix, naming the backend', async () => {
    const device = await gpuDevice();
    const [net, twin] = await Promise.all([createNetwork(spec(undefined)), createNetwork(spec(undefined))]);
    const buffer = upload(device, X);
    try {
      const calls: [string, () => Promise<unknown>][] = [
        ['trainBatch', () => net.trainBatch({ buffer, rows: 2 }, rowsOf(ONE_HOT, 2, 0, 2))],
        ['predict', () => net.predict({ buffer, rows: 2 })],
        ['evaluate', () => net.evaluate(X, { buffer, rows: ROWS })],
        ['fit', () => net.fit({ buffer, rows: ROWS }, { buffer, rows: ROWS })],
        ['encodeTrainBatch', () => net.encodeTrainBatch(device.createCommandEncoder(), { buffer, rows: 2 }, { buffer, rows: 2 })],
      ];
      for (const [name, call] of calls) {
        const error = await call().then(() => undefined, (e: unknown) => e);
        expect(error).toBeInstanceOf(DeviceError);
        expect((error as Error).message).toMatch(new RegExp(`^${name}: \\w+ is a GpuMatrix, which only the webgpu backend takes, and this network runs on the cpu backend`));
      }
      expect((await net.readLosses()).length).toBe(0);
      await expectSameTraining(net, twin);
    } finally {
      net.dispose();
      twin.dispose();
      buffer.destroy();
    }
  }, TIMEOUT);

  it('a network that standardizes its inputs refuses x as a GpuMatrix', async () => {
    const device = await gpuDevice();
    const [net, twin] = await twins(device, { standardize: true });
    try {
      const error = await net.predict(x4(device)).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(ShapeError);
      expect((error as Error).message).toMatch(/^x is a GpuMatrix, but this network standardizes its inputs \(standardize: true\)/);
      await expectSameTraining(net, twin);
    } finally {
      net.dispose();
      twin.dispose();
    }
  }, TIMEOUT);
});
