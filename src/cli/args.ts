import { parseArgs } from 'node:util';
import { DATASET_NAMES, type DatasetName } from '../data/datasets.js';
import { TASKS, type Task } from '../data/table.js';
import { BACKEND_CHOICES, type BackendChoice } from '../spec.js';
import { ACTIVATION_NAMES, LOSS_NAMES, OPTIMIZER_NAMES, type ActivationName, type LayerKind, type LossName, type OptimizerName } from '../ops/index.js';

/** The --backend choices: the engine's own list. */
export const BACKENDS = BACKEND_CHOICES;
export const OPTIMIZERS: readonly OptimizerName[] = OPTIMIZER_NAMES;
/** Hidden activations: every one of the table but linear (a linear hidden layer adds nothing to the one after it). */
export const ACTIVATIONS = ACTIVATION_NAMES.filter((name): name is HiddenActivation => name !== 'linear');
export type { OptimizerName };
export type HiddenActivation = Exclude<ActivationName, 'linear'>;

/** The layer kinds --normalization takes. */
export const NORMALIZATIONS = ['layerNormalization', 'batchNormalization'] as const satisfies readonly LayerKind[];
export type Normalization = (typeof NORMALIZATIONS)[number];

/** The user's own table (--data), instead of a built-in dataset. */
export interface TableSource {
  file: string;
  /** --target: the target column(s) by name or index; default the last. */
  target?: string[];
  /** --task; default inferred from the target column. */
  task?: Task;
  /** --validation-split; default 0.2. */
  validationSplit: number;
}

/** Everything the trainer needs, every default filled in. */
export interface TrainConfig {
  /** The built-in dataset; with `data`, 'table' (the defaults for a user's table). */
  dataset: DatasetName | 'table';
  data?: TableSource;
  /** --save: where the trained network's model file goes (with its optimizer state, to train on later). */
  save?: string;
  /**
   * --load: a model file to continue training (or, with --epochs 0, only to evaluate); the network and
   * optimizer come from it. A .onnx file gives the layers and weights only (isOnnxFile): the
   * optimizer, learning rate, loss and seed are the flags'.
   */
  load?: string;
  /** --onnx: where the trained network goes as an ONNX model (net.toOnnx()). */
  onnx?: string;
  backend: BackendChoice;
  epochs: number;
  batchSize: number;
  /** Units of each hidden layer, input side first. */
  hidden: number[];
  activation: HiddenActivation;
  optimizer: OptimizerName;
  /** The loss (default: softmaxCrossEntropy for several classes, mse on a sigmoid for one output). */
  loss?: LossName;
  learningRate: number;
  /** --lr-schedule: a schedule starting from learningRate (src/ops/schedules.ts), in optimizer steps; none by default. */
  lrSchedule?: LrSchedule;
  /** The optimizer's clipNorm (see OptimizerSpec); none by default. */
  clipNorm?: number;
  /** A normalization layer after each hidden dense layer, before its activation; none by default. */
  normalization?: Normalization;
  /** A dropout layer of this rate after each hidden activation; none by default. */
  dropout?: number;
  seed: number;
  /** CPU backend threads; default every core. */
  threads?: number;
  /** --early-stopping: epochs without a better validation loss before stopping (the best epoch's weights are restored); none by default. */
  earlyStopping?: number;
}

/** What --lr-schedule takes: a cosine decay (with an optional warmup) or an exponential one, from --lr. */
export type LrSchedule =
  | { type: 'cosine'; decaySteps: number; warmupSteps: number }
  | { type: 'exponential'; decayRate: number; decaySteps: number };

export type Command = { help: true } | { help: false; config: TrainConfig };

/** A bad command line: the trainer prints the message with a usage hint and exits with code 2. */
export class CliError extends Error {
  override name = 'CliError';
}

