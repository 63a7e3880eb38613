import { describe, expect, it } from 'vitest';
import { createNetwork } from '../src/index.js';

const XOR_X = [[0, 0], [0, 1], [1, 0], [1, 1]];
const XOR_Y = [[0], [1], [1], [0]];

describe('learning a known function', () => {
  it.each(['webgpu', 'cpu'] as const)('XOR is learned to mse < 0.01 (%s)', async (backend) => {
    const net = await createNetwork({
      inputSize: 2,
      layers: [{ type: 'dense', units: 8 }, { type: 'tanh' }, { type: 'dense', units: 1 }, { type: 'sigmoid' }],
      loss: 'mse',
      optimizer: { type: 'adam', learningRate: 0.05 },
      batchSize: 4,
      seed: 1,
      backend,
    });
    const { loss } = await net.fit(XOR_X, XOR_Y, { epochs: 400 });
    expect(loss[loss.length - 1]).toBeLessThan(0.01);
    expect(loss[loss.length - 1]).toBeLessThan(loss[0]! / 10);
    // mse is a regression loss: accuracy is reported when asked for.
    const evaluation = await net.evaluate(XOR_X, XOR_Y, { metrics: ['accuracy'] });
    expect(evaluation.loss).toBeLessThan(0.01);
    expect(evaluation.accuracy).toBe(1);
    const predictions = await net.predict(XOR_X);
    expect(Array.from(predictions, (p) => (p > 0.5 ? 1 : 0))).toEqual([0, 1, 1, 0]);
    net.dispose();
  });
});
