/**
 * How far each backend drifts from the float64 reference over many Adam steps: the largest
 * |weight − reference weight| after every STEPS steps of trainBatch on one fixed batch, for cpu and
 * webgpu. Run: npx tsx scripts/measure-drift.mts
 */
import { createNetwork } from '../src/index.js';
import { flatWeights } from '../test/support/agreement.js';
import { drift, DRIFT_SPEC as spec, DRIFT_X as X, DRIFT_Y as Y } from '../test/support/drift.js';

const STEPS = [1, 10, 60, 180];
const nets = await Promise.all((['reference', 'cpu', 'webgpu'] as const).map((backend) => createNetwork({ ...spec, backend })));
let done = 0;
for (const target of STEPS) {
  for (; done < target; done++) for (const net of nets) await net.trainBatch(X, Y);
  const reference = await flatWeights(nets[0]!);
  const [cpu, webgpu] = [await drift(nets[1]!, reference), await drift(nets[2]!, reference)];
  console.log(`after ${target} steps: max |w − reference| cpu ${cpu.toExponential(2)}, webgpu ${webgpu.toExponential(2)}`);
}
for (const net of nets) net.dispose();
process.exit(0);
