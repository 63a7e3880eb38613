import type { Array as JaxArray } from '@jax-js/jax';
import { TRAINING, randomMatrix, type Case, type TrainingCase } from '../cases.js';
import { peerMemoryReport } from './gpu-memory.js';
import type { Cell, Log, Runner, Skip } from './runner.js';
import { batchesOf, checkFirstLoss, initialWeights, installNavigatorGpu, knownSlow, timed, timedFirstStep } from './shared.js';

/**
 * jax-js (npm `@jax-js/jax`) on one of its devices: `webgpu` (through Dawn's navigator.gpu, its own
 * device on the same adapter as ours) or `wasm` (one thread in Node, which has no Web Workers). The
 * training step is what a jax-js user writes: the loss as array code, valueAndGrad of it and the SGD
 * update in one jit-compiled function, the loss read back each step.
 */
export function jaxRunner(device: JaxDevice): Runner {
  const name = `jax-${device}`;
  return {
    name,
    peer: true,
    async prepare(c, log) {
      const jax = await loadJax();
      if (c.kind === 'matmul') return [await matmulCell(jax, device, c)];
      if (c.kind === 'warmup') return [await warmupCell(jax, device, c)];
      return trainingCell(jax, device, name, c, log);
    },
  };
}

type JaxDevice = 'webgpu' | 'wasm';
type Jax = typeof import('@jax-js/jax');
type Layer = { w: JaxArray; b: JaxArray };

let jaxModule: Promise<Jax> | undefined;

/** The module, imported once (navigator.gpu installed first: jax-js looks for it when it starts a device). */
function loadJax(): Promise<Jax> {
  jaxModule ??= (async () => {
    await installNavigatorGpu();
    return import('@jax-js/jax');
  })();
  return jaxModule;
}

/** Starts the device (once; later calls return at once) and makes it the default. */
async function start(jax: Jax, device: JaxDevice): Promise<void> {
  const ready = await jax.init(device);
  if (!ready.includes(device)) {
    throw new Error(`jax-js could not start its ${device} device (init gave ${ready.join(', ') || 'nothing'})${device === 'webgpu' ? ': no WebGPU adapter' : ''}`);
  }
  jax.defaultDevice(device);
}

/** Parameters on the device, from our initial weights, and the jit-compiled step that trains them. */
interface Trainer {
  /** One SGD step on (x, y), which it consumes (pass x.ref to keep x); the loss, lazily. */
  step(x: JaxArray, y: JaxArray): JaxArray;
  dispose(): void;
}

async function trainer(jax: Jax, device: JaxDevice, sizes: number[]): Promise<Trainer> {
  const weights = await initialWeights(sizes);
  return makeTrainer(jax, device, sizes, weights);
}

function makeTrainer(jax: Jax, device: JaxDevice, sizes: number[], weights: Awaited<ReturnType<typeof initialWeights>>): Trainer {
  const { numpy: np, nn, tree } = jax;
  const last = sizes.length - 2;
  // Every argument is used once (jax-js arrays are reference-counted and functions consume them).
  const loss = (params: Layer[], x: JaxArray, y: JaxArray): JaxArray => {
    let a = x;
    params.forEach(({ w, b }, l) => {
      const z = np.matmul(a, w).add(b);
      a = l === last ? nn.sigmoid(z) : nn.leakyRelu(z, TRAINING.leakySlope);
    });
    return np.mean(np.square(a.sub(y)));
  };
  const step = jax.jit((params: Layer[], x: JaxArray, y: JaxArray): [Layer[], JaxArray] => {
    const [value, grads] = jax.valueAndGrad(loss)(tree.ref(params), x, y);
    const next = tree.map((p: JaxArray, g: JaxArray) => p.sub(g.mul(TRAINING.learningRate)), params, grads as Layer[]);
    return [next as Layer[], value];
  });
  let params: Layer[] = weights.map(({ weights: w, bias }, l) => ({
    w: np.array(w, { shape: [sizes[l]!, sizes[l + 1]!], device }),
    b: np.array(bias, { device }),
  }));
  return {
    step(x, y) {
      const [next, value] = step(params, x, y);
      params = next;
      return value;
    },
    dispose() {
      step.dispose();
      tree.dispose(params);
    },
  };
}

