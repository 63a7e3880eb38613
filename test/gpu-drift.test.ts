/**
 * Drift from the float64 reference over many Adam steps: the WebGPU backend stays as close as the
 * CPU backend. Adam's bias corrections 1 − β^t were pow() in f32 on the GPU, whose few-ulp error
 * 1 − β2^t magnifies a thousandfold: 3.6e-4 after 180 steps where the CPU is at 4.9e-5
 * (scripts/measure-drift.mts); they are now taken in float64 on the host. Runs in Node and the browser.
 */
import { describe, expect, it } from 'vitest';
import { createNetwork, type Network, type NetworkSpec } from '../src/index.js';
import { flatWeights } from './support/agreement.js';

const X = Array.from({ length: 32 }, (_, r) => Array.from({ length: 8 }, (_, c) => Math.sin(r * 0.7 + c * 1.9)));
const Y = X.map((row) => [Math.tanh(row[0]! + row[1]!), row[2]! * row[3]!, Math.cos(row[4]!), row[5]! > 0 ? 1 : 0]);
const spec: NetworkSpec = {
  inputSize: 8,
  layers: [{ type: 'dense', units: 16 }, { type: 'tanh' }, { type: 'dense', units: 16 }, { type: 'relu' }, { type: 'dense', units: 4 }],
  loss: 'mse',
  optimizer: { type: 'adam', learningRate: 0.01 },
  batchSize: 32,
  seed: 11,
};

async function drift(net: Network, reference: Float32Array): Promise<number> {
  const weights = await flatWeights(net);
  return Math.max(...weights.map((w, i) => Math.abs(w - reference[i]!)));
}

describe('drift from the reference', () => {
  it('webgpu stays within 1.5× the cpu backend\'s distance from the float64 reference over 180 Adam steps', async () => {
    const nets = await Promise.all((['reference', 'cpu', 'webgpu'] as const).map((backend) => createNetwork({ ...spec, backend })));
    for (let step = 0; step < 180; step++) for (const net of nets) await net.trainBatch(X, Y);
    const reference = await flatWeights(nets[0]!);
    const [cpu, webgpu] = [await drift(nets[1]!, reference), await drift(nets[2]!, reference)];
    expect(cpu).toBeGreaterThan(0);
    expect(cpu).toBeLessThan(1e-4);
    expect(webgpu).toBeLessThanOrEqual(1.5 * cpu);
    for (const net of nets) net.dispose();
  });
});
