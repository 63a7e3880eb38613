import { describe, expect, it } from 'vitest';
import { createNetwork, loadNetwork, type NetworkSpec } from '../src/index.js';
import type { ActivationName, LossName, OptimizerSpec } from '../src/spec.js';
import { wasmSupport } from '../src/cpu/wasm/module.js';
import { randomArray } from './support/kernel-runner.js';

/**
 * Multi-step training on the wasm CPU backend, on 1 and 2 threads, against the float64 reference:
 * every loss × optimizer × activation. The network is wide enough (batch 48 × 40 inputs × 72 units)
 * that its first products are split between the threads.
 */
const LOSSES: LossName[] = ['mse', 'sse', 'softmaxCrossEntropy'];
const OPTIMIZERS: OptimizerSpec[] = [
  { type: 'sgd', learningRate: 0.2 },
  { type: 'momentum', learningRate: 0.05 },
  // Adam divides each gradient by its own running size, so rounding in a gradient near zero can move
  // a weight by up to the learning rate: 0.002 keeps that within the 1e-4 agreement.
  { type: 'adam', learningRate: 0.002 },
];
const ACTIVATIONS: { type: ActivationName; slope?: number }[] = [
  { type: 'sigmoid' }, { type: 'leakyRelu', slope: 0.05 }, { type: 'relu' }, { type: 'tanh' }, { type: 'linear' },
];
const INPUTS = 40;
const BATCH = 48;

function specFor(loss: LossName, optimizer: OptimizerSpec, activation: { type: ActivationName; slope?: number }): NetworkSpec {
  return {
    inputSize: INPUTS,
    layers: [{ type: 'dense', units: 72 }, activation as never, { type: 'dense', units: 9 }, activation as never, { type: 'dense', units: 3 },
      ...(loss === 'softmaxCrossEntropy' ? [] : [{ type: 'sigmoid' as const }])],
    loss,
    optimizer,
    batchSize: BATCH,
    seed: 3,
  };
}

/** 100 rows: two full batches and a partial one per epoch. */
const ROWS = 100;
const x = randomArray(ROWS * INPUTS, 5);
const y = new Float32Array(ROWS * 3);
for (let r = 0; r < ROWS; r++) y[r * 3 + (x[r * INPUTS]! > 0 ? 1 : 0) + (x[r * INPUTS + 1]! > 0.3 ? 1 : 0)] = 1;

async function trace(spec: NetworkSpec) {
  const net = await createNetwork(spec);
  const losses: number[] = [];
  for (let step = 0; step < 2; step++) losses.push(await net.trainBatch(x.subarray(0, BATCH * INPUTS), y.subarray(0, BATCH * 3)));
  losses.push(await net.trainBatch(x.subarray(0, 7 * INPUTS), y.subarray(0, 7 * 3)));
  losses.push(...(await net.fit(x, y, { epochs: 1 })).loss);
  losses.push((await net.evaluate(x, y)).loss);
  const predictions = Array.from(await net.predict(x));
  const weights = (await net.getWeights()).flatMap((l) => Object.values(l).flatMap((v: Float32Array) => [...v]));
  const info = net.deviceInfo;
  net.dispose();
  return { losses, weights, predictions, info };
}

/** Relaxed SIMD (fused multiply-adds) where the platform has it: Chromium, Node 22+. */
const wasmKind = async () => ((await wasmSupport()).relaxed ? 'wasm-relaxed-simd' : 'wasm-simd');

function expectAgree(actual: number[], expected: number[], what: string) {
  expect(actual.length).toBe(expected.length);
  actual.forEach((value, i) => {
    const error = Math.abs(value - expected[i]!);
    if (!(error <= 1e-4 * Math.max(1, Math.abs(expected[i]!)))) throw new Error(`${what}[${i}]: ${value} vs reference ${expected[i]}`);
  });
}

