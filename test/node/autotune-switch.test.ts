import { describe, expect, it, vi } from 'vitest';
import { MATMUL_VARIANTS, matmulVariantsFor, type MatmulVariant } from '../../shaders/index.js';
import { createNetwork, type NetworkSpec } from '../../src/index.js';
import { canShareBySubgroups, defaultContext } from '../../src/webgpu/device.js';

// The trials' verdict made certain: every pending product's winner is its other candidate, so each
// one switches kernels after the first step (which timing alone cannot promise).
vi.mock('../../src/webgpu/autotune.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/webgpu/autotune.js')>();
  return {
    ...original,
    planTuning: async (...args: Parameters<typeof original.planTuning>) => {
      const plan = await original.planTuning(...args);
      if (!plan.measure) return plan;
      return {
        ...plan,
        measure: async () => plan.decisions.map((decision) => {
          if (decision.source !== 'pending') return decision;
          const [m, n, k] = decision.shape.split('×').map(Number) as [number, number, number];
          const form = decision.label.endsWith('forward') ? [false, false] : decision.label.endsWith('gradient') ? [true, false] : [false, true];
          const candidates = matmulVariantsFor(form[0]!, form[1]!, m, n, k, { subgroups: canShareBySubgroups(args[0]), hardware: !args[0].software });
          return { ...decision, variant: candidates.find((c) => c !== decision.variant)!, source: 'measured' as const };
        }),
      };
    },
  };
});

// Widths over one tile of either variant (32 and 64 columns), so that a switch changes the grid; every
// product with a choice but the output layer's is past TRIAL_MIN_WORK at batch 128 (128·72·120 and up).
const spec: NetworkSpec = {
  inputSize: 128,
  layers: [{ type: 'dense', units: 72 }, { type: 'leakyRelu' }, { type: 'dense', units: 120 }, { type: 'sigmoid' }, { type: 'dense', units: 4 }],
  loss: 'mse',
  optimizer: { type: 'momentum', learningRate: 0.05, momentum: 0.9 },
  batchSize: 128,
  backend: 'webgpu',
  seed: 11,
};

describe('autotune switching a product between steps', () => {
  it('moves each product to its winner after the first step, with no validation error and the same results', async () => {
    const { device } = (await defaultContext())!;
    if (!device.features.has('timestamp-query')) {
      throw new Error('this adapter has no timestamp-query: the trials would not run in the background (SwiftShader has it)');
    }
    const x = Float32Array.from({ length: 128 * 128 }, (_, i) => Math.sin(i * 0.37));
    const y = Float32Array.from({ length: 128 * 4 }, (_, i) => (Math.cos(i * 1.3) + 1) / 2);
    device.pushErrorScope('validation');

    // Switched after its first step.
    const switched = await createNetwork(spec);
    const before = switched.deviceInfo.tuning!.map((d) => d.variant);
    const losses = [await switched.trainBatch(x, y)];
    await switched.tuned();
    const after = switched.deviceInfo.tuning!.map((d) => d.variant);
    const changed = after.filter((variant, i) => variant !== before[i]);
    expect(changed.length).toBeGreaterThan(0);
    // Some switches change the tile (vec4 ↔ vec4-wide), hence the grid.
    expect(changed.some((variant) => MATMUL_VARIANTS[variant as MatmulVariant].wide)).toBe(true);
    for (let i = 0; i < 4; i++) losses.push(await switched.trainBatch(x, y));

    // Switched before any step.
    const settled = await createNetwork(spec);
    await settled.tuned();
    expect(settled.deviceInfo.tuning!.map((d) => d.variant)).toEqual(after);
    const again = [];
    for (let i = 0; i < 5; i++) again.push(await settled.trainBatch(x, y));

    expect(await device.popErrorScope()).toBeNull();
    expect(again).toEqual(losses);
    expect(losses[4]!).toBeLessThan(losses[0]!);
    const [a, b] = [await switched.predict(x), await settled.predict(x)];
    expect(Array.from(a)).toEqual(Array.from(b));
    switched.dispose();
    settled.dispose();
  });
});
