/**
 * Calls made without awaiting the previous one are queued in order and give exactly what the same
 * calls give awaited one by one: never interleaved state. Runs in Node and in the browser.
 */
import { describe, expect, it } from 'vitest';
import { createNetwork, type Network, type NetworkSpec } from '../src/index.js';

const X = Array.from({ length: 11 }, (_, r) => [Math.sin(r * 1.3), Math.cos(r) * 2, (r % 3) - 1]);
const Y = X.map(([a, b]) => (a! + b! > 0 ? [1, 0] : [0, 1]));
const spec = (backend: 'cpu' | 'webgpu'): NetworkSpec => ({
  inputSize: 3,
  layers: [{ type: 'dense', units: 6 }, { type: 'relu' }, { type: 'dense', units: 2 }],
  loss: 'softmaxCrossEntropy',
  optimizer: { type: 'adam', learningRate: 0.03 },
  batchSize: 4,
  seed: 13,
  backend,
});

/** A mixed sequence of calls; each returns something comparable. */
const OPERATIONS: ((net: Network) => Promise<unknown>)[] = [
  (net) => net.trainBatch(X.slice(0, 4), Y.slice(0, 4)),
  (net) => net.fit(X, Y, { epochs: 2 }),
  (net) => net.predict(X).then(Array.from),
  (net) => net.evaluate(X, Y),
  (net) => net.trainBatch(X.slice(5, 8), Y.slice(5, 8)),
  (net) => net.getWeights(),
  (net) => net.sync(),
  (net) => net.fit(X.slice(2), Y.slice(2), { epochs: 1 }),
  (net) => net.save({ optimizerState: true }),
  (net) => net.predict(X.slice(0, 3)).then(Array.from),
  (net) => net.setWeights([{ weights: new Float32Array(18).fill(0.1), bias: new Float32Array(6) },
    { weights: new Float32Array(12).fill(-0.2), bias: new Float32Array(2) }]),
  (net) => net.trainBatch(X.slice(0, 4), Y.slice(0, 4)),
  (net) => net.evaluate(X, Y),
];

describe.each(['cpu', 'webgpu'] as const)('queued calls (%s)', (backend) => {
  it('a mixed sequence issued at once gives what it gives awaited call by call', async () => {
    const [queued, awaited] = await Promise.all([createNetwork(spec(backend)), createNetwork(spec(backend))]);
    const pending = OPERATIONS.map((op) => op(queued));
    const expected: unknown[] = [];
    for (const op of OPERATIONS) expected.push(await op(awaited));
    expect(await Promise.all(pending)).toEqual(expected);
    queued.dispose();
    awaited.dispose();
  });

  it('trainBatch ×3 and predict during fit run after it, in order', async () => {
    const [queued, awaited] = await Promise.all([createNetwork(spec(backend)), createNetwork(spec(backend))]);
    const predictedInBatch: Promise<Float32Array>[] = [];
    const fit = queued.fit(X, Y, {
      epochs: 3,
      // Not awaited by fit: queued behind everything already queued, so it runs last.
      onBatchEnd: ({ epoch, batch }) => {
        if (epoch === 0 && batch === 0) predictedInBatch.push(queued.predict(X));
      },
    });
    const during = [queued.predict(X), queued.trainBatch(X.slice(0, 4), Y.slice(0, 4)), queued.trainBatch(X.slice(4, 8), Y.slice(4, 8)),
      queued.trainBatch(X.slice(0, 4), Y.slice(0, 4)), queued.predict(X)] as const;
    const fitted = await awaited.fit(X, Y, { epochs: 3 });
    const afterFit = await awaited.predict(X);
    const losses = [await awaited.trainBatch(X.slice(0, 4), Y.slice(0, 4)), await awaited.trainBatch(X.slice(4, 8), Y.slice(4, 8)),
      await awaited.trainBatch(X.slice(0, 4), Y.slice(0, 4))];
    const atEnd = await awaited.predict(X);
    expect(await fit).toEqual(fitted);
    const [first, ...rest] = await Promise.all(during);
    expect(Array.from(first)).toEqual(Array.from(afterFit));
    expect(rest.slice(0, 3)).toEqual(losses);
    expect(Array.from(rest[3] as Float32Array)).toEqual(Array.from(atEnd));
    expect(Array.from(await predictedInBatch[0]!)).toEqual(Array.from(atEnd));
    queued.dispose();
    awaited.dispose();
  });
});