interface DatasetDefaults {
  epochs: number;
  batchSize: number;
  hidden: number[];
  activation: HiddenActivation;
  optimizer: OptimizerName;
  /** Per optimizer, so `--optimizer sgd` alone still trains: plain SGD needs a far larger step than Adam. */
  learningRate: Record<OptimizerName, number>;
  /** Dropout after each hidden activation, unless --dropout says otherwise. */
  dropout?: number;
}

/**
 * Tuned per dataset. Full MNIST (54,000 training digits): 256-128 relu with dropout 0.2 and Adam at
 * batch 128 passes 98% test accuracy from epoch 10 and ends near 98.4% after 15 (measured on the cpu
 * backend, seed 1; without dropout it wavers around 97.7-98.0%). The 10,000-digit set: one hidden
 * layer of 128 levels off near 94.5% on its 8,000 training images; 256-128 reaches about 95% by epoch
 * 8-10. Iris and XOR are tiny, so they take many short epochs (iris overfits past about 50). A
 * user's table gets a small network and many epochs.
 */
export const DEFAULTS: Record<DatasetName | 'table', DatasetDefaults> = {
  mnist: { epochs: 15, batchSize: 128, hidden: [256, 128], activation: 'relu', optimizer: 'adam', dropout: 0.2,
    learningRate: { adam: 0.001, adamw: 0.001, rmsprop: 0.001, momentum: 0.05, sgd: 0.1 } },
  'mnist-small': { epochs: 10, batchSize: 64, hidden: [256, 128], activation: 'relu', optimizer: 'adam',
    learningRate: { adam: 0.001, adamw: 0.001, rmsprop: 0.001, momentum: 0.05, sgd: 0.1 } },
  iris: { epochs: 50, batchSize: 16, hidden: [16], activation: 'relu', optimizer: 'adam',
    learningRate: { adam: 0.01, adamw: 0.01, rmsprop: 0.01, momentum: 0.05, sgd: 0.1 } },
  xor: { epochs: 200, batchSize: 4, hidden: [8], activation: 'tanh', optimizer: 'adam',
    learningRate: { adam: 0.05, adamw: 0.05, rmsprop: 0.05, momentum: 0.3, sgd: 1 } },
  table: { epochs: 50, batchSize: 32, hidden: [64, 32], activation: 'relu', optimizer: 'adam',
    learningRate: { adam: 0.003, adamw: 0.003, rmsprop: 0.003, momentum: 0.03, sgd: 0.1 } },
};

/** The flags that describe the layers, which every --load file fixes. */
const LAYER_FLAGS = ['layers', 'activation', 'normalization', 'dropout'] as const;
/** The flags that describe the network, which a --load model file (ours) fixes; an ONNX file holds no optimizer, loss or seed. */
const NETWORK_FLAGS = [...LAYER_FLAGS, 'optimizer', 'loss', 'lr', 'lr-schedule', 'clip-norm', 'seed'] as const;

/** Whether --load names an ONNX model (by its extension) rather than one of our model files. */
export const isOnnxFile = (name: string): boolean => /\.onnx$/i.test(name);

