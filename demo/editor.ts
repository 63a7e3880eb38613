import type { ActivationName, BackendChoice, LayerSpec, LossName, OptimizerSpec } from '../src/index.js';
import { ACTIVATION_NAMES, ACTIVATIONS, type OptimizerName } from '../src/ops/index.js';
import { MNIST_CLASSES, MNIST_SIDE } from './mnist.js';
import type { RunRequest } from './protocol.js';
import type { ToyName } from './toy.js';

/**
 * The network editor: the form in index.html plus one row per hidden layer. `read()` turns the form
 * into a network spec; choosing a dataset loads settings known to train it well.
 */

type DatasetName = 'mnist' | ToyName;

/** A hidden dense layer, the normalization before its activation, and the dropout after it (rate 0: none). */
interface HiddenLayer {
  units: number;
  normalization: Normalization;
  activation: ActivationName;
  slope: number;
  dropout: number;
}

type Normalization = 'none' | 'layerNormalization' | 'batchNormalization';
const NORMALIZATION_LABELS: Record<Normalization, string> = { none: 'none', layerNormalization: 'layer norm', batchNormalization: 'batch norm' };

interface Preset {
  hidden: HiddenLayer[];
  output: ActivationName;
  loss: LossName;
  optimizer: OptimizerSpec['type'];
  learningRate: number;
  batchSize: number;
  epochs: number;
}

const relu = (units: number): HiddenLayer => ({ units, normalization: 'none', activation: 'relu', slope: 0.01, dropout: 0 });
const tanh = (units: number): HiddenLayer => ({ units, normalization: 'none', activation: 'tanh', slope: 0.01, dropout: 0 });
const toy = { output: 'linear', loss: 'softmaxCrossEntropy', optimizer: 'adam', learningRate: 0.03, batchSize: 32 } as const;

/** MNIST: the CLI's network (one epoch reaches ~91% test accuracy). Toy sets: small tanh networks. */
const PRESETS: Record<DatasetName, Preset> = {
  mnist: { hidden: [relu(256), relu(128)], output: 'linear', loss: 'softmaxCrossEntropy', optimizer: 'adam', learningRate: 0.001, batchSize: 64, epochs: 3 },
  xor: { ...toy, hidden: [tanh(8), tanh(8)], epochs: 60 },
  circles: { ...toy, hidden: [tanh(8)], epochs: 60 },
  spiral: { ...toy, hidden: [tanh(24), tanh(24)], epochs: 300 },
};

const ACTIVATION_LABELS: Record<ActivationName, string> = {
  relu: 'ReLU', leakyRelu: 'leaky ReLU', sigmoid: 'sigmoid', tanh: 'tanh', linear: 'linear (none)',
  elu: 'ELU', softplus: 'softplus', silu: 'SiLU (swish)', gelu: 'GELU',
};

const LOSS_LABELS: Record<LossName, string> = {
  softmaxCrossEntropy: 'softmax cross-entropy', binaryCrossEntropy: 'binary cross-entropy', mse: 'mean squared error',
  sse: 'sum of squared errors', meanAbsoluteError: 'mean absolute error', huber: 'Huber',
};

const OPTIMIZER_LABELS: Record<OptimizerName, string> = { adam: 'Adam', adamw: 'AdamW', rmsprop: 'RMSprop', momentum: 'momentum', sgd: 'SGD' };

/** Fills a menu with every entry of an op table, in the order of `labels`. */
function fillMenu(select: HTMLSelectElement, labels: Record<string, string>): void {
  for (const [value, label] of Object.entries(labels)) select.add(new Option(label, value));
}

/** The numeric parameter an activation takes (leakyRelu's slope, elu's alpha), shown in the layer's parameter field. */
function numericParameter(name: ActivationName): string | undefined {
  return Object.entries(ACTIVATIONS[name].params).find(([, param]) => param.kind === 'number')?.[0];
}

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

export interface EditorState {
  dataset: DatasetName;
  spec: RunRequest['spec'];
  epochs: number;
}

export class NetworkEditor {
  readonly form = byId<HTMLFormElement>('editor');
  private readonly layers = byId<HTMLOListElement>('layers');
  private readonly dataset = byId<HTMLSelectElement>('dataset');

  constructor() {
    byId('add-layer').addEventListener('click', () => this.addLayer(relu(32)).querySelector('input')!.focus());
    this.dataset.addEventListener('change', () => this.applyPreset(this.datasetName));
    this.activationSelect(byId('output-activation'), byId('output-slope-label'));
    fillMenu(byId('loss'), LOSS_LABELS);
    fillMenu(byId('optimizer'), OPTIMIZER_LABELS);
    this.applyPreset(this.datasetName);
  }

  get datasetName(): DatasetName {
    return this.dataset.value as DatasetName;
  }

  /** Offers only the CPU backend (WebGPU missing or its device lost). */
  useCpuOnly(): void {
    const backend = byId<HTMLSelectElement>('backend');
    backend.value = 'cpu';
    for (const option of backend.options) option.disabled = option.value !== 'cpu';
  }

  private applyPreset(dataset: DatasetName): void {
    const preset = PRESETS[dataset];
    const mnist = dataset === 'mnist';
    byId('input-size').textContent = mnist ? `${MNIST_SIDE * MNIST_SIDE} pixels` : '2 coordinates';
    byId('output-size').textContent = String(mnist ? MNIST_CLASSES : 2);
    this.layers.replaceChildren();
    preset.hidden.forEach((layer) => this.addLayer(layer));
    const set = (id: string, value: string | number) => (byId<HTMLInputElement | HTMLSelectElement>(id).value = String(value));
    set('output-activation', preset.output);
    byId('output-activation').dispatchEvent(new Event('change'));
    set('loss', preset.loss);
    set('optimizer', preset.optimizer);
    set('learning-rate', preset.learningRate);
    set('batch-size', preset.batchSize);
    set('epochs', preset.epochs);
  }

