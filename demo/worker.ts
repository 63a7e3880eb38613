import { createNetwork, DeviceLostError, loadNetwork, type Network } from '../src/index.js';
import { gatherRows } from '../src/data/matrix.js';
import { mulberry32, shuffleInto } from '../src/data/random.js';
import { splitMnist } from './mnist.js';
import type { FromWorker, LoadRequest, RunRequest, ToWorker, TrainingData } from './protocol.js';
import { boundaryGrid, type LabelledSet } from './toy.js';

/**
 * Trains one network off the page's thread. One worker per run: the page terminates it to reset,
 * which also frees its GPU resources.
 *
 * Per-batch curves without slowing the GPU: `fit` reads no loss back per batch (that would stall the
 * GPU queue on every step), and `trainBatch`, which does, runs one step per round trip. So the worker
 * shuffles each epoch itself and trains it in chunks of a few whole batches, one `fit` call per chunk:
 * the GPU stays busy within a chunk, and each chunk's mean loss is read back once, together with the
 * synchronisation of the training state that ends every `fit` (what save() and restore() use).
 * Batches are the same whatever the chunk size, so the epoch losses equal one `fit` over the epoch's
 * order, and two workers given the same request (the GPU vs CPU race) train on identical batches.
 */

// Results are copied, not transferred: arrays the engine returns are its to keep, and they are small.
const post = (message: FromWorker) => self.postMessage(message);

let net: Network | undefined;
let paused = false;
let wake: (() => void) | undefined;

/** At most ~25 loss points per epoch and ~1,000 over the run: enough for a smooth curve, few readbacks. */
function batchesPerChunk(batchesPerEpoch: number, epochs: number): number {
  return Math.min(batchesPerEpoch, Math.max(Math.ceil(batchesPerEpoch / 25), Math.ceil((batchesPerEpoch * epochs) / 1000)));
}

async function pausePoint(): Promise<void> {
  if (!paused) return;
  post({ type: 'paused' });
  await new Promise<void>((resolve) => (wake = resolve));
  post({ type: 'resumed' });
}

/**
 * Runs a network call; if the GPU device is lost meanwhile, the network continues on the CPU from
 * its last synchronisation (the end of the last chunk) and the call is made again there.
 */
async function onDevice<T>(call: (network: Network) => Promise<T>): Promise<T> {
  try {
    return await call(net!);
  } catch (error) {
    if (!(error instanceof DeviceLostError)) throw error;
    await net!.restore({ backend: 'cpu' });
    post({ type: 'deviceLost', message: error.message, info: net!.deviceInfo });
    return call(net!);
  }
}

function splits(data: TrainingData, seed: number): { train: LabelledSet; test: LabelledSet } {
  return data.kind === 'mnist' ? splitMnist(data.digits, seed) : data;
}

/** Decision-boundary heat maps for toy sets; nothing for MNIST. */
function boundaryPainter(data: TrainingData): () => Promise<void> {
  if (data.kind !== 'toy') return async () => undefined;
  const grid = boundaryGrid(data.boundaryResolution);
  return async () => {
    const outputs = await onDevice((n) => n.predict(grid));
    post({ type: 'boundary', outputs });
  };
}

