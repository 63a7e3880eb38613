import { describe, expect, it, vi } from 'vitest';
import { createNetwork, SpecError, type NetworkSpec } from '../src/index.js';
import { defaultContext } from '../src/webgpu/device.js';
import { GpuWaiter, MIN_SLEEP_MS, SLEEP_SHARE } from '../src/webgpu/waiter.js';

/** A clock whose time moves only when the test says: sleeping advances it by the slept time. */
function fakeClock() {
  const slept: number[] = [];
  const clock = {
    t: 0,
    now: () => clock.t,
    sleep: async (ms: number) => {
      slept.push(ms);
      clock.t += ms;
    },
  };
  return { clock, slept };
}

/** Work that the device finishes at `doneAt`: settling advances the clock there (or not at all, if it is past). */
const workDoneAt = (clock: { t: number }, doneAt: number) => async () => {
  clock.t = Math.max(clock.t, doneAt);
  return doneAt;
};

describe('GpuWaiter', () => {
  it('asks at once the first time (counting that measure half), then sleeps through most of what the work took', async () => {
    const { clock, slept } = fakeClock();
    const waiter = new GpuWaiter('sleep', clock);
    expect(waiter.sleeps('step')).toBe(false);
    await waiter.wait('step', 0, workDoneAt(clock, 100));
    expect(slept).toEqual([]);
    expect(waiter.expectation('step')).toBe(50);
    expect(waiter.sleeps('step')).toBe(true);
    await waiter.wait('step', 100, workDoneAt(clock, 200));
    expect(slept).toEqual([SLEEP_SHARE * 50]);
    expect(waiter.expectation('step')).toBe(100);
    await waiter.wait('step', 200, workDoneAt(clock, 300));
    expect(slept).toEqual([SLEEP_SHARE * 50, SLEEP_SHARE * 100]);
    // Another kind has its own expectation.
    expect(waiter.sleeps('predict')).toBe(false);
  });

  it('shrinks an overslept expectation faster each time in a row, so a long first sample (compilation) costs a few waits', async () => {
    const { clock, slept } = fakeClock();
    const waiter = new GpuWaiter('sleep', clock);
    await waiter.wait('step', 0, workDoneAt(clock, 800));
    let start = clock.t;
    // The work now takes 100: each sleep ends after it, until the expectation is below it again.
    for (let i = 0; i < 6; i++) {
      await waiter.wait('step', start, workDoneAt(clock, start + 100));
      start = clock.t;
    }
    // 800 counts as 400; then 340 × 0.8, 231 × 0.8², 126 × 0.8³, and 55 is short of the work: its 100 stands.
    expect(slept.map(Math.round)).toEqual([340, 231, 126, 55, 85, 85]);
    expect(waiter.expectation('step')).toBe(100);
  });

  it('follows work that got slower at once', async () => {
    const { clock, slept } = fakeClock();
    const waiter = new GpuWaiter('sleep', clock);
    await waiter.wait('step', 0, workDoneAt(clock, 50));
    await waiter.wait('step', 50, workDoneAt(clock, 250));
    expect(slept).toEqual([SLEEP_SHARE * 25]);
    expect(waiter.expectation('step')).toBe(200);
  });

  it('keeps one long measure (work queued ahead, say) from moving the expectation, and follows a lasting change', async () => {
    const { clock, slept } = fakeClock();
    const waiter = new GpuWaiter('sleep', clock);
    const step = async (took: number) => {
      const start = clock.t;
      await waiter.wait('step', start, workDoneAt(clock, start + took));
    };
    for (const took of [100, 100, 100, 100]) await step(took);
    expect(waiter.expectation('step')).toBe(100);
    await step(400);
    expect(waiter.expectation('step')).toBe(100);
    await step(100);
    expect(slept.at(-1)).toBe(SLEEP_SHARE * 100);
    await step(400);
    await step(400);
    expect(waiter.expectation('step')).toBe(400);
  });

  it('times queued work from the previous wait, since one queue runs in order', async () => {
    const { clock } = fakeClock();
    const waiter = new GpuWaiter('sleep', clock);
    // Two steps submitted at 0 and 1; the second can only start when the first is done, at 100.
    await waiter.wait('step', 0, workDoneAt(clock, 100));
    await waiter.wait('step', 1, workDoneAt(clock, 190));
    expect(waiter.expectation('step')).toBe(90);
  });

  it('times waits pending at once (steps in flight) from the one before, not from their submits', async () => {
    const { clock } = fakeClock();
    const waiter = new GpuWaiter('sleep', clock);
    const finish: (() => void)[] = [];
    const pending = (resolve: () => void) => finish.push(resolve);
    // Three 2 ms steps submitted at 0, 0.1 and 0.2 run one after another: done at 2, 4 and 6.
    const waits = [0, 0.1, 0.2].map((submittedAt) => waiter.wait('step', submittedAt, () => new Promise<void>(pending)));
    for (const [i, resolve] of finish.entries()) {
      clock.t = 2 * (i + 1);
      resolve();
      await waits[i];
    }
    // The first counts half (1); then 2 and 2, each from the previous one's end: not 3.9 and 5.8.
    expect(waiter.expectation('step')).toBe(2);
    expect(waiter.sleeps('step')).toBe(false);
  });

  it('never sleeps for short work or in await mode', async () => {
    const short = fakeClock();
    const waiter = new GpuWaiter('sleep', short.clock);
    await waiter.wait('tiny', 0, workDoneAt(short.clock, MIN_SLEEP_MS));
    expect(waiter.sleeps('tiny')).toBe(false);
    await waiter.wait('tiny', short.clock.t, workDoneAt(short.clock, short.clock.t + MIN_SLEEP_MS));
    expect(short.slept).toEqual([]);

    const plain = fakeClock();
    const awaiting = new GpuWaiter('await', plain.clock);
    for (let i = 0; i < 3; i++) await awaiting.wait('step', plain.clock.t, workDoneAt(plain.clock, plain.clock.t + 100));
    expect(awaiting.sleeps('step')).toBe(false);
    expect(plain.slept).toEqual([]);
  });

  it('passes the settled value and a rejection through', async () => {
    const waiter = new GpuWaiter('sleep');
    await expect(waiter.wait('x', waiter.now(), async () => 7)).resolves.toBe(7);
    await expect(waiter.wait('x', waiter.now(), async () => {
      throw new Error('device lost');
    })).rejects.toThrow('device lost');
  });
});

