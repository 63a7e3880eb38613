import { describe, expect, it } from 'vitest';
import { matmulVariantsFor } from '../shaders/index.js';
import { createNetwork, type NetworkSpec } from '../src/index.js';
import { BackgroundTuning, fastest, forgetDecisions, TRIAL_MAX_CLASSES, TRIAL_MIN_WORK, type TuningDecision } from '../src/webgpu/autotune.js';
import { canShareBySubgroups, defaultContext } from '../src/webgpu/device.js';

describe('autotune decision', () => {
  it('offers the tiled kernel only on hardware adapters, after the register-blocked ones', () => {
    expect(matmulVariantsFor(false, false, 64, 64, 64, { subgroups: false, hardware: true })).toEqual(['vec4', 'vec4-wide', 'tiled']);
    expect(matmulVariantsFor(true, false, 64, 64, 64, { subgroups: false, hardware: true })).toEqual(['vec4-wide', 'vec4', 'tiled']);
    expect(matmulVariantsFor(false, true, 64, 10, 64, { subgroups: false, hardware: true })).toEqual(['scalar', 'tiled']);
    expect(matmulVariantsFor(false, false, 64, 64, 64, { subgroups: true })).toEqual(['vec4+subgroups', 'vec4-wide+subgroups']);
    expect(matmulVariantsFor(false, true, 64, 10, 64, { subgroups: true, hardware: false })).toEqual(['scalar+subgroups']);
  });

  it('picks the candidate with the lowest best time, keeping list order on ties', () => {
    expect(fastest(new Map([['a', [5, 3]], ['b', [4, 4]]]))).toBe('a');
    expect(fastest(new Map([['a', [5, 9]], ['b', [4, 8]]]))).toBe('b');
    expect(fastest(new Map([['a', [2]], ['b', [2]]]))).toBe('a');
    expect(() => fastest(new Map())).toThrow(/no candidates/);
  });

  it('background trials never reject: a failed switch leaves that product and the rest on their guesses', async () => {
    const pending = (label: string): TuningDecision => ({ label, shape: '8×8×8', variant: 'vec4+subgroups', source: 'pending' });
    const decisions = [pending('a'), pending('b'), pending('c')];
    const measured = decisions.map((d): TuningDecision => ({ ...d, variant: 'vec4-wide+subgroups', source: 'measured' }));
    const applied: string[] = [];
    const tuning = new BackgroundTuning(async () => measured, decisions, async (decision) => {
      if (decision.label === 'b') throw new Error('device lost');
      applied.push(decision.label);
    });
    tuning.start();
    await expect(tuning.settled).resolves.toBeUndefined();
    expect(applied).toEqual(['a']);
    expect(decisions.map((d) => [d.variant, d.source])).toEqual([
      ['vec4-wide+subgroups', 'measured'], ['vec4+subgroups', 'guess'], ['vec4+subgroups', 'guess'],
    ]);
  });

  it('background trials start once, after the work they are told to wait for', async () => {
    let runs = 0;
    const tuning = new BackgroundTuning(async () => {
      runs++;
      return [];
    }, [], async () => undefined);
    let finish!: () => void;
    const work = new Promise<void>((resolve) => {
      finish = resolve;
    });
    tuning.startAfter(() => work);
    tuning.startAfter(() => Promise.resolve());
    await Promise.resolve();
    expect(runs).toBe(0);
    finish();
    await tuning.settled;
    tuning.start();
    expect(runs).toBe(1);
  });
});