const upload = (jax: Jax, device: JaxDevice, data: Float32Array, rows: number) => jax.numpy.array(data, { shape: [rows, data.length / rows], device });

/** A lazy scalar's value; data() consumes the array. */
async function read(value: JaxArray): Promise<number> {
  return (await value.data())[0]!;
}

async function trainingCell(jax: Jax, device: JaxDevice, name: string, c: Extract<Case, { kind: 'step' | 'fit' }>, log: Log): Promise<Cell[] | Skip> {
  const slow = knownSlow(name, c);
  if (slow) return slow;
  await start(jax, device);
  const net = await trainer(jax, device, c.sizes);
  const batches = batchesOf(c).map(({ x, y, rows }) => ({ x: upload(jax, device, x, rows), y: upload(jax, device, y, rows) }));
  const dispose = () => {
    net.dispose();
    for (const { x, y } of batches) jax.tree.dispose([x, y]);
  };
  try {
    const first = batches[0]!;
    const [loss, ms] = await timed(() => read(net.step(first.x.ref, first.y.ref)));
    const skip = timedFirstStep(name, c, ms);
    if (skip) {
      dispose();
      return skip;
    }
    const lossCheck = await checkFirstLoss(c, name, loss, log);
    const run = c.kind === 'step'
      ? async (count: number) => {
        jax.defaultDevice(device);
        for (let i = 0; i < count; i++) await read(net.step(first.x.ref, first.y.ref));
      }
      : async (count: number) => {
        jax.defaultDevice(device);
        // An epoch: every batch in order, the batch losses summed on the device and read once at the end.
        for (let epoch = 0; epoch < count; epoch++) {
          let total: JaxArray | undefined;
          for (const { x, y } of batches) {
            const value = net.step(x.ref, y.ref);
            total = total ? total.add(value) : value;
          }
          await read(total!);
        }
      };
    // Last before the timing: what its device holds and makes from here on is the cell's.
    const report = device === 'webgpu' ? peerMemoryReport(jax.getWebGPUDevice(), c.sizes, c.batch) : undefined;
    return [{ lossCheck, run, dispose, ...(report ? { report } : {}) }];
  } catch (error) {
    dispose();
    throw error;
  }
}

/** Device start (the first time in the process), parameters uploaded, the step traced, compiled and run once, loss read. */
async function warmupCell(jax: Jax, device: JaxDevice, c: TrainingCase): Promise<Cell> {
  const weights = await initialWeights(c.sizes);
  const { x, y } = batchesOf(c)[0]!;
  const made: Trainer[] = [];
  return {
    async run(count) {
      for (let i = 0; i < count; i++) {
        await start(jax, device);
        const net = makeTrainer(jax, device, c.sizes, weights);
        made.push(net);
        await read(net.step(upload(jax, device, x, c.batch), upload(jax, device, y, c.batch)));
      }
    },
    dispose: () => made.forEach((net) => net.dispose()),
  };
}

/**
 * The product in jax-js's own form (np.matmul of transposed views, jit-compiled). jax-js is lazy: a
 * result that is dropped unread is never computed, so each product is waited for before the next.
 */
async function matmulCell(jax: Jax, device: JaxDevice, c: Extract<Case, { kind: 'matmul' }>): Promise<Cell> {
  const { numpy: np } = jax;
  const { transposeA, transposeB } = c.form;
  await start(jax, device);
  const a = upload(jax, device, randomMatrix(c.size, 1), c.size);
  const b = upload(jax, device, randomMatrix(c.size, 2), c.size);
  const product = jax.jit((left: JaxArray, right: JaxArray) => np.matmul(transposeA ? left.transpose() : left, transposeB ? right.transpose() : right));
  return {
    async run(count) {
      jax.defaultDevice(device);
      for (let i = 0; i < count; i++) {
        const result = product(a.ref, b.ref);
        await result.blockUntilReady();
        result.dispose();
      }
    },
    dispose() {
      product.dispose();
      jax.tree.dispose([a, b]);
    },
  };
}
