import { NetworkEditor, type EditorState } from './editor.js';
import { detectWebGpu } from './gpu.js';
import { fetchMnist, MNIST_ASSET, type MnistDigits } from './mnist.js';
import type { TrainingData } from './protocol.js';
import { NeuralImagePanel } from './neural-image.js';
import { RacePanel } from './race.js';
import { Sketchpad } from './sketchpad.js';
import { toySplit } from './toy.js';
import { TrainPanel } from './train-panel.js';

/** The browser app: wires the editor, the training and race sections and the digit pad together. */

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const adapterLine = byId<HTMLParagraphElement>('adapter');
const BOUNDARY_RESOLUTION = 48;

/** MNIST starts downloading at once (it is the default dataset), with its progress shown by the editor. */
function loadMnist(): Promise<MnistDigits> {
  const progress = byId<HTMLProgressElement>('mnist-progress');
  const status = byId('mnist-status');
  // Relative to the page, so the site works from any folder of any static host.
  return fetchMnist(new URL(MNIST_ASSET, document.baseURI).href, (fraction) => {
    if (fraction === undefined) progress.removeAttribute('value');
    else progress.value = fraction;
    status.textContent = fraction === undefined ? 'downloading…' : `${Math.round(fraction * 100)}%`;
  }).then((digits) => {
    status.textContent = `${digits.rows.toLocaleString()} digits ready`;
    byId('mnist-loading').dataset.state = 'ready';
    return digits;
  }, (error: Error) => {
    status.textContent = `failed: ${error.message}`;
    byId('mnist-loading').dataset.state = 'error';
    throw error;
  });
}

const mnist = loadMnist();
// A failed download is reported in the editor and again if MNIST is chosen; not an unhandled rejection.
mnist.catch(() => undefined);

async function trainingData(state: EditorState): Promise<TrainingData> {
  if (state.dataset === 'mnist') return { kind: 'mnist', digits: await mnist };
  const { train, test } = toySplit(state.dataset, state.spec.seed);
  return { kind: 'toy', train, test, boundaryResolution: BOUNDARY_RESOLUTION };
}

const sketchpad = new Sketchpad();
const editor = new NetworkEditor();
const race = new RacePanel(async () => {
  const state = editor.read();
  return state ? { state, data: await trainingData(state) } : null;
});

const neuralImage = new NeuralImagePanel();

function offerCpuOnly(reason: string): void {
  adapterLine.dataset.state = 'unavailable';
  adapterLine.textContent = `${reason} Training runs on the CPU backend instead (same results, no GPU).`;
  editor.useCpuOnly();
  race.disable('The race needs WebGPU, which is not available here.');
  neuralImage.disable('The neural image trains on the GPU through WebGPU, which is not available here.');
}

new TrainPanel(
  editor,
  trainingData,
  (model, dataset) => sketchpad.setModel(dataset === 'mnist' ? model : undefined),
  () => offerCpuOnly('The GPU device was lost during training.'),
);

void detectWebGpu().then((adapter) => {
  if (!adapter.available) return offerCpuOnly(adapter.text);
  adapterLine.dataset.state = adapter.software ? 'software' : 'hardware';
  adapterLine.textContent = adapter.text;
});
