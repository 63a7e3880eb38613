/**
 * Test-only: the fault scenarios of test/node/pool-faults.test.ts, run in a process of their own so that a
 * worker freezing the main thread (an Atomics.wait that never ends) shows up as a child that never
 * answers, which the test's timer kills, rather than as a test run that hangs.
 *
 * Faults are injected the way issue 14 found them, from outside the engine: node:worker_threads'
 * Worker is wrapped before the pool starts, so every pool worker runs a preamble that wraps the wasm
 * export `fault.kernel` of its instances; the first call after the parent arms the fault exits,
 * throws or hangs before, half-way through (the first half of its range done: state torn) or after
 * the call. The same preamble, on this thread, can make the calling thread's next call of that
 * kernel throw too (`alsoCaller`). Nothing here depends on the pool's source.
 *
 * argv[2]: JSON { scenario: 'fault', kind, fault: Fault } | { scenario: 'workers-end' } (one per
 * process: the workers read the fault when they start). Prints the result as one JSON line.
 */
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { BackpropError, createNetwork, type Network, type NetworkSpec } from '../../src/index.js';

type Fault = {
  kernel: string;
  point: 'before' | 'during' | 'after';
  mode: 'exit' | 'throw' | 'hang';
  /**
   * The calling thread's next call of the kernel after the worker's fault throws too. The networks
   * then run on 2 threads, and the worker fails only once the calling thread has run the other 3 of
   * its job's 4 chunks, so that the caller's failing call is its run of the worker's chunk.
   */
  alsoCaller?: boolean;
};
type Request = { scenario: 'fault'; kind: Kind; fault: Fault } | { scenario: 'workers-end' };
type Kind = 'dense' | 'layers';

// Shared with every worker: [worker shot armed, worker shots fired, caller shot armed, the caller's
// calls writing to the same output (argument 2) in a row, caller calls in progress, that output].
// The caller's counts are of the faulty kernel (alsoCaller's ordering; matmul's output is argument 2).
const arm = new Int32Array(new SharedArrayBuffer(32));
let fault: Fault = { kernel: 'none', point: 'before', mode: 'throw' };
let liveWorkers = 0;
let workersStarted = 0;

/** The argument positions of each kernel's [start, end) (asm/index.ts). */
const RANGES: Record<string, [number, number]> = {
  matmul: [7, 8], matmulTransposedB: [5, 6], columnSums: [4, 5], biasActivation: [3, 4], multiplyDerivative: [2, 3], optimizerStep: [6, 7],
};

/**
 * Wraps one instance's exports: `shoot()` says whether this call fires (and counts it), `fire()`
 * fails the thread. Runs in the workers from its source, and here.
 */
function wrapExports(exports: Record<string, (...args: number[]) => unknown>, fault: Fault, ranges: typeof RANGES,
  shoot: () => boolean, fire: () => void): Record<string, unknown> {
  const wrapped: Record<string, unknown> = { ...exports };
  const real = exports[fault.kernel]!;
  wrapped[fault.kernel] = (...args: number[]) => {
    if (!shoot()) return real(...args);
    if (fault.point === 'before') return fire();
    if (fault.point === 'during') {
      const [start, end] = ranges[fault.kernel]!;
      const half = args.slice();
      half[end] = args[start]! + (((args[end]! - args[start]!) >> 1) & ~3);
      real(...half);
      return fire();
    }
    real(...args);
    return fire();
  };
  return wrapped;
}

function preamble(): string {
  return `{
const { workerData } = require('node:worker_threads');
const arm = new Int32Array(workerData.arm);
const fault = workerData.fault;
const wrapExports = (${wrapExports.toString()});
let output = 0;
const fire = () => {
  if (fault.alsoCaller) {
    // Wait (at most 5 s) until the calling thread has run the other 3 chunks of this job and is in none.
    const until = Date.now() + 5000;
    while (Date.now() < until && !(Atomics.load(arm, 5) === output && Atomics.load(arm, 3) >= 3 && Atomics.load(arm, 4) === 0));
  }
  Atomics.add(arm, 1, 1);
  if (fault.mode === 'exit') process.exit(1);
  if (fault.mode === 'hang') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  throw new Error('injected worker fault in ' + fault.kernel);
};
const Instance = WebAssembly.Instance;
WebAssembly.Instance = function (module, imports) {
  const instance = new Instance(module, imports);
  const wrapped = wrapExports(instance.exports, fault, ${JSON.stringify(RANGES)}, () => Atomics.compareExchange(arm, 0, 1, 0) === 1, fire);
  const faulty = wrapped[fault.kernel];
  wrapped[fault.kernel] = (...args) => ((output = args[2]), faulty(...args));
  return { exports: wrapped };
};
}
`;
}

