import type { Scalar, Tensor, Variable } from '@tensorflow/tfjs';
import { fileURLToPath } from 'node:url';
import { architectureOf, denseSizes, randomMatrix, TRAINING, type Architecture, type Case, type HiddenLayer, type TrainingCase } from '../cases.js';
import { peerMemoryReport } from './gpu-memory.js';
import type { Cell, Log, Runner, Skip } from './runner.js';
import {
  batchesOf, checkFirstLoss, checksInference, initialWeights, installNavigatorGpu, knownSlow, timed, timedFirstStep, type Batch,
} from './shared.js';

/**
 * TensorFlow.js (npm `@tensorflow/tfjs`) on one of its backends: `webgpu`
 * (`@tensorflow/tfjs-backend-webgpu`, through Dawn's navigator.gpu: its own device on the same adapter
 * as ours), `wasm` (`@tensorflow/tfjs-backend-wasm`, XNNPACK with SIMD, one thread: TF.js turns
 * threads off in Node) or `cpu` (plain JavaScript). The training step is what a TF.js user writes with
 * the core API: the loss as tensor ops, `tf.train.sgd(lr).minimize(loss, true)` (AdamW: see
 * makeTrainer), the loss read back each step. Production mode is on (no debug checks).
 */
export function tfjsRunner(backend: TfBackend): Runner {
  const name = `tfjs-${backend}`;
  return {
    name,
    peer: true,
    async prepare(c, log) {
      if (c.kind === 'predict') return [];
      const tf = await loadTf();
      if (c.kind === 'warmup') return [await warmupCell(tf, backend, c)];
      await use(tf, backend);
      if (c.kind === 'matmul') return [matmulCell(tf, c)];
      return trainingCell(tf, name, backend, c, log);
    },
  };
}

type TfBackend = 'webgpu' | 'wasm' | 'cpu';
type Tf = typeof import('@tensorflow/tfjs');

let tfModule: Promise<Tf> | undefined;

/**
 * TF.js and its two extra backends, imported once. The webgpu backend registers itself only if
 * navigator.gpu exists when it is imported, so that comes first; the wasm backend is pointed at its
 * .wasm files in node_modules (file paths: Node reads them from disk).
 */
function loadTf(): Promise<Tf> {
  tfModule ??= (async () => {
    await installNavigatorGpu();
    const tf = await import('@tensorflow/tfjs');
    tf.enableProdMode();
    await import('@tensorflow/tfjs-backend-webgpu');
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(fileURLToPath(new URL('../../node_modules/@tensorflow/tfjs-backend-wasm/dist/', import.meta.url)));
    return tf;
  })();
  return tfModule;
}

/** Makes `backend` the active one, starting it the first time (the wasm module, the WebGPU device). */
async function use(tf: Tf, backend: TfBackend): Promise<void> {
  if (tf.getBackend() === backend) return;
  if (!tf.findBackendFactory(backend)) {
    throw new Error(`TF.js has no ${backend} backend registered${backend === 'webgpu' ? ' (no navigator.gpu: no WebGPU adapter)' : ''}`);
  }
  // setBackend resolves false (after a console warning) when the backend fails to start.
  if (!(await tf.setBackend(backend))) throw new Error(`TF.js could not start its ${backend} backend`);
  await tf.ready();
}

interface Trainer {
  /** One step on (x, y); the loss, a scalar the caller disposes. */
  step(x: Tensor, y: Tensor): Scalar;
  /** The loss in inference (dropout off) from the current variables; a scalar the caller disposes. */
  inferenceLoss(x: Tensor, y: Tensor): Scalar;
  dispose(): void;
}

/**
 * Variables from our initial weights (and Keras's initial γ 1 and β 0 for each layerNormalization)
 * and the architecture's optimizer over them. TF.js has no AdamW: its users take tf.train.adam and
 * decay the variables themselves, as Keras's AdamW does before its Adam step. So a step computes
 * the gradients as minimize would, scales every variable by 1 − lr·λ, then lets Adam apply the
 * gradients (taken at the undecayed values): p ← p − lr·(m̂/(√v̂ + ε) + λ·p), TF.js's Adam putting
 * ε on √v̂ as the architecture says.
 */