describe('gpuWait errors', () => {
  it('restore() with an unknown gpuWait rejects with a SpecError and leaves the network training as before', async () => {
    const spec: NetworkSpec = {
      inputSize: 3, layers: [{ type: 'dense', units: 4 }, { type: 'tanh' }, { type: 'dense', units: 2 }], backend: 'cpu', seed: 3,
    };
    const [net, control] = [await createNetwork(spec), await createNetwork(spec)];
    const x = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i));
    const y = Float32Array.from({ length: 8 }, (_, i) => Math.cos(i));
    await net.trainBatch(x, y);
    await control.trainBatch(x, y);
    await expect(net.restore({ gpuWait: 'spin' as 'sleep' })).rejects.toThrow(SpecError);
    await expect(net.restore({ gpuWait: 'spin' as 'sleep' })).rejects.toThrow(/gpuWait must be 'sleep' or 'await', got "spin"/);
    expect(net.backend).toBe('cpu');
    // The same next step as a network that never saw the bad call: nothing was touched.
    expect(await net.trainBatch(x, y)).toBe(await control.trainBatch(x, y));
    net.dispose();
    control.dispose();
  });
});

const hasGpu = (await defaultContext()) !== null;

describe.runIf(hasGpu)('gpuWait on a WebGPU network', () => {
  const spec = (gpuWait: 'sleep' | 'await'): NetworkSpec => ({
    inputSize: 256,
    layers: [{ type: 'dense', units: 256 }, { type: 'leakyRelu' }, { type: 'dense', units: 8 }, { type: 'sigmoid' }],
    batchSize: 256,
    backend: 'webgpu',
    seed: 5,
    gpuWait,
  });
  // Steps of tens of ms on SwiftShader (a few on a GPU): long enough to sleep through where the device is slow.
  const rows = 768;
  const x = Float32Array.from({ length: rows * 256 }, (_, i) => Math.sin(i * 0.37));
  const y = Float32Array.from({ length: rows * 8 }, (_, i) => (Math.cos(i * 1.3) > 0 ? 1 : 0));

  it('sleeping changes when the thread waits, not what it reads: losses and predictions bit-identical to awaiting', async () => {
    const results = [];
    for (const mode of ['await', 'sleep'] as const) {
      const net = await createNetwork(spec(mode));
      const timers = vi.spyOn(globalThis, 'setTimeout');
      try {
        expect(net.deviceInfo.gpuWait).toBe(mode);
        const losses = [];
        for (let i = 0; i < 4; i++) losses.push(await net.trainBatch(x.subarray(0, 256 * 256), y.subarray(0, 256 * 8)));
        const fit = await net.fit(x, y, { epochs: 3, shuffle: true });
        const predictions = await net.predict(x);
        const sleeps = timers.mock.calls.filter(([, ms]) => (ms ?? 0) >= MIN_SLEEP_MS).length;
        results.push({ losses, fit: fit.loss, predictions, sleeps });
      } finally {
        timers.mockRestore();
        net.dispose();
      }
    }
    expect(results[0]!.sleeps).toBe(0);
    // SwiftShader's steps here take tens of ms, so sleep mode must have slept; a hardware GPU may finish
    // each in less than MIN_SLEEP_MS / SLEEP_SHARE, leaving nothing to sleep through.
    if ((await defaultContext())!.software) expect(results[1]!.sleeps).toBeGreaterThan(0);
    expect(results[1]!.losses).toEqual(results[0]!.losses);
    expect(results[1]!.fit).toEqual(results[0]!.fit);
    expect(results[1]!.predictions).toEqual(results[0]!.predictions);
    expect(results[0]!.fit.at(-1)!).toBeLessThan(results[0]!.losses[0]!);
  });

  it('refuses an unknown mode with a SpecError naming it', async () => {
    await expect(createNetwork({ ...spec('sleep'), gpuWait: 'spin' as 'sleep' })).rejects.toThrow(SpecError);
    await expect(createNetwork({ ...spec('sleep'), gpuWait: 'spin' as 'sleep' })).rejects.toThrow(/gpuWait must be 'sleep' or 'await', got "spin"/);
  });
});
