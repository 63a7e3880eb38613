import { drawBoundary } from './boundary.js';
import { LiveChart } from './charts.js';
import type { NetworkEditor, EditorState } from './editor.js';
import type { SaveFormat, TrainingData, TrainingEvent } from './protocol.js';
import { TrainingSession } from './session.js';

/** The file name extension of each save format. */
const SAVE_EXTENSIONS: Record<SaveFormat, string> = { model: 'wgbp', onnx: 'onnx' };

/**
 * The Train section: runs the editor's network in a worker and shows its progress live — loss and
 * accuracy per chunk of batches and per epoch, throughput, and for toy sets the decision boundary —
 * and saves the network to a model file or loads one to evaluate it.
 */

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const percent = (fraction: number) => `${(fraction * 100).toFixed(2)}%`;
const BLUE = '#2b59c3', ORANGE = '#e07b12', GREEN = '#2a9d4b';

type TrainingState = 'idle' | 'loading' | 'training' | 'paused' | 'done' | 'error';

export interface TrainedModel {
  session: TrainingSession;
  /** What the page can say about it ("epoch 2 of 3, test accuracy 93.1%"). */
  summary: string;
}

export class TrainPanel {
  private session: TrainingSession | undefined;
  private run: EditorState | undefined;
  private data: TrainingData | undefined;
  private latestBoundary: Float32Array | undefined;
  private readonly status = byId<HTMLParagraphElement>('status');
  private readonly pauseButton = byId<HTMLButtonElement>('pause');
  private readonly resetButton = byId<HTMLButtonElement>('reset');
  private readonly saveButton = byId<HTMLButtonElement>('save-model');
  private readonly exportButton = byId<HTMLButtonElement>('export-onnx');
  private readonly loadInput = byId<HTMLInputElement>('load-model');
  private readonly boundaryFigure = byId<HTMLElement>('boundary-figure');
  private readonly boundaryCanvas = byId<HTMLCanvasElement>('boundary');
  private readonly batchChart = new LiveChart(byId('chart-batch'), {
    title: 'Per batch', xLabel: 'epoch', leftLabel: 'loss', rightLabel: 'accuracy', logLeft: true,
    series: [
      { label: 'training loss', stroke: BLUE },
      { label: 'held-out accuracy', stroke: GREEN, axis: 'right' },
    ],
  });
  private readonly epochChart = new LiveChart(byId('chart-epoch'), {
    title: 'Per epoch', xLabel: 'epoch', leftLabel: 'loss', rightLabel: 'accuracy', logLeft: true,
    series: [
      { label: 'training loss', stroke: BLUE },
      { label: 'test loss', stroke: ORANGE, dash: [6, 4] },
      { label: 'test accuracy', stroke: GREEN, axis: 'right' },
    ],
  });
  private readonly speedChart = new LiveChart(byId('chart-speed'), {
    title: 'Throughput', xLabel: 'epoch', leftLabel: 'examples/s',
    series: [{ label: 'examples/s', stroke: BLUE }],
  });