function makeTrainer(tf: Tf, sizes: number[], weights: Awaited<ReturnType<typeof initialWeights>>, architecture: Architecture): Trainer {
  const last = weights.length - 1;
  const layers = weights.map(({ weights: w, bias }, l) => ({
    w: tf.variable(tf.tensor2d(w, [sizes[l]!, sizes[l + 1]!])),
    b: tf.variable(tf.tensor1d(bias)),
    norms: l === last ? [] : architecture.hidden.filter((layer) => layer.type === 'layerNormalization')
      .map(() => ({ gamma: tf.variable(tf.ones([sizes[l + 1]!])), beta: tf.variable(tf.zeros([sizes[l + 1]!])) })),
  }));
  const variables: Variable[] = layers.flatMap(({ w, b, norms }) => [w, b, ...norms.flatMap(({ gamma, beta }) => [gamma, beta])]);
  const hidden = (v: Tensor, layer: HiddenLayer, norm: () => { gamma: Variable; beta: Variable }, training: boolean): Tensor => {
    switch (layer.type) {
      case 'relu': return tf.relu(v);
      case 'leakyRelu': return tf.leakyRelu(v, layer.slope);
      case 'layerNormalization': {
        const { gamma, beta } = norm();
        const { mean, variance } = tf.moments(v, -1, true);
        return tf.add(tf.mul(tf.mul(tf.sub(v, mean), tf.rsqrt(tf.add(variance, layer.epsilon))), gamma), beta);
      }
      // Exact, as TF.js's own 'gelu' activation computes it: ½·x·(1 + erf(x/√2)).
      case 'gelu': return tf.mul(tf.mul(v, 0.5), tf.add(1, tf.erf(tf.mul(v, Math.SQRT1_2))));
      // Inverted: tf.dropout scales what it keeps by 1/(1 − rate).
      case 'dropout': return training ? tf.dropout(v, layer.rate) : v;
      default: return layer satisfies never;
    }
  };
  const encoding = architecture.encoding;
  // The encoding's scales 2^k·π, one per octave, kept for the trainer's life.
  const scales = encoding && tf.tensor1d(Array.from({ length: encoding.octaves }, (_, k) => 2 ** k * Math.PI));
  /** Per input, sin and cos of 2^k·π·x (cases.ts InputEncoding): x [rows, n] → [rows, n·2·octaves]; x has no gradient. */
  const encode = (x: Tensor): Tensor => {
    const [rows, inputs] = x.shape as [number, number];
    const angles = tf.mul(tf.reshape(x, [rows, inputs, 1]), scales!);
    return tf.reshape(tf.stack([tf.sin(angles), tf.cos(angles)], -1), [rows, inputs * 2 * encoding!.octaves]);
  };
  const loss = (x: Tensor, y: Tensor, training: boolean): Scalar => {
    let a = encoding ? encode(x) : x;
    layers.forEach(({ w, b, norms }, l) => {
      const z = tf.add(tf.matMul(a, w), b);
      if (l === last) {
        a = architecture.output === 'sigmoid' ? tf.sigmoid(z) : z;
      } else {
        let norm = 0;
        a = architecture.hidden.reduce((v, layer) => hidden(v, layer, () => norms[norm++]!, training), z);
      }
    });
    switch (architecture.loss) {
      case 'mse': return tf.mean(tf.square(tf.sub(a, y))) as Scalar;
      // Averaged over the rows (the default reduction, SUM_BY_NONZERO_WEIGHTS, without weights).
      case 'softmaxCrossEntropy': return tf.losses.softmaxCrossEntropy(y, a) as Scalar;
      default: return architecture.loss satisfies never;
    }
  };
  const setting = architecture.optimizer;
  let optimizer: { dispose(): void };
  let step: (x: Tensor, y: Tensor) => Scalar;
  switch (setting.type) {
    case 'sgd': {
      const sgd = tf.train.sgd(setting.learningRate);
      optimizer = sgd;
      step = (x, y) => sgd.minimize(() => loss(x, y, true), true, variables)!;
      break;
    }
    case 'adamw': {
      const adam = tf.train.adam(setting.learningRate, setting.beta1, setting.beta2, setting.epsilon);
      const decay = tf.scalar(1 - setting.learningRate * setting.weightDecay);
      optimizer = {
        dispose() {
          adam.dispose();
          decay.dispose();
        },
      };
      step = (x, y) => tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => loss(x, y, true), variables);
        for (const variable of variables) variable.assign(tf.mul(variable, decay));
        // As named tensors: applyGradients's type takes those or variables, not minimize's gradient map.
        adam.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
        return value;
      });
      break;
    }
    default: return setting satisfies never;
  }
  return {
    step,
    inferenceLoss: (x, y) => tf.tidy(() => loss(x, y, false)),
    dispose() {
      optimizer.dispose();
      scales?.dispose();
      for (const variable of variables) variable.dispose();
    },
  };
}

