/**
 * The fused small-MLP step against the per-layer one on this adapter: dispatches per training step
 * and the median time of trainBatch on 2-64-64-64-64-3 (relu, mse, adam) at a batch of 2^14 rows
 * (and of 1-64-64-1 at 256), both paths interleaved in one process, and what 'auto' picks.
 * Run: npx tsx scripts/fused-mlp-step.mts
 */
import { createNetwork, type NetworkSpec } from '../src/index.js';
import { randomArray } from '../test/support/kernel-runner.js';

const STEPS = 8;
const cases: { name: string; widths: number[]; rows: number }[] = [
  { name: '2-64-64-64-64-3', widths: [2, 64, 64, 64, 64, 3], rows: 2 ** 14 },
  { name: '1-64-64-1', widths: [1, 64, 64, 1], rows: 256 },
];

function spec(widths: number[], rows: number, fusedMlp: 'always' | 'never' | 'auto'): NetworkSpec {
  const layers: NetworkSpec['layers'] = [];
  for (const units of widths.slice(1, -1)) layers.push({ type: 'dense', units }, { type: 'relu' });
  layers.push({ type: 'dense', units: widths[widths.length - 1]! });
  return { inputSize: widths[0]!, layers, loss: 'mse', optimizer: { type: 'adam', learningRate: 0.001 }, batchSize: rows, backend: 'webgpu', fusedMlp };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

for (const { name, widths, rows } of cases) {
  const x = randomArray(rows * widths[0]!, 1);
  const y = randomArray(rows * widths[widths.length - 1]!, 2);
  const nets = { fused: await createNetwork(spec(widths, rows, 'always')), unfused: await createNetwork(spec(widths, rows, 'never')) };
  // The unfused products' variants are settled first, so the comparison is with the tuned per-layer step.
  await nets.unfused.tuned();
  const times = { fused: [] as number[], unfused: [] as number[] };
  for (const net of Object.values(nets)) await net.trainBatch(x, y);
  for (let step = 0; step < STEPS; step++) {
    for (const path of ['fused', 'unfused'] as const) {
      const start = performance.now();
      await nets[path].trainBatch(x, y);
      times[path].push(performance.now() - start);
    }
  }
  const dispatches = nets.fused.deviceInfo.fusedMlp!.dispatches;
  const auto = await createNetwork(spec(widths, rows, 'auto'));
  console.log(`${name} at ${rows} rows: dispatches per step fused ${dispatches.fused}, unfused ${dispatches.unfused}; ` +
    `trainBatch median fused ${median(times.fused).toFixed(1)} ms, unfused ${median(times.unfused).toFixed(1)} ms ` +
    `(${(median(times.unfused) / median(times.fused)).toFixed(2)}×); auto: ${auto.deviceInfo.fusedMlp!.fused ? 'fused' : 'unfused'} (${auto.deviceInfo.fusedMlp!.reason})`);
  for (const net of [...Object.values(nets), auto]) net.dispose();
}
process.exit(0);