function injectFaults(): void {
  const require = createRequire(import.meta.url);
  const threads = require('node:worker_threads') as typeof import('node:worker_threads');
  const Original = threads.Worker;
  class FaultyWorker extends Original {
    constructor(source: string | URL, options?: import('node:worker_threads').WorkerOptions) {
      const evaluated = options?.eval === true && typeof source === 'string';
      super(evaluated ? preamble() + source : source, evaluated ? { ...options, workerData: { arm: arm.buffer, fault } } : options);
      liveWorkers++;
      workersStarted++;
      this.once('exit', () => liveWorkers--);
    }
  }
  threads.Worker = FaultyWorker;
  syncBuiltinESMExports();
  // This thread's instances: the caller's shot, and the counts the workers' alsoCaller waits on.
  const Instance = WebAssembly.Instance;
  const callerShoot = () => Atomics.load(arm, 1) > 0 && Atomics.compareExchange(arm, 2, 1, 0) === 1;
  (WebAssembly as { Instance: unknown }).Instance = function (module: WebAssembly.Module, imports: WebAssembly.Imports) {
    const { exports } = new Instance(module, imports);
    const wrapped = wrapExports(exports as never, fault, RANGES, callerShoot, () => {
      throw new Error(`injected caller fault in ${fault.kernel}`);
    });
    const real = wrapped[fault.kernel] as (...args: number[]) => unknown;
    if (real) {
      wrapped[fault.kernel] = (...args: number[]) => {
        if (Atomics.exchange(arm, 5, args[2]!) !== args[2]) Atomics.store(arm, 3, 0);
        Atomics.add(arm, 4, 1);
        try {
          return real(...args);
        } finally {
          Atomics.sub(arm, 4, 1);
          Atomics.add(arm, 3, 1);
        }
      };
    }
    return { exports: wrapped };
  };
}

/** Networks whose parallel jobs reach every job kind: 'dense' the products, bias gradient and Adam; 'layers' jobs 7 and 8. */
function spec(kind: Kind): NetworkSpec {
  switch (kind) {
    // 50,698 parameters (4 optimizer chunks), products of 4 chunks of rows at batch 128.
    case 'dense': return {
      inputSize: 256, layers: [{ type: 'dense', units: 128, activation: 'relu' }, { type: 'dense', units: 128, activation: 'tanh' },
        { type: 'dense', units: 10 }], loss: 'mse', optimizer: { type: 'adam', learningRate: 0.01 }, batchSize: 128, seed: 7,
      backend: 'cpu', threads: 3,
    };
    // Products too small to split (3 inputs), the activation pass after the normalization and the
    // derivative pass below it large enough (128 rows × 300 units: 4 and 3 chunks).
    case 'layers': return {
      inputSize: 3, layers: [{ type: 'dense', units: 300, activation: 'tanh' }, { type: 'layerNormalization', activation: 'sigmoid' },
        { type: 'dense', units: 2 }], loss: 'mse', optimizer: { type: 'sgd', learningRate: 0.05 }, batchSize: 128, seed: 11,
      backend: 'cpu', threads: 3,
    };
    default: return kind satisfies never;
  }
}

function batch(kind: Kind, step: number): { x: Float32Array; y: Float32Array } {
  const { inputSize, batchSize } = spec(kind);
  const outputs = kind === 'dense' ? 10 : 2;
  const x = Float32Array.from({ length: batchSize! * inputSize }, (_, i) => Math.sin(i * 0.37 + step));
  const y = Float32Array.from({ length: batchSize! * outputs }, (_, i) => Math.cos(i * 0.11 + step));
  return { x, y };
}