describe('autotune on this adapter', () => {
  // 128 and 96 units (multiples of 4) give every product a choice of vec4 variants; the 3 outputs do
  // not. At batch sizes from 128, every product with a choice is past TRIAL_MIN_WORK (the smallest,
  // layer 1's, is 128·128·64 = 2^20).
  const spec = (batchSize: number): NetworkSpec => ({
    inputSize: 64,
    layers: [{ type: 'dense', units: 128 }, { type: 'relu' }, { type: 'dense', units: 96 }, { type: 'tanh' }, { type: 'dense', units: 3 }],
    loss: 'mse',
    optimizer: { type: 'sgd', learningRate: 0.1 },
    batchSize,
    backend: 'webgpu',
  });

  it('chooses every product\'s variant among those the device allows, measuring once per shape class', async () => {
    const context = (await defaultContext())!;
    const subgroups = canShareBySubgroups(context);
    forgetDecisions();
    const first = await createNetwork(spec(132));
    await first.tuned();
    const tuning = first.deviceInfo.tuning!;
    expect(tuning.map((d) => d.label)).toEqual([
      'layer 1 forward', 'layer 1 weight gradient',
      'layer 2 forward', 'layer 2 weight gradient', 'layer 2 signal',
      'layer 3 forward', 'layer 3 weight gradient', 'layer 3 signal',
    ]);
    for (const decision of tuning) {
      const [m, n, k] = decision.shape.split('×').map(Number) as [number, number, number];
      const form = decision.label.endsWith('forward') ? [false, false] : decision.label.endsWith('gradient') ? [true, false] : [false, true];
      const candidates = matmulVariantsFor(form[0]!, form[1]!, m, n, k, { subgroups, hardware: !context.software });
      expect(candidates, decision.label).toContain(decision.variant);
      if (candidates.length === 1) {
        expect(decision.source).toBe('only');
      } else {
        expect(['measured', 'cached']).toContain(decision.source);
        if (decision.source === 'measured') expect(Object.keys(decision.trials!).sort()).toEqual([...candidates].sort());
      }
    }
    // The 3-unit output layer cannot use vec4 loads: a scalar kernel, with no timing (on a hardware
    // adapter, timed against the tiled one).
    if (context.software) {
      expect(tuning.find((d) => d.label === 'layer 3 forward')).toMatchObject({ variant: subgroups ? 'scalar+subgroups' : 'scalar', source: 'only' });
    }
    expect(tuning.some((d) => d.source === 'measured')).toBe(true);

    // Same shapes again: every decision comes from the cache, and agrees with the first.
    const second = await createNetwork(spec(132));
    const again = second.deviceInfo.tuning!;
    expect(again.map((d) => d.variant)).toEqual(tuning.map((d) => d.variant));
    expect(again.every((d) => d.source !== 'measured')).toBe(true);
    first.dispose();
    second.dispose();
  });

  it('on first use trains on the first candidates while the trials run, then switches with the same results', async () => {
    const context = (await defaultContext())!;
    const background = context.device.features.has('timestamp-query');
    forgetDecisions();
    const { x, y } = batch(136, 64, 3);
    const first = await createNetwork({ ...spec(136), seed: 5 });
    const start = first.deviceInfo.tuning!.map((d) => ({ ...d }));
    // Where the device has timestamps the trials run beside training: every choice is pending, on its first candidate.
    for (const decision of start.filter((d) => d.source !== 'only')) {
      const [m, n, k] = decision.shape.split('×').map(Number) as [number, number, number];
      const form = decision.label.endsWith('forward') ? [false, false] : decision.label.endsWith('gradient') ? [true, false] : [false, true];
      if (background) {
        expect(decision).toMatchObject({ source: 'pending',
          variant: matmulVariantsFor(form[0]!, form[1]!, m, n, k, { subgroups: canShareBySubgroups(context), hardware: !context.software })[0] });
      } else {
        expect(decision.source).toBe('measured');
      }
    }
    const losses = [await first.trainBatch(x, y)];
    await first.tuned();
    const tuned = first.deviceInfo.tuning!;
    expect(tuned.every((d) => d.source === 'measured' || d.source === 'cached' || d.source === 'only')).toBe(true);
    for (let i = 0; i < 3; i++) losses.push(await first.trainBatch(x, y));

    // A second network starts on the decisions; the same seed and data give bit-identical losses,
    // whichever variants each step ran (the vec4 variants compute identically).
    const second = await createNetwork({ ...spec(136), seed: 5 });
    expect(second.deviceInfo.tuning!.map((d) => d.variant)).toEqual(tuned.map((d) => d.variant));
    const again = [];
    for (let i = 0; i < 4; i++) again.push(await second.trainBatch(x, y));
    expect(again).toEqual(losses);
    expect(losses[3]!).toBeLessThan(losses[0]!);
    first.dispose();
    second.dispose();
  });

  it("times nothing for products under TRIAL_MIN_WORK: a 1-64-64-1 network at batch 64 runs its first guesses at once", async () => {
    forgetDecisions();
    const context = (await defaultContext())!;
    const net = await createNetwork({
      inputSize: 1, layers: [{ type: 'dense', units: 64 }, { type: 'tanh' }, { type: 'dense', units: 64 }, { type: 'tanh' }, { type: 'dense', units: 1 }],
      loss: 'mse', optimizer: { type: 'adam', learningRate: 0.01 }, batchSize: 64, backend: 'webgpu',
    });
    try {
      const tuning = net.deviceInfo.tuning!;
      for (const decision of tuning) {
        const [m, n, k] = decision.shape.split('×').map(Number) as [number, number, number];
        expect(m * n * k, decision.label).toBeLessThan(TRIAL_MIN_WORK);
        const form = decision.label.endsWith('forward') ? [false, false] : decision.label.endsWith('gradient') ? [true, false] : [false, true];
        const candidates = matmulVariantsFor(form[0]!, form[1]!, m, n, k, { subgroups: canShareBySubgroups(context), hardware: !context.software });
        // The first candidate, untimed: 'only' where there is no other, 'small' where there is.
        expect(decision, decision.label).toMatchObject({ variant: candidates[0], source: candidates.length > 1 ? 'small' : 'only' });
        expect(decision.trials).toBeUndefined();
      }
      // The three 64×64 products have a choice; nothing is left to wait for.
      expect(tuning.filter((d) => d.source === 'small').map((d) => d.label)).toEqual(['layer 2 forward', 'layer 2 weight gradient', 'layer 2 signal']);
      await net.tuned();
      expect(net.deviceInfo.tuning).toEqual(tuning);
    } finally {
      net.dispose();
    }
  });

  it('times at most TRIAL_MAX_CLASSES shape classes per network, the largest products first', async () => {
    forgetDecisions();
    // 11 classes past TRIAL_MIN_WORK at batch 256 (layer 1 has no signal product; the 10 outputs none to choose).
    const net = await createNetwork({
      inputSize: 32,
      layers: [...[128, 256, 64, 128].flatMap((units): NetworkSpec['layers'] => [{ type: 'dense', units }, { type: 'relu' }]), { type: 'dense', units: 10 }],
      loss: 'mse', optimizer: { type: 'sgd', learningRate: 0.01 }, batchSize: 256, backend: 'webgpu',
    });
    try {
      await net.tuned();
      const tuning = net.deviceInfo.tuning!;
      const work = (d: TuningDecision) => d.shape.split('×').map(Number).reduce((a, b) => a * b, 1);
      const timed = tuning.filter((d) => d.source === 'measured' || d.source === 'cached');
      const capped = tuning.filter((d) => d.source === 'capped');
      expect(timed.filter((d) => d.source === 'measured')).toHaveLength(TRIAL_MAX_CLASSES);
      expect(capped.length).toBeGreaterThan(0);
      for (const d of capped) {
        expect(d.trials).toBeUndefined();
        // No capped product is larger than a timed one.
        expect(work(d)).toBeLessThanOrEqual(Math.min(...timed.map(work)));
      }
    } finally {
      net.dispose();
    }
  });

  it('settles its trials when the network is disposed while they run', async () => {
    forgetDecisions();
    const net = await createNetwork(spec(140));
    net.dispose();
    await net.tuned();
    // The trials ran on scratch buffers of their own: their decisions stand, for the next network.
    expect(net.deviceInfo.tuning!.some((d) => d.source === 'pending')).toBe(false);
  });
});

/** A deterministic batch of `rows` rows: inputs in [-1, 1], one-hot-free targets in [0, 1]. */
function batch(rows: number, inputs: number, outputs: number): { x: Float32Array; y: Float32Array } {
  const x = Float32Array.from({ length: rows * inputs }, (_, i) => Math.sin(i * 1.7) * 0.9);
  const y = Float32Array.from({ length: rows * outputs }, (_, i) => (Math.cos(i * 0.9) + 1) / 2);
  return { x, y };
}
