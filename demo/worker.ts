import { createNetwork, type Network } from '../src/index.js';
import { gatherRows } from '../src/data/matrix.js';
import { mulberry32, shuffleInto } from '../src/data/random.js';
import { requestTrainingDevice } from './gpu.js';
import { splitMnist } from './mnist.js';
import type { FromWorker, RunRequest, ToWorker } from './protocol.js';
import { boundaryGrid, type LabelledSet } from './toy.js';

/**
 * Trains one network off the page's thread. One worker per run: the page terminates it to reset,
 * which also frees its GPU device.
 *
 * Per-batch curves without slowing the GPU: `fit` reads no loss back per batch (that would stall the
 * GPU queue on every step), and `trainBatch`, which does, runs one step per round trip. So the worker
 * shuffles each epoch itself and trains it in chunks of a few whole batches, one `fit` call per chunk:
 * the GPU stays busy within a chunk and each chunk's mean loss is read back once. Batches are the
 * same whatever the chunk size, so the epoch losses equal one `fit` over the whole epoch's order, and
 * two workers given the same request (the GPU vs CPU race) train on identical batches.
 */

const post = (message: FromWorker, transfer: Transferable[] = []) => self.postMessage(message, { transfer });

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

function splits(run: RunRequest): { train: LabelledSet; test: LabelledSet } {
  return run.data.kind === 'mnist' ? splitMnist(run.data.digits, run.spec.seed) : run.data;
}

async function train(run: RunRequest): Promise<void> {
  const { spec, epochs } = run;
  // A device of our own where WebGPU may be used, so that losing it is noticed (see gpu.ts).
  const device = spec.backend === 'cpu' || spec.backend === 'reference' ? null : await requestTrainingDevice();
  device?.lost.then((info) => {
    if (info.reason !== 'destroyed') post({ type: 'error', message: `the GPU device was lost: ${info.message || info.reason}`, deviceLost: true });
  });
  net = await createNetwork({ ...spec, device: device ?? undefined });
  const { train, test } = splits(run);
  const inputs = spec.inputSize;
  const outputs = train.y.length / train.rows;
  const batchesPerEpoch = Math.ceil(train.rows / spec.batchSize);
  const chunkBatches = batchesPerChunk(batchesPerEpoch, epochs);
  post({ type: 'ready', info: net.deviceInfo, batchesPerEpoch, trainRows: train.rows });

  // The held-out sample for the live accuracy curve: the first rows of the (already shuffled) test set.
  const monitorRows = Math.min(500, test.rows);
  const monitorX = test.x.subarray(0, monitorRows * inputs);
  const monitorY = test.y.subarray(0, monitorRows * outputs);
  const grid = run.data.kind === 'toy' ? boundaryGrid(run.data.boundaryResolution) : undefined;
  const sendBoundary = async () => {
    if (!grid) return;
    const values = await net!.predict(grid);
    post({ type: 'boundary', outputs: values }, [values.buffer]);
  };

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
      const { loss: [loss] } = await net.fit(chunkX.subarray(0, rows * inputs), chunkY.subarray(0, rows * outputs), { shuffle: false });
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
        const { accuracy } = await net.evaluate(monitorX, monitorY);
        monitorSeconds += (performance.now() - began) / 1000;
        post({ type: 'accuracy', position, accuracy });
      }
      if (grid && performance.now() - lastBoundary > 250) {
        await sendBoundary();
        lastBoundary = performance.now();
      }
    }
    finalLoss = lossSum / train.rows;
    const evaluation = await net.evaluate(test.x, test.y);
    post({ type: 'epoch', epoch: epoch + 1, trainLoss: finalLoss, testLoss: evaluation.loss, testAccuracy: evaluation.accuracy });
  }
  await sendBoundary();
  post({ type: 'done', trainingSeconds, examplesPerSecond: (epochs * train.rows) / trainingSeconds, finalLoss });
}

async function predict(id: number, x: Float32Array): Promise<void> {
  if (!net) throw new Error('no network has been trained in this worker yet');
  const probabilities = await net.predict(x);
  post({ type: 'prediction', id, probabilities }, [probabilities.buffer]);
}

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  const fail = (error: unknown) => post({ type: 'error', message: (error as Error).message ?? String(error), deviceLost: false });
  switch (message.type) {
    case 'start':
      train(message.run).catch(fail);
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
      predict(message.id, message.x).catch((error: unknown) =>
        post({ type: 'predictionFailed', id: message.id, message: (error as Error).message ?? String(error) }));
      break;
  }
};
