import type { Array as JaxArray } from '@jax-js/jax';
import { architectureOf, denseSizes, randomMatrix, SEED, TRAINING, type Architecture, type Case, type HiddenLayer, type TrainingCase } from '../cases.js';
import { peerMemoryReport } from './gpu-memory.js';
import type { Cell, Log, Runner, Skip } from './runner.js';
import { batchesOf, checkFirstLoss, checksInference, initialWeights, installNavigatorGpu, knownSlow, timed, timedFirstStep } from './shared.js';

/**
 * jax-js (npm `@jax-js/jax`) on one of its devices: `webgpu` (through Dawn's navigator.gpu, its own
 * device on the same adapter as ours) or `wasm` (one thread in Node, which has no Web Workers). The
 * training step is what a jax-js user writes: the loss as array code, valueAndGrad of it and the
 * optimizer's update in one jit-compiled function, the loss read back each step. AdamW is written
 * out in array code, as optax (not on the registry here) would do it.
 */
export function jaxRunner(device: JaxDevice): Runner {
  const name = `jax-${device}`;
  return {
    name,
    peer: true,
    async prepare(c, log) {
      if (c.kind === 'predict') return [];
      const jax = await loadJax();
      if (c.kind === 'matmul') return [await matmulCell(jax, device, c)];
      if (c.kind === 'warmup') return [await warmupCell(jax, device, c)];
      return trainingCell(jax, device, name, c, log);
    },
  };
}

type JaxDevice = 'webgpu' | 'wasm';
type Jax = typeof import('@jax-js/jax');
/** A layerNormalization's scale γ and shift β, [units] each. */
type Norm = { gamma: JaxArray; beta: JaxArray };
/** A dense layer's weights [inputs, units] and bias [units], and (hidden layers) each of its layerNormalizations'. */
type Layer = { w: JaxArray; b: JaxArray; norms: Norm[] };
/** AdamW's moments, shaped as the parameters, and β1ᵗ and β2ᵗ (scalars) for the bias correction. */
type Moments = { m: Layer[]; v: Layer[]; beta1Power: JaxArray; beta2Power: JaxArray };
/** What the jit-compiled step takes and returns: moments with AdamW, a PRNG key with dropout. */
type State = { params: Layer[]; moments?: Moments; key?: JaxArray };

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
  /** One step on (x, y), which it consumes (pass x.ref to keep x); the loss, lazily. */
  step(x: JaxArray, y: JaxArray): JaxArray;
  /** The loss in inference (dropout off) from the current parameters, eagerly, not jit-compiled; consumes x and y. */
  inferenceLoss(x: JaxArray, y: JaxArray): JaxArray;
  dispose(): void;
}

async function trainer(jax: Jax, device: JaxDevice, sizes: number[], architecture: Architecture): Promise<Trainer> {
  const weights = await initialWeights(sizes);
  return makeTrainer(jax, device, sizes, weights, architecture);
}

