/**
 * Drift from the float64 reference over many Adam steps: the WebGPU backend stays as close as the
 * CPU backend. Adam's bias corrections 1 − β^t were pow() in f32 on the GPU, whose few-ulp error
 * 1 − β2^t magnifies a thousandfold: 3.6e-4 after 180 steps where the CPU is at 4.9e-5
 * (scripts/measure-drift.mts); they are now taken in float64 on the host. Runs in Node and the browser.
 */
import { describe, expect, it } from 'vitest';
import { createNetwork } from '../src/index.js';
import { flatWeights } from './support/agreement.js';
import { drift, DRIFT_SPEC as spec, DRIFT_X as X, DRIFT_Y as Y } from './support/drift.js';

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