  constructor(
    private readonly editor: NetworkEditor,
    private readonly trainingData: (state: EditorState) => Promise<TrainingData>,
    /** Called when the model the page may ask for predictions changes (undefined: none). */
    private readonly onModel: (model: TrainedModel | undefined, dataset: string) => void,
    /** Called when the GPU device is lost: the page then offers only the CPU backend. */
    private readonly onDeviceLost: () => void,
  ) {
    editor.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.start();
    });
    this.pauseButton.addEventListener('click', () => this.togglePause());
    this.resetButton.addEventListener('click', () => this.reset());
    this.saveButton.addEventListener('click', () => void this.save('model'));
    this.exportButton.addEventListener('click', () => void this.save('onnx'));
    this.loadInput.addEventListener('change', () => {
      const file = this.loadInput.files?.[0];
      if (file) void file.arrayBuffer().then((bytes) => this.load(file.name, new Uint8Array(bytes)));
      this.loadInput.value = '';
    });
  }

  private setStatus(state: TrainingState, text: string): void {
    this.status.dataset.state = state;
    this.status.textContent = text;
    this.pauseButton.disabled = state !== 'training' && state !== 'paused';
    this.pauseButton.textContent = state === 'paused' ? 'Resume' : 'Pause';
    this.resetButton.disabled = state === 'idle';
    this.saveButton.disabled = !this.session || state === 'idle' || state === 'loading' || state === 'error';
    this.exportButton.disabled = this.saveButton.disabled;
  }

  private metric(name: string, text: string, value?: number): void {
    const element = byId(`metric-${name}`);
    element.textContent = text;
    if (value !== undefined) element.dataset.value = String(value);
  }

  /** Resets, then waits for the editor's dataset; undefined when the form is invalid or a reset came meanwhile. */
  private async prepare(): Promise<{ run: EditorState; data: TrainingData } | undefined> {
    const run = this.editor.read();
    if (!run) return undefined;
    this.reset();
    this.run = run;
    this.setStatus('loading', run.dataset === 'mnist' ? 'Waiting for the MNIST download…' : 'Starting…');
    const data = await this.trainingData(run);
    if (this.run !== run) return undefined;
    this.data = data;
    this.boundaryFigure.hidden = data.kind !== 'toy';
    this.drawBoundary();
    return { run, data };
  }

  private async start(): Promise<void> {
    const prepared = await this.prepare();
    if (!prepared) return;
    const { run, data } = prepared;
    this.session = new TrainingSession({ spec: run.spec, data, epochs: run.epochs, liveAccuracy: true }, (event) => this.handle(event));
  }

  /** Evaluates a model file on the chosen dataset; it then answers the digit pad like a trained one. */
  private async load(name: string, model: Uint8Array): Promise<void> {
    const prepared = await this.prepare();
    if (!prepared) return;
    const { run, data } = prepared;
    this.status.textContent = `Loading ${name}…`;
    this.session = new TrainingSession({ model, backend: run.spec.backend ?? 'auto', data, seed: run.spec.seed }, (event) => this.handle(event));
  }

  /** Downloads the network as a model file (.wgbp) or an ONNX model (.onnx). */
  private async save(format: SaveFormat): Promise<void> {
    const session = this.session;
    if (!session || !this.run) return;
    const name = `webgpu-backprop-${this.run.dataset}.${SAVE_EXTENSIONS[format]}`;
    try {
      const bytes = await session.save(format);
      const link = document.createElement('a');
      link.href = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
      link.download = name;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
      this.status.textContent += ` Saved ${name} (${(bytes.byteLength / 1024).toFixed(0)} KiB).`;
    } catch (error) {
      this.status.textContent += ` Could not save the model: ${(error as Error).message}.`;
    }
  }

  private togglePause(): void {
    if (this.status.dataset.state === 'paused') this.session?.resume();
    else this.session?.pause();
    // The worker confirms at the end of its current chunk; say at once that the click was taken.
    this.status.textContent = this.status.dataset.state === 'paused' ? 'Resuming…' : 'Pausing after the current batches…';
  }

  private reset(): void {
    this.session?.end();
    this.session = undefined;
    this.run = undefined;
    this.latestBoundary = undefined;
    for (const chart of [this.batchChart, this.epochChart, this.speedChart]) chart.clear();
    for (const name of ['backend', 'epoch', 'loss', 'accuracy', 'speed']) this.metric(name, '–');
    this.boundaryFigure.hidden = true;
    this.setStatus('idle', 'Choose a dataset and a network, then press Train.');
    this.onModel(undefined, '');
  }

  private drawBoundary(): void {
    if (this.data?.kind === 'toy') drawBoundary(this.boundaryCanvas, this.latestBoundary, this.data.boundaryResolution, this.data.train);
  }

  private handle(event: TrainingEvent): void {
    const run = this.run!;
    const session = this.session!;
    switch (event.type) {
      case 'ready': {
        const { info } = event;
        const adapter = info.vendor ? ` on ${[info.vendor, info.architecture].filter(Boolean).join(' ')}` : '';
        this.metric('backend', `${info.backend}${adapter}`);
        this.status.title = info.reason;
        this.setStatus('training', `Training ${run.dataset} on ${info.backend}${adapter}: ${event.trainRows.toLocaleString()} rows, ${event.batchesPerEpoch} batches per epoch.`);
        break;
      }
      case 'chunk':
        this.batchChart.set(event.position, 0, event.loss);
        this.metric('loss', event.loss.toPrecision(4), event.loss);
        if (event.examplesPerSecond === undefined) break;
        this.speedChart.set(event.position, 0, event.examplesPerSecond);
        this.metric('speed', Math.round(event.examplesPerSecond).toLocaleString(), event.examplesPerSecond);
        break;
      case 'accuracy':
        this.batchChart.set(event.position, 1, event.accuracy);
        break;
      case 'epoch':
        this.epochChart.set(event.epoch, 0, event.trainLoss);
        this.epochChart.set(event.epoch, 1, event.testLoss);
        this.epochChart.set(event.epoch, 2, event.testAccuracy);
        this.metric('epoch', `${event.epoch} of ${run.epochs}`, event.epoch);
        this.metric('accuracy', percent(event.testAccuracy), event.testAccuracy);
        this.onModel({ session, summary: `epoch ${event.epoch} of ${run.epochs}, test accuracy ${percent(event.testAccuracy)}` }, run.dataset);
        break;
      case 'boundary':
        this.latestBoundary = event.outputs;
        this.drawBoundary();
        this.boundaryCanvas.dataset.drawn = 'true';
        break;
      case 'paused':
        this.setStatus('paused', 'Paused. Resume to go on from here, or Reset to start over.');
        break;
      case 'resumed':
        this.setStatus('training', 'Training…');
        break;
      case 'done':
        this.metric('speed', Math.round(event.examplesPerSecond).toLocaleString(), event.examplesPerSecond);
        this.setStatus('done', `Done: ${run.epochs} epoch${run.epochs > 1 ? 's' : ''} in ${event.trainingSeconds.toFixed(event.trainingSeconds < 10 ? 2 : 1)} s of training, ` +
          `${Math.round(event.examplesPerSecond).toLocaleString()} examples/s, final training loss ${event.finalLoss.toPrecision(4)}, ` +
          `test accuracy ${byId('metric-accuracy').textContent}.`);
        break;
      case 'loaded':
        this.metric('backend', event.info.backend);
        this.metric('accuracy', percent(event.testAccuracy), event.testAccuracy);
        this.setStatus('done', `Loaded a ${event.description} model: test loss ${event.testLoss.toPrecision(4)}, ` +
          `test accuracy ${percent(event.testAccuracy)} on ${run.dataset}.`);
        this.onModel({ session, summary: `loaded from a file, test accuracy ${percent(event.testAccuracy)}` }, run.dataset);
        break;
      case 'deviceLost':
        this.metric('backend', event.info.backend);
        this.status.textContent = 'The GPU device was lost; training went on on the CPU from the last completed batches.';
        this.status.title = event.message;
        this.onDeviceLost();
        break;
      case 'error':
        this.setStatus('error', `Failed: ${event.message}`);
        break;
    }
  }
}