async function train(run: RunRequest): Promise<void> {
  const { spec, epochs } = run;
  net = await createNetwork(spec);
  const { train, test } = splits(run.data, spec.seed);
  const inputs = spec.inputSize;
  const outputs = train.y.length / train.rows;
  const batchesPerEpoch = Math.ceil(train.rows / spec.batchSize);
  const chunkBatches = batchesPerChunk(batchesPerEpoch, epochs);
  post({ type: 'ready', info: net.deviceInfo, batchesPerEpoch, trainRows: train.rows });

  // The held-out sample for the live accuracy curve: the first rows of the (already shuffled) test set.
  const monitorRows = Math.min(500, test.rows);
  const monitorX = test.x.subarray(0, monitorRows * inputs);
  const monitorY = test.y.subarray(0, monitorRows * outputs);
  const paintBoundary = boundaryPainter(run.data);

  const order = new Uint32Array(train.rows);
  const shuffleRandom = mulberry32(spec.seed ^ 0x2f6b1d37);
  const chunkX = new Float32Array(chunkBatches * spec.batchSize * inputs);
  const chunkY = new Float32Array(chunkBatches * spec.batchSize * outputs);
  let trainingSeconds = 0;
  let monitorSeconds = 0;
  let windowRows = 0;
  let windowSeconds = 0;
  let lastBoundary = 0;
  let finalLoss = NaN;
  for (let epoch = 0; epoch < epochs; epoch++) {
    shuffleInto(order, shuffleRandom);
    let lossSum = 0;
    for (let batch = 0; batch < batchesPerEpoch; batch += chunkBatches) {
      await pausePoint();
      const start = batch * spec.batchSize;
      const rows = Math.min(train.rows, start + chunkBatches * spec.batchSize) - start;
      gatherRows(train.x, order, start, rows, inputs, chunkX);
      gatherRows(train.y, order, start, rows, outputs, chunkY);
      const began = performance.now();
      const { loss: [loss] } = await onDevice((n) => n.fit(chunkX.subarray(0, rows * inputs), chunkY.subarray(0, rows * outputs), { shuffle: false }));
      const seconds = (performance.now() - began) / 1000;
      trainingSeconds += seconds;
      lossSum += loss * rows;
      windowRows += rows;
      windowSeconds += seconds;
      const position = epoch + Math.min(batchesPerEpoch, batch + chunkBatches) / batchesPerEpoch;
      if (windowSeconds >= 0.1) {
        post({ type: 'chunk', position, loss, examplesPerSecond: windowRows / windowSeconds });
        windowRows = windowSeconds = 0;
      } else {
        post({ type: 'chunk', position, loss });
      }
      if (run.liveAccuracy && monitorSeconds <= 0.1 * trainingSeconds) {
        const began = performance.now();
        const { metrics: { accuracy } } = await onDevice((n) => n.evaluate(monitorX, monitorY, { metrics: ['accuracy'] }));
        monitorSeconds += (performance.now() - began) / 1000;
        post({ type: 'accuracy', position, accuracy });
      }
      if (performance.now() - lastBoundary > 250) {
        await paintBoundary();
        lastBoundary = performance.now();
      }
    }
    finalLoss = lossSum / train.rows;
    const evaluation = await onDevice((n) => n.evaluate(test.x, test.y, { metrics: ['accuracy'] }));
    post({ type: 'epoch', epoch: epoch + 1, trainLoss: finalLoss, testLoss: evaluation.loss, testAccuracy: evaluation.metrics.accuracy! });
  }
  await paintBoundary();
  post({ type: 'done', trainingSeconds, examplesPerSecond: (epochs * train.rows) / trainingSeconds, finalLoss });
}

async function load(request: LoadRequest): Promise<void> {
  net = await loadNetwork(request.model, { backend: request.backend });
  const { test } = splits(request.data, request.seed);
  const { plan } = net;
  const outputs = test.y.length / test.rows;
  if (plan.inputSize !== test.x.length / test.rows || plan.outputSize !== outputs) {
    throw new Error(`the model maps ${plan.inputSize} inputs to ${plan.outputSize} outputs, but the chosen dataset has ` +
      `${test.x.length / test.rows} and ${outputs}: choose the dataset it was trained on`);
  }
  // Dense layers by their width, the others by their kind, each with the activation after it.
  const description = [String(plan.inputSize), ...plan.layers.map((l) => `${l.kind === 'dense' ? l.units : l.kind} ${l.activation.name}`)]
    .join(' → ') + ` · ${plan.loss.type}`;
  const evaluation = await onDevice((n) => n.evaluate(test.x, test.y, { metrics: ['accuracy'] }));
  post({ type: 'loaded', info: net.deviceInfo, description, testLoss: evaluation.loss, testAccuracy: evaluation.metrics.accuracy! });
  await boundaryPainter(request.data)();
}

/** Answers a request by id: the page's session matches the reply to the promise it handed out. */
function reply(id: number, work: () => Promise<Float32Array | Uint8Array>): void {
  work().then(
    (result) => post({ type: 'reply', id, result }),
    (error: unknown) => post({ type: 'replyFailed', id, message: (error as Error).message ?? String(error) }),
  );
}

const noNetwork = () => Promise.reject(new Error('there is no network in this worker yet'));

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  const fail = (error: unknown) => post({ type: 'error', message: (error as Error).message ?? String(error) });
  switch (message.type) {
    case 'start':
      train(message.run).catch(fail);
      break;
    case 'load':
      load(message.request).catch(fail);
      break;
    case 'pause':
      paused = true;
      break;
    case 'resume':
      paused = false;
      wake?.();
      wake = undefined;
      break;
    case 'predict':
      reply(message.id, () => (net ? onDevice((n) => n.predict(message.x)) : noNetwork()));
      break;
    case 'save': {
      const { format } = message;
      reply(message.id, () => (net ? onDevice((n) => {
        switch (format) {
          case 'model': return n.save();
          case 'onnx': return n.toOnnx();
          default: return format satisfies never;
        }
      }) : noNetwork()));
      break;
    }
  }
};