const upload = (tf: Tf, { x, y, rows }: Batch) => ({ x: tf.tensor2d(x, [rows, x.length / rows]), y: tf.tensor2d(y, [rows, y.length / rows]) });

/** A scalar's value; the scalar is disposed. */
async function read(value: Scalar): Promise<number> {
  const data = await value.data();
  value.dispose();
  return data[0]!;
}

async function trainingCell(tf: Tf, name: string, backend: TfBackend, c: Extract<Case, { kind: 'step' | 'fit' }>, log: Log): Promise<Cell[] | Skip> {
  const slow = knownSlow(name, c);
  if (slow) return slow;
  const net = makeTrainer(tf, denseSizes(c), await initialWeights(denseSizes(c)), architectureOf(c));
  const batches = batchesOf(c).map((batch) => upload(tf, batch));
  const dispose = () => {
    net.dispose();
    for (const { x, y } of batches) tf.dispose([x, y]);
  };
  try {
    const first = batches[0]!;
    // Checked in inference before any step, where the case says so (see checksInference).
    const inferenceLoss = checksInference(c) ? await read(net.inferenceLoss(first.x, first.y)) : undefined;
    const [loss, ms] = await timed(() => read(net.step(first.x, first.y)));
    const skip = timedFirstStep(name, c, ms);
    if (skip) {
      dispose();
      return skip;
    }
    const lossCheck = await checkFirstLoss(c, name, inferenceLoss ?? loss, log);
    const run = c.kind === 'step'
      ? async (count: number) => {
        await use(tf, backend);
        for (let i = 0; i < count; i++) await read(net.step(first.x, first.y));
      }
      : async (count: number) => {
        await use(tf, backend);
        // An epoch: every batch in order, the batch losses summed on the device and read once at the end.
        for (let epoch = 0; epoch < count; epoch++) {
          let total: Scalar | undefined;
          for (const { x, y } of batches) {
            const value = net.step(x, y);
            if (total) {
              const sum = tf.add(total, value) as Scalar;
              tf.dispose([total, value]);
              total = sum;
            } else {
              total = value;
            }
          }
          await read(total!);
        }
      };
    // Last before the timing: what its device holds and makes from here on is the cell's.
    const report = backend === 'webgpu' ? peerMemoryReport(webgpuDevice(tf), denseSizes(c), c.batch, architectureOf(c)) : undefined;
    return [{ lossCheck, run, dispose, ...(report ? { report } : {}) }];
  } catch (error) {
    dispose();
    throw error;
  }
}

/** The active webgpu backend's device (tfjs-backend-webgpu's WebGPUBackend keeps it as `device`). */
function webgpuDevice(tf: Tf): GPUDevice {
  return (tf.backend() as unknown as { device: GPUDevice }).device;
}

/** Backend start (the first time in the process), variables uploaded, the first step's kernels compiled and run, loss read. */
async function warmupCell(tf: Tf, backend: TfBackend, c: TrainingCase): Promise<Cell> {
  const weights = await initialWeights(c.sizes);
  const first = batchesOf(c)[0]!;
  const made: { net: Trainer; x: Tensor; y: Tensor }[] = [];
  return {
    async run(count) {
      for (let i = 0; i < count; i++) {
        await use(tf, backend);
        const net = makeTrainer(tf, c.sizes, weights, TRAINING);
        const { x, y } = upload(tf, first);
        made.push({ net, x, y });
        await read(net.step(x, y));
      }
    },
    dispose() {
      for (const { net, x, y } of made) {
        net.dispose();
        tf.dispose([x, y]);
      }
    },
  };
}

/**
 * tf.matMul with its transpose flags. TF.js runs ops eagerly, so a sample's products are issued back
 * to back and the last one is read, which waits for all of them (they share one queue).
 */
function matmulCell(tf: Tf, c: Extract<Case, { kind: 'matmul' }>): Cell {
  const { transposeA, transposeB } = c.form;
  const a = tf.tensor2d(randomMatrix(c.size, 1), [c.size, c.size]);
  const b = tf.tensor2d(randomMatrix(c.size, 2), [c.size, c.size]);
  return {
    async run(count) {
      let result: Tensor | undefined;
      for (let i = 0; i < count; i++) {
        result?.dispose();
        result = tf.matMul(a, b, transposeA, transposeB);
      }
      await result!.data();
      result!.dispose();
    },
    dispose: () => tf.dispose([a, b]),
  };
}