describe('the wasm CPU backend trains like the reference', () => {
  const cases = LOSSES.flatMap((loss) => OPTIMIZERS.flatMap((optimizer) =>
    ACTIVATIONS.map((activation) => [loss, optimizer.type, activation.type, optimizer, activation] as const)));

  it.each(cases)('%s × %s × %s on 1 and 2 threads', async (loss, _o, _a, optimizer, activation) => {
    const spec = specFor(loss, optimizer, activation);
    const reference = await trace({ ...spec, backend: 'reference' });
    const runs = [await trace({ ...spec, backend: 'cpu', threads: 1 }), await trace({ ...spec, backend: 'cpu', threads: 2 })];
    const kernels = await wasmKind();
    runs.forEach((run, i) => {
      expect(run.info).toMatchObject({ backend: 'cpu', kernels, threads: i + 1 });
      expectAgree(run.losses, reference.losses, `${i + 1} thread loss`);
      expectAgree(run.weights, reference.weights, `${i + 1} thread weights`);
      expectAgree(run.predictions, reference.predictions, `${i + 1} thread predictions`);
    });
    // The thread count changes which thread computes an element, never how: the same bits.
    expect(runs[1]!.weights).toEqual(runs[0]!.weights);
    expect(runs[1]!.losses).toEqual(runs[0]!.losses);
    expect(reference.losses[reference.losses.length - 1]).not.toBe(reference.losses[0]);
  });

  // predict and evaluate read a packed copy of the dense weights (CpuKernels.packWeights), made once
  // per change of the weights: each change must be seen by the next prediction.
  it.each([1, 2])('predicts with the weights as they are now, after steps, setWeights and restore (%i threads)', async (threads) => {
    const spec: NetworkSpec = { ...specFor('softmaxCrossEntropy', OPTIMIZERS[1]!, ACTIVATIONS[3]!), backend: 'cpu', threads };
    const net = await createNetwork(spec);
    const rows = x.subarray(0, 3 * INPUTS); // 3 rows: the matrix–vector path
    /** The same rows predicted (and their loss) by a new network given this one's weights now (its first pack). */
    const afresh = async (what: 'predict' | 'loss' = 'predict') => {
      const other = await createNetwork(spec);
      await other.setWeights(await net.getWeights());
      const result = what === 'loss' ? (await other.evaluate(x, y)).loss : Array.from(await other.predict(x));
      other.dispose();
      return result;
    };
    const initial = await net.getWeights();
    const before = Array.from(await net.predict(x));
    const fewBefore = Array.from(await net.predict(rows));
    expect(fewBefore).toEqual(before.slice(0, 9));
    await net.trainBatch(x.subarray(0, BATCH * INPUTS), y.subarray(0, BATCH * 3));
    const after = Array.from(await net.predict(x));
    expect(after).not.toEqual(before);
    expect(after).toEqual(await afresh());
    expect(Array.from(await net.predict(rows))).toEqual(after.slice(0, 9));
    expect((await net.evaluate(x, y)).loss).toBe(await afresh('loss'));
    await net.fit(x, y, { epochs: 1 });
    expect(Array.from(await net.predict(x))).toEqual(await afresh());
    await net.setWeights(initial);
    expect(Array.from(await net.predict(x))).toEqual(before);
    expect(Array.from(await net.predict(rows))).toEqual(fewBefore);
    const saved = await net.save();
    await net.trainBatch(x.subarray(0, BATCH * INPUTS), y.subarray(0, BATCH * 3));
    await net.restore({ backend: 'reference' });
    await net.restore({ backend: 'cpu' });
    expect(Array.from(await net.predict(x))).toEqual(await afresh());
    const loaded = await loadNetwork(saved, { backend: 'cpu', threads });
    expect(Array.from(await loaded.predict(x))).toEqual(before);
    loaded.dispose();
    net.dispose();
  });

  it('says what it runs on, and refuses a bad thread count', async () => {
    const net = await createNetwork({ ...specFor('mse', OPTIMIZERS[0]!, ACTIVATIONS[0]!), backend: 'cpu', threads: 2 });
    expect(net.deviceInfo.reason).toMatch(/^cpu backend requested · wasm (relaxed )?SIMD, 2 threads$/);
    // The thread count travels with restore() and can be given to loadNetwork().
    await net.restore({ backend: 'reference' });
    await net.restore({ backend: 'cpu' });
    expect(net.deviceInfo.threads).toBe(2);
    await net.restore({ threads: 1 });
    expect(net.deviceInfo.threads).toBe(1);
    const loaded = await loadNetwork(await net.save(), { backend: 'cpu', threads: 1 });
    expect(loaded.deviceInfo).toMatchObject({ kernels: await wasmKind(), threads: 1 });
    loaded.dispose();
    net.dispose();
    for (const threads of [0, 1.5, 17, '2']) {
      await expect(createNetwork({ ...specFor('mse', OPTIMIZERS[0]!, ACTIVATIONS[0]!), backend: 'cpu', threads: threads as number }))
        .rejects.toThrow(/threads must be an integer from 1 to 16/);
    }
  });
});
