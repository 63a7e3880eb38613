import { describe, expect, it } from 'vitest';
import { matmulVariantsFor } from '../shaders/index.js';
import { createNetwork, type NetworkSpec } from '../src/index.js';
import { fastest } from '../src/webgpu/autotune.js';
import { canShareBySubgroups, defaultContext } from '../src/webgpu/device.js';

describe('autotune decision', () => {
  it('picks the candidate with the lowest best time, keeping list order on ties', () => {
    expect(fastest(new Map([['a', [5, 3]], ['b', [4, 4]]]))).toBe('a');
    expect(fastest(new Map([['a', [5, 9]], ['b', [4, 8]]]))).toBe('b');
    expect(fastest(new Map([['a', [2]], ['b', [2]]]))).toBe('a');
    expect(() => fastest(new Map())).toThrow(/no candidates/);
  });
});

describe('autotune on this adapter', () => {
  // 36 and 20 units (multiples of 4) give every product a choice of vec4 variants; the 3 outputs do not.
  const spec = (batchSize: number): NetworkSpec => ({
    inputSize: 12,
    layers: [{ type: 'dense', units: 36 }, { type: 'relu' }, { type: 'dense', units: 20 }, { type: 'tanh' }, { type: 'dense', units: 3 }],
    loss: 'mse',
    optimizer: { type: 'sgd', learningRate: 0.1 },
    batchSize,
    backend: 'webgpu',
  });

  it('chooses every product\'s variant among those the device allows, measuring once per shape class', async () => {
    const context = (await defaultContext())!;
    const subgroups = canShareBySubgroups(context);
    // An odd batch size keeps these shape classes apart from every other test's networks.
    const first = await createNetwork(spec(44));
    const tuning = first.deviceInfo.tuning!;
    expect(tuning.map((d) => d.label)).toEqual([
      'layer 1 forward', 'layer 1 weight gradient',
      'layer 2 forward', 'layer 2 weight gradient', 'layer 2 signal',
      'layer 3 forward', 'layer 3 weight gradient', 'layer 3 signal',
    ]);
    for (const decision of tuning) {
      const [m, n, k] = decision.shape.split('×').map(Number) as [number, number, number];
      const form = decision.label.endsWith('forward') ? [false, false] : decision.label.endsWith('gradient') ? [true, false] : [false, true];
      const candidates = matmulVariantsFor(form[0]!, form[1]!, m, n, k, { subgroups });
      expect(candidates, decision.label).toContain(decision.variant);
      if (candidates.length === 1) {
        expect(decision.source).toBe('only');
      } else {
        expect(['measured', 'cached']).toContain(decision.source);
        if (decision.source === 'measured') expect(Object.keys(decision.trials!).sort()).toEqual([...candidates].sort());
      }
    }
    // The 3-unit output layer cannot use vec4 loads: a scalar kernel, with no timing.
    expect(tuning.find((d) => d.label === 'layer 3 forward')).toMatchObject({ variant: subgroups ? 'scalar+subgroups' : 'scalar', source: 'only' });
    expect(tuning.some((d) => d.source === 'measured')).toBe(true);

    // Same shapes again: every decision comes from the cache, and agrees with the first.
    const second = await createNetwork(spec(44));
    const again = second.deviceInfo.tuning!;
    expect(again.map((d) => d.variant)).toEqual(tuning.map((d) => d.variant));
    expect(again.every((d) => d.source !== 'measured')).toBe(true);
    first.dispose();
    second.dispose();
  });
});