function makeTrainer(jax: Jax, device: JaxDevice, sizes: number[], weights: Awaited<ReturnType<typeof initialWeights>>,
  architecture: Architecture): Trainer {
  const { numpy: np, nn, random, tree } = jax;
  const last = sizes.length - 2;
  const dropouts = last * architecture.hidden.filter((layer) => layer.type === 'dropout').length;
  // Every argument is used once (jax-js arrays are reference-counted and functions consume them).
  // `keys`: one PRNG key per dropout layer, in order; none in inference.
  const encoding = architecture.encoding;
  // The encoding's scales 2^k·π, one per octave.
  const scales = encoding && Float32Array.from({ length: encoding.octaves }, (_, k) => 2 ** k * Math.PI);
  /** Per input, sin and cos of 2^k·π·x (cases.ts InputEncoding): x [rows, n] → [rows, n·2·octaves]; x has no gradient. */
  const encode = (x: JaxArray): JaxArray => {
    const [rows, inputs] = x.shape as [number, number];
    const angles = x.reshape([rows, inputs, 1]).mul(np.array(scales!, { device }));
    return np.stack([np.sin(angles.ref), np.cos(angles)], -1).reshape([rows, inputs * 2 * encoding!.octaves]);
  };
  const loss = (params: Layer[], x: JaxArray, y: JaxArray, keys?: JaxArray[]): JaxArray => {
    let a = encoding ? encode(x) : x;
    let dropout = 0;
    const hidden = (v: JaxArray, layer: HiddenLayer, norm: () => Norm): JaxArray => {
      switch (layer.type) {
        case 'relu': return nn.relu(v);
        case 'leakyRelu': return nn.leakyRelu(v, layer.slope);
        case 'layerNormalization': {
          const { gamma, beta } = norm();
          const mean = v.ref.mean(-1, { keepdims: true });
          const centered = v.sub(mean);
          const variance = np.square(centered.ref).mean(-1, { keepdims: true });
          return centered.div(np.sqrt(variance.add(layer.epsilon))).mul(gamma).add(beta);
        }
        // jax-js's exact form (approximate: false): x·½·erfc(−x/√2), which is x·Φ(x).
        case 'gelu': return nn.gelu(v, { approximate: false });
        case 'dropout': {
          if (!keys) return v;
          // Flax's inverted dropout: keep with probability 1 − rate, scaled by 1/(1 − rate). The mask
          // is drawn as random.bernoulli would, from uniform 32-bit draws, but from random.bits:
          // bernoulli's random.uniform is a jit-compiled function of the module whose cache (jax-js
          // 0.1.25) does not tell devices apart, so once traced on webgpu its constants stay there
          // and a wasm step fails reading them.
          const keep = 1 - layer.rate;
          const threshold = np.array(Math.round(keep * 2 ** 32), { dtype: np.uint32 });
          return np.where(random.bits(keys[dropout++]!, v.shape).less(threshold), v.div(keep), 0);
        }
        default: return layer satisfies never;
      }
    };
    params.forEach(({ w, b, norms }, l) => {
      const z = np.matmul(a, w).add(b);
      if (l === last) {
        a = architecture.output === 'sigmoid' ? nn.sigmoid(z) : z;
      } else {
        let norm = 0;
        a = architecture.hidden.reduce((v, layer) => hidden(v, layer, () => norms[norm++]!), z);
      }
    });
    switch (architecture.loss) {
      case 'mse': return np.mean(np.square(a.sub(y)));
      // optax.softmax_cross_entropy, averaged over the rows: −Σ t·log softmax(o).
      case 'softmaxCrossEntropy': return nn.logSoftmax(a).mul(y).sum(-1).mean().neg();
      default: return architecture.loss satisfies never;
    }
  };
  const optimizer = architecture.optimizer;
  const step = jax.jit((state: State, x: JaxArray, y: JaxArray): [State, JaxArray] => {
    let keys: JaxArray[] | undefined;
    let key = state.key;
    if (key) {
      // A fresh key for the next step and one per dropout layer, as a JAX user splits them.
      const split = random.split(key, dropouts + 1);
      key = split.ref.slice(0);
      keys = Array.from({ length: dropouts }, (_, i) => (i === dropouts - 1 ? split : split.ref).slice(i + 1));
    }
    // Without dropout, no keys argument at all: jax-js cannot trace an undefined one.
    const valueAndGrad = jax.valueAndGrad(loss);
    const [value, grads] = keys ? valueAndGrad(tree.ref(state.params), x, y, keys) : valueAndGrad(tree.ref(state.params), x, y);
    const next: State = key ? { params: state.params, key } : { params: state.params };
    switch (optimizer.type) {
      case 'sgd':
        next.params = tree.map((p: JaxArray, g: JaxArray) => p.sub(g.mul(optimizer.learningRate)), state.params, grads as Layer[]) as Layer[];
        break;
      case 'adamw': {
        // m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²; p ← p − lr·(m̂/(√v̂ + ε) + λ·p), m̂ = m/(1 − β1ᵗ), v̂ = v/(1 − β2ᵗ).
        const { beta1, beta2, epsilon, learningRate, weightDecay } = optimizer;
        const moments = state.moments!;
        const beta1Power = moments.beta1Power.mul(beta1);
        const beta2Power = moments.beta2Power.mul(beta2);
        const [ps, structure] = tree.flatten(state.params);
        const [gs, ms, vs] = [tree.leaves(grads as Layer[]), tree.leaves(moments.m), tree.leaves(moments.v)];
        const updated = ps.map((p, i) => {
          const g = gs[i]!;
          const m = ms[i]!.mul(beta1).add(g.ref.mul(1 - beta1));
          const v = vs[i]!.mul(beta2).add(np.square(g).mul(1 - beta2));
          const mHat = m.ref.div(beta1Power.ref.neg().add(1));
          const vHat = v.ref.div(beta2Power.ref.neg().add(1));
          return { p: p.ref.sub(mHat.div(np.sqrt(vHat).add(epsilon)).add(p.mul(weightDecay)).mul(learningRate)), m, v };
        });
        next.params = tree.unflatten(structure, updated.map((u) => u.p)) as Layer[];
        next.moments = {
          m: tree.unflatten(structure, updated.map((u) => u.m)) as Layer[],
          v: tree.unflatten(structure, updated.map((u) => u.v)) as Layer[],
          beta1Power, beta2Power,
        };
        break;
      }
      default: return optimizer satisfies never;
    }
    return [next, value];
  });
  const params: Layer[] = weights.map(({ weights: w, bias }, l) => ({
    w: np.array(w, { shape: [sizes[l]!, sizes[l + 1]!], device }),
    b: np.array(bias, { device }),
    // Keras's initial γ 1 and β 0, one pair per layerNormalization of a hidden layer.
    norms: l === last ? [] : architecture.hidden.filter((layer) => layer.type === 'layerNormalization')
      .map(() => ({ gamma: np.ones([sizes[l + 1]!], { device }), beta: np.zeros([sizes[l + 1]!], { device }) })),
  }));
  const zeros = () => tree.map((p: JaxArray) => np.zeros(p.shape, { device }), params) as Layer[];
  let state: State = {
    params,
    ...(optimizer.type === 'adamw' ? { moments: { m: zeros(), v: zeros(), beta1Power: np.ones([], { device }), beta2Power: np.ones([], { device }) } } : {}),
    ...(dropouts > 0 ? { key: random.key(SEED) } : {}),
  };
  return {
    step(x, y) {
      const [next, value] = step(state, x, y);
      state = next;
      return value;
    },
    inferenceLoss: (x, y) => loss(tree.ref(state.params), x, y),
    dispose() {
      step.dispose();
      tree.dispose(state);
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
  const net = await trainer(jax, device, denseSizes(c), architectureOf(c));
  const batches = batchesOf(c).map(({ x, y, rows }) => ({ x: upload(jax, device, x, rows), y: upload(jax, device, y, rows) }));
  const dispose = () => {
    net.dispose();
    for (const { x, y } of batches) jax.tree.dispose([x, y]);
  };
  try {
    const first = batches[0]!;
    // Checked in inference before any step, where the case says so (see checksInference).
    const inferenceLoss = checksInference(c) ? await read(net.inferenceLoss(first.x.ref, first.y.ref)) : undefined;
    const [loss, ms] = await timed(() => read(net.step(first.x.ref, first.y.ref)));
    const skip = timedFirstStep(name, c, ms);
    if (skip) {
      dispose();
      return skip;
    }
    const lossCheck = await checkFirstLoss(c, name, inferenceLoss ?? loss, log);
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
    const report = device === 'webgpu' ? peerMemoryReport(jax.getWebGPUDevice(), denseSizes(c), c.batch, architectureOf(c)) : undefined;
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
        const net = makeTrainer(jax, device, c.sizes, weights, TRAINING);
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