  /** Shows the parameter field only while an activation with a numeric parameter (leakyRelu, elu) is chosen. */
  private activationSelect(select: HTMLSelectElement, slopeLabel: HTMLElement): void {
    if (select.options.length === 0) {
      for (const [value, label] of Object.entries(ACTIVATION_LABELS)) select.add(new Option(label, value));
    }
    // The label names the parameter ("Slope", "Output alpha"); `data-prefix` holds the part before it.
    const prefix = slopeLabel.dataset.prefix;
    const sync = () => {
      const parameter = numericParameter(select.value as ActivationName);
      slopeLabel.hidden = parameter === undefined;
      if (parameter) slopeLabel.firstChild!.textContent = prefix ? `${prefix}${parameter} ` : `${parameter[0]!.toUpperCase()}${parameter.slice(1)} `;
      return parameter;
    };
    select.addEventListener('change', () => {
      const parameter = sync();
      if (parameter === undefined) return;
      // A newly chosen activation starts from its own default (elu's alpha 1, leakyRelu's slope 0.01).
      const params: Record<string, { default?: unknown }> = ACTIVATIONS[select.value as ActivationName].params;
      slopeLabel.querySelector('input')!.value = String(params[parameter]!.default);
    });
    sync();
  }

  private addLayer(layer: HiddenLayer): HTMLLIElement {
    const item = document.createElement('li');
    item.className = 'layer';
    item.innerHTML = `
      <label>Units <input type="number" name="units" min="1" max="4096" step="1" required></label>
      <label>Normalization <select name="normalization"></select></label>
      <label>Activation <select name="activation"></select></label>
      <label>Slope <input type="number" name="slope" min="0" max="1" step="any" required></label>
      <label>Dropout <input type="number" name="dropout" min="0" max="0.95" step="any" required></label>
      <button type="button" class="remove">Remove</button>`;
    const [units, slope, dropout] = item.querySelectorAll('input');
    const [normalization, activation] = item.querySelectorAll('select');
    fillMenu(normalization!, NORMALIZATION_LABELS);
    for (const name of ACTIVATION_NAMES) if (name !== 'linear') activation!.add(new Option(ACTIVATION_LABELS[name], name));
    units!.value = String(layer.units);
    normalization!.value = layer.normalization;
    activation!.value = layer.activation;
    slope!.value = String(layer.slope);
    dropout!.value = String(layer.dropout);
    this.activationSelect(activation!, slope!.parentElement!);
    const remove = item.querySelector<HTMLButtonElement>('.remove')!;
    remove.addEventListener('click', () => {
      item.remove();
      this.renumber();
      byId('add-layer').focus();
    });
    this.layers.append(item);
    this.renumber();
    return item;
  }

  /** Accessible names say which layer a field belongs to ("Remove hidden layer 2"). */
  private renumber(): void {
    [...this.layers.children].forEach((item, i) => {
      item.querySelector('.remove')!.setAttribute('aria-label', `Remove hidden layer ${i + 1}`);
      item.querySelectorAll('input, select').forEach((field) =>
        field.setAttribute('aria-label', `Hidden layer ${i + 1} ${(field as HTMLInputElement).name}`));
    });
  }

  /** The form as a run; null (with the browser's messages shown) when a field is out of range. */
  read(): EditorState | null {
    if (!this.form.reportValidity()) return null;
    const number = (id: string) => Number(byId<HTMLInputElement>(id).value);
    const value = (id: string) => byId<HTMLSelectElement>(id).value;
    const activation = (name: ActivationName, value: number): LayerSpec => {
      const parameter = numericParameter(name);
      return (parameter ? { type: name, [parameter]: value } : { type: name }) as LayerSpec;
    };
    const layers: LayerSpec[] = [...this.layers.children].flatMap((item): LayerSpec[] => {
      const [units, slope, dropout] = item.querySelectorAll('input');
      const [normalization, hidden] = item.querySelectorAll('select');
      const rate = Number(dropout!.value);
      const norm = normalization!.value as Normalization;
      return [
        { type: 'dense', units: Number(units!.value) },
        ...(norm === 'none' ? [] : [{ type: norm }]),
        activation(hidden!.value as ActivationName, Number(slope!.value)),
        ...(rate > 0 ? [{ type: 'dropout' as const, rate }] : []),
      ];
    });
    const mnist = this.datasetName === 'mnist';
    layers.push({ type: 'dense', units: mnist ? MNIST_CLASSES : 2 });
    const output = value('output-activation') as ActivationName;
    if (output !== 'linear') layers.push(activation(output, number('output-slope')));
    const optimizerType = value('optimizer') as OptimizerSpec['type'];
    return {
      dataset: this.datasetName,
      epochs: number('epochs'),
      spec: {
        inputSize: mnist ? MNIST_SIDE * MNIST_SIDE : 2,
        layers,
        loss: value('loss') as LossName,
        optimizer: { type: optimizerType, learningRate: number('learning-rate') },
        batchSize: number('batch-size'),
        seed: number('seed'),
        backend: value('backend') as BackendChoice,
      },
    };
  }
}