/** The whole training state (weights, moments, step), as bytes. */
async function state(net: Network): Promise<Uint8Array> {
  return new Uint8Array(await net.save({ optimizerState: true }));
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((value, i) => value === b[i]);

async function faultScenario(kind: Kind): Promise<Record<string, unknown>> {
  const make = () => createNetwork({ ...spec(kind), ...(fault.alsoCaller ? { threads: 2 } : {}) });
  const net = await make();
  const twin = await make();
  const train = async (target: Network, step: number) => target.trainBatch(batch(kind, step).x, batch(kind, step).y);
  let rejected: { name: string; message: string; backprop: boolean } | undefined;
  let matchesAfterFault = false;
  let step = 0;
  // A few steps until the fault fires in a worker (the calling thread may take every chunk of a job).
  for (; step < 60 && Atomics.load(arm, 1) === 0; step++) {
    const before = await state(net);
    Atomics.store(arm, 5, 0);
    Atomics.store(arm, 2, fault.alsoCaller ? 1 : 0);
    Atomics.store(arm, 0, 1);
    try {
      await train(net, step);
    } catch (error) {
      rejected = { name: (error as Error).name, message: (error as Error).message, backprop: error instanceof BackpropError };
    }
    Atomics.store(arm, 0, 0);
    Atomics.store(arm, 2, 0);
    // A rejected step must leave the state it had before; a finished one, the twin's after the same step.
    if (rejected) {
      matchesAfterFault = same(await state(net), before);
      // The same batch again, now without a fault.
      await train(net, step);
    }
    await train(twin, step);
    if (!rejected) matchesAfterFault = same(await state(net), await state(twin));
  }
  const fired = Atomics.load(arm, 1);
  // Both train identically afterwards.
  for (let more = 0; more < 3; more++, step++) {
    await train(net, step);
    await train(twin, step);
  }
  const matchesAfterTraining = same(await state(net), await state(twin));
  // A network made after the fault gets its threads at once (no stall, no fall back to one thread).
  const later = await make();
  const laterThreads = later.deviceInfo.threads;
  // Workers running for it (the dead one replaced), counted by the wrapped Worker's starts and exits.
  const laterWorkers = liveWorkers;
  await train(later, 0);
  [net, twin, later].forEach((n) => n.dispose());
  return { fired, rejected, matchesAfterFault, matchesAfterTraining, laterThreads, laterWorkers, steps: step };
}

async function workersEnd(): Promise<Record<string, unknown>> {
  const spec16 = { ...spec('dense'), threads: 16 };
  const net = await createNetwork(spec16);
  await net.trainBatch(batch('dense', 0).x, batch('dense', 0).y);
  const started = workersStarted;
  const duringUse = liveWorkers;
  net.dispose();
  // The test's timer bounds this: workers that never end keep it waiting.
  while (liveWorkers > 0) await new Promise((resolve) => setTimeout(resolve, 20));
  // A later network starts the workers it needs again.
  const again = await createNetwork({ ...spec('dense'), threads: 2 });
  await again.trainBatch(batch('dense', 0).x, batch('dense', 0).y);
  const threadsAgain = again.deviceInfo.threads;
  const liveAgain = liveWorkers;
  again.dispose();
  return { started, duringUse, threadsAgain, liveAgain };
}

const request = JSON.parse(process.argv[2]!) as Request;
if (request.scenario === 'fault') fault = request.fault;
injectFaults();
// Test-only timing of the pool (absent before it had one): a hung worker is taken for dead after 1 s.
// Only where one hangs: on a loaded machine a live worker may well be put aside for a second.
const { poolTimings } = (await import('../../src/cpu/wasm/pool.js')) as { poolTimings?: { stallMs: number } };
if (poolTimings && request.scenario === 'fault' && request.fault.mode === 'hang') poolTimings.stallMs = 1000;
const result = request.scenario === 'fault' ? await faultScenario(request.kind) : await workersEnd();
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
