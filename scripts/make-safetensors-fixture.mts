/**
 * Our half of the safetensors fixtures (test/fixtures/safetensors/): a network built here, its
 * moving statistics and normalization parameters set away from their defaults, written with
 * toSafetensors() to ours.safetensors, with its spec and inputs in ours.json. The PyTorch half,
 * scripts/make-safetensors-fixtures.py, runs this first, then loads the file into torch and adds
 * what torch predicts. Run: /usr/bin/python3 scripts/make-safetensors-fixtures.py
 */
import { writeFileSync } from 'node:fs';
import { createNetwork, type NetworkSpec } from '../src/index.js';

const folder = new URL('../test/fixtures/safetensors/', import.meta.url);
/** Every kind and the activations the torch-made fixture does not have: BatchNorm1d, Softplus, tanh GELU, Dropout, Sigmoid, ReLU. */
const spec: NetworkSpec = {
  inputSize: 4,
  layers: [
    { type: 'dense', units: 6, activation: 'relu' },
    { type: 'batchNormalization', momentum: 0.95, epsilon: 1e-3 },
    { type: 'softplus' },
    { type: 'dense', units: 5 },
    { type: 'gelu', approximate: true },
    { type: 'dropout', rate: 0.3 },
    { type: 'dense', units: 5 },
    { type: 'layerNormalization', epsilon: 1e-4 },
    { type: 'sigmoid' },
    { type: 'dense', units: 3 },
  ],
  loss: 'mse',
  optimizer: { type: 'adam', learningRate: 0.01 },
  seed: 17,
};
const net = await createNetwork({ ...spec, backend: 'reference' });
// Values of the normalization layers that are not their initial ones, so a swapped name shows.
const vary = (length: number, base: number, step: number) => Array.from({ length }, (_, i) => base + step * Math.sin(i + 1));
await net.setWeights((await net.getWeights()).map((entry) => {
  const units = Object.values(entry)[0]!.length;
  return 'movingMean' in entry
    ? { gamma: vary(units, 1, 0.3), beta: vary(units, 0, 0.2), movingMean: vary(units, 0.4, 0.5), movingVariance: vary(units, 1.2, 0.6) }
    : 'gamma' in entry ? { gamma: vary(units, 0.9, 0.25), beta: vary(units, 0.1, 0.3) } : entry;
}));
const x = Array.from({ length: 7 * spec.inputSize }, (_, i) => Math.round(Math.cos(0.7 * i + 0.3) * 2000) / 1000);
writeFileSync(new URL('ours.safetensors', folder), await net.toSafetensors());
writeFileSync(new URL('ours.json', folder), `${JSON.stringify({ spec, x }, null, 1)}\n`);
net.dispose();