const FLAGS = {
  dataset: { type: 'string' },
  data: { type: 'string' },
  target: { type: 'string' },
  task: { type: 'string' },
  'validation-split': { type: 'string' },
  save: { type: 'string' },
  load: { type: 'string' },
  onnx: { type: 'string' },
  backend: { type: 'string' },
  epochs: { type: 'string' },
  batch: { type: 'string' },
  layers: { type: 'string' },
  activation: { type: 'string' },
  optimizer: { type: 'string' },
  loss: { type: 'string' },
  lr: { type: 'string' },
  'lr-schedule': { type: 'string' },
  'clip-norm': { type: 'string' },
  normalization: { type: 'string' },
  dropout: { type: 'string' },
  seed: { type: 'string' },
  threads: { type: 'string' },
  'early-stopping': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const list = (names: readonly string[]) => names.join(', ');

export const USAGE = `Usage: npm run train -- [flags]

Trains a multilayer perceptron with backpropagation and reports loss and test accuracy after
each epoch (about 25 times in all for longer runs); with validation rows (full MNIST: the last 10%
of its training set; a table: --validation-split), the validation figures too.

  --dataset NAME      ${list(DATASET_NAMES)} (default mnist: the original 60,000 + 10,000
                      digits; mnist-small: the 10,000 of the mnist package)
  --data FILE         train on your own table instead: a .csv file with a header row, or a .json
                      array of objects; features are standardized
  --target COLS       the target column(s) of --data, names or 0-based indices (default the last)
  --task KIND         ${list(TASKS)} (default: classification for class names or at most
                      20 distinct integers in one target column, else regression)
  --validation-split X  share of --data rows held out for validation (default 0.2)
  --save FILE         write the trained network (with its optimizer state) to FILE
  --load FILE         start from a saved network (its layers, optimizer and loss); --epochs 0
                      only evaluates it. A .onnx file (from PyTorch's torch.onnx.export, or
                      --onnx) gives the layers and weights; --optimizer, --lr, --loss apply
  --onnx FILE         write the trained network as an ONNX model to FILE (input 'input',
                      output 'output'; for ONNX Runtime, PyTorch and other runtimes)
  --backend NAME      ${list(BACKENDS)} (default auto: the CPU on a software or no adapter,
                      else the faster of WebGPU and the CPU on this network)
  --threads N         CPU backend threads, 1 to 16 (default every core)
  --epochs N          passes over the training set
  --early-stopping P  stop once the validation loss (the test loss where the dataset has no
                      validation rows) has not improved for P epochs, and keep the best epoch's
                      weights (default: train every epoch)
  --batch N           rows per training step
  --layers A,B,...    hidden layer sizes, e.g. 256,128
  --activation NAME   hidden activation: ${list(ACTIVATIONS)}
  --optimizer NAME    ${list(OPTIMIZERS)}
  --loss NAME         ${list(LOSS_NAMES)} (default softmaxCrossEntropy for several
                      classes, mse for one output; any loss but softmaxCrossEntropy trains on a sigmoid output)
  --lr X              learning rate (the default depends on dataset and optimizer)
  --lr-schedule S     from --lr, per optimizer step: cosine:DECAY_STEPS[:WARMUP_STEPS] (linear
                      warmup from 0, then cosine decay to 0) or exponential:RATE:STEPS (times
                      RATE every STEPS steps); default none, a constant rate
  --clip-norm X       scale each step's whole gradient to norm at most X (default none)
  --normalization K   ${list(NORMALIZATIONS)} after each hidden dense layer,
                      before its activation (default none)
  --dropout RATE      dropout of RATE in [0, 1) after each hidden activation (default none;
                      0.2 for mnist)
  --seed N            initial weights and shuffles (default 1)
  -h, --help          this text

Defaults per dataset:
${DATASET_NAMES.map((name) => {
  const d = DEFAULTS[name];
  return `  ${name.padEnd(11)} layers ${d.hidden.join(',')} ${d.activation}${d.dropout === undefined ? '' : `, dropout ${d.dropout}`}, ${d.optimizer} lr ${d.learningRate[d.optimizer]}, batch ${d.batchSize}, ${d.epochs} epochs`;
}).join('\n')}
  ${'--data'.padEnd(11)} layers ${DEFAULTS.table.hidden.join(',')} ${DEFAULTS.table.activation}, ${DEFAULTS.table.optimizer} lr ${DEFAULTS.table.learningRate.adam}, batch ${DEFAULTS.table.batchSize}, ${DEFAULTS.table.epochs} epochs`;

/** Parses the trainer's flags (without `node script`). Throws CliError naming the flag and value at fault. */
export function parseTrainArgs(argv: string[]): Command {
  // Non-strict with tokens: node's own strict-mode messages do not always name the flag, and they
  // refuse values that start with '-', which would hide "--lr -1" behind a confusing error.
  const { values, tokens } = parseArgs({ args: argv, options: FLAGS, strict: false, allowPositionals: true, tokens: true });
  for (const token of tokens) {
    if (token.kind === 'positional') throw new CliError(`unexpected argument ${JSON.stringify(token.value)}`);
    if (token.kind !== 'option') continue;
    if (!Object.hasOwn(FLAGS, token.name)) throw new CliError(`unknown flag ${token.rawName}`);
    const isString = FLAGS[token.name as keyof typeof FLAGS].type === 'string';
    if (isString && token.value === undefined) throw new CliError(`${token.rawName} needs a value`);
    if (!isString && token.value !== undefined) throw new CliError(`${token.rawName} takes no value`);
  }
  if (values.help) return { help: true };

  // After the checks above, every flag given is a string.
  const given = values as Partial<Record<keyof typeof FLAGS, string>>;
  if (given.data !== undefined && given.dataset !== undefined) throw new CliError('--data and --dataset exclude each other: train on a built-in dataset or on a file');
  for (const flag of ['target', 'task', 'validation-split'] as const) {
    if (given[flag] !== undefined && given.data === undefined) throw new CliError(`--${flag} needs --data`);
  }
  if (given.load !== undefined) {
    const onnx = isOnnxFile(given.load);
    const fixed = (onnx ? LAYER_FLAGS : NETWORK_FLAGS).find((flag) => given[flag] !== undefined);
    if (fixed) {
      throw new CliError(`--${fixed} cannot change a --load network: its layers${onnx ? ' come from the ONNX file' : ', optimizer, loss and seed come from the file'}`);
    }
  }
  const dataset = given.data !== undefined ? 'table' : read('--dataset', given.dataset, oneOf(DATASET_NAMES)) ?? 'mnist';
  const defaults = DEFAULTS[dataset];
  const optimizer = read('--optimizer', given.optimizer, oneOf(OPTIMIZERS)) ?? defaults.optimizer;
  const data = given.data === undefined ? undefined : {
    file: read('--data', given.data, fileName)!,
    target: read('--target', given.target, columnList),
    task: read('--task', given.task, oneOf(TASKS)),
    validationSplit: read('--validation-split', given['validation-split'], share) ?? 0.2,
  };
  return {
    help: false,
    config: {
      dataset,
      ...(data ? { data } : {}),
      save: read('--save', given.save, fileName),
      load: read('--load', given.load, fileName),
      onnx: read('--onnx', given.onnx, fileName),
      backend: read('--backend', given.backend, oneOf(BACKENDS)) ?? 'auto',
      // A loaded network may train no further: --epochs 0 only evaluates it.
      epochs: read('--epochs', given.epochs, given.load === undefined ? positiveInteger : count) ?? defaults.epochs,
      batchSize: read('--batch', given.batch, positiveInteger) ?? defaults.batchSize,
      hidden: read('--layers', given.layers, layerSizes) ?? defaults.hidden,
      activation: read('--activation', given.activation, oneOf(ACTIVATIONS)) ?? defaults.activation,
      optimizer,
      loss: read('--loss', given.loss, oneOf(LOSS_NAMES)),
      learningRate: read('--lr', given.lr, positiveNumber) ?? defaults.learningRate[optimizer],
      lrSchedule: read('--lr-schedule', given['lr-schedule'], lrSchedule),
      clipNorm: read('--clip-norm', given['clip-norm'], positiveNumber),
      normalization: read('--normalization', given.normalization, oneOf(NORMALIZATIONS)),
      dropout: read('--dropout', given.dropout, rate) ?? defaults.dropout,
      seed: read('--seed', given.seed, seed) ?? 1,
      threads: read('--threads', given.threads, positiveInteger),
      earlyStopping: read('--early-stopping', given['early-stopping'], count),
    },
  };
}

/** A parser returns the value, or what it expected when the text is not valid. */
type Parser<T> = (text: string) => { value: T } | { expected: string };

function read<T>(flag: string, text: string | undefined, parse: Parser<T>): T | undefined {
  if (text === undefined) return undefined;
  const result = parse(text);
  if ('expected' in result) throw new CliError(`${flag} must be ${result.expected}, got ${JSON.stringify(text)}`);
  return result.value;
}

function oneOf<T extends string>(names: readonly T[]): Parser<T> {
  return (text) => (names.includes(text as T) ? { value: text as T } : { expected: `one of ${list(names)}` });
}

// Strict patterns rather than Number() alone, which accepts '', ' 1', '0x1f' and 'Infinity'.
const INTEGER = /^\d+$/;
const DECIMAL = /^(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

const isPositiveInteger = (text: string) => INTEGER.test(text) && Number(text) > 0 && Number.isSafeInteger(Number(text));

const positiveInteger: Parser<number> = (text) =>
  isPositiveInteger(text) ? { value: Number(text) } : { expected: 'a positive integer' };

const count: Parser<number> = (text) =>
  text === '0' || isPositiveInteger(text) ? { value: Number(text) } : { expected: 'a non-negative integer' };

const share: Parser<number> = (text) =>
  DECIMAL.test(text) && Number(text) > 0 && Number(text) < 1 ? { value: Number(text) } : { expected: 'a number between 0 and 1' };

const fileName: Parser<string> = (text) => (text.trim() === '' ? { expected: 'a file name' } : { value: text });

const columnList: Parser<string[]> = (text) => {
  const names = text.split(',').map((name) => name.trim());
  return names.every((name) => name !== '') ? { value: names } : { expected: 'comma-separated column names or indices such as price or 3,4' };
};

const positiveNumber: Parser<number> = (text) =>
  DECIMAL.test(text) && Number(text) > 0 && Number.isFinite(Number(text)) ? { value: Number(text) } : { expected: 'a positive number' };

const lrSchedule: Parser<LrSchedule> = (text) => {
  const [type, ...parts] = text.split(':');
  const positive = (part: string | undefined) => part !== undefined && positiveNumber(part);
  const steps = (part: string | undefined) => part !== undefined && positiveInteger(part);
  const value = (parse: { value: number } | { expected: string } | false) => (parse && 'value' in parse ? parse.value : undefined);
  if (type === 'cosine' && (parts.length === 1 || parts.length === 2)) {
    const decaySteps = value(steps(parts[0]));
    const warmupSteps = parts.length === 2 ? value(count(parts[1]!)) : 0;
    if (decaySteps !== undefined && warmupSteps !== undefined) return { value: { type, decaySteps, warmupSteps } };
  }
  if (type === 'exponential' && parts.length === 2) {
    const decayRate = value(positive(parts[0]));
    const decaySteps = value(steps(parts[1]));
    if (decayRate !== undefined && decaySteps !== undefined) return { value: { type, decayRate, decaySteps } };
  }
  return { expected: 'cosine:DECAY_STEPS[:WARMUP_STEPS] or exponential:RATE:STEPS, with whole steps and a positive RATE, such as cosine:5000:500' };
};

const rate: Parser<number> = (text) =>
  DECIMAL.test(text) && Number(text) < 1 ? { value: Number(text) } : { expected: 'a number in [0, 1)' };

const seed: Parser<number> = (text) =>
  INTEGER.test(text) && Number(text) <= 0xffffffff ? { value: Number(text) } : { expected: 'an integer from 0 to 4294967295' };

const layerSizes: Parser<number[]> = (text) => {
  const parts = text.split(',');
  return parts.every(isPositiveInteger)
    ? { value: parts.map(Number) }
    : { expected: 'comma-separated positive integers such as 256,128' };
};
