/**
 * How far each backend drifts from the float64 reference over many Adam steps: the largest
 * |weight − reference weight| after every STEPS steps of trainBatch on one fixed batch, for cpu and
 * webgpu. Run: npx tsx scripts/measure-drift.mts
 */
import { createNetwork, type Network, type NetworkSpec } from '../src/index.js';

const STEPS = [1, 10, 60, 180];
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

const flat = async (net: Network) => (await net.getWeights()).flatMap((layer) => Object.values(layer).flatMap((v: Float32Array) => [...v]));
const nets = await Promise.all((['reference', 'cpu', 'webgpu'] as const).map((backend) => createNetwork({ ...spec, backend })));
let done = 0;
for (const target of STEPS) {
  for (; done < target; done++) for (const net of nets) await net.trainBatch(X, Y);
  const [reference, ...others] = await Promise.all(nets.map(flat));
  const drift = others.map((weights) => Math.max(...weights.map((w, i) => Math.abs(w - reference![i]!))));
  console.log(`after ${target} steps: max |w − reference| cpu ${drift[0]!.toExponential(2)}, webgpu ${drift[1]!.toExponential(2)}`);
}
for (const net of nets) net.dispose();
process.exit(0);
