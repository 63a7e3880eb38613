import { shuffleInto } from './random.js';

/** Row indices of a train/test split; both lists are in shuffled order. */
export interface SplitIndices {
  train: Uint32Array;
  test: Uint32Array;
}

/**
 * Stratified split: every class gives the test set its share of `testRows`, so a small test set still
 * has the class balance of the whole. Shares are rounded by largest remainder so they sum to exactly
 * `testRows`; which rows of a class go to test is decided by `random`, so a seed fixes the split.
 */
export function stratifiedSplit(labels: ArrayLike<number>, classCount: number, testRows: number, random: () => number): SplitIndices {
  if (!Number.isInteger(testRows) || testRows < 0 || testRows > labels.length) {
    throw new RangeError(`testRows must be an integer in [0, ${labels.length}], got ${testRows}`);
  }
  const byClass: number[][] = Array.from({ length: classCount }, () => []);
  for (let row = 0; row < labels.length; row++) byClass[labels[row]].push(row);

  const quotas = byClass.map((rows) => (rows.length * testRows) / labels.length);
  const shares = quotas.map(Math.floor);
  const leftover = testRows - shares.reduce((a, b) => a + b, 0);
  const byRemainder = quotas.map((q, c) => c).sort((a, b) => quotas[b] - shares[b] - (quotas[a] - shares[a]) || a - b);
  for (let i = 0; i < leftover; i++) shares[byRemainder[i]]++;

  const train: number[] = [];
  const test: number[] = [];
  byClass.forEach((rows, c) => {
    const order = shuffleInto(new Uint32Array(rows.length), random);
    order.forEach((k, i) => (i < shares[c] ? test : train).push(rows[k]));
  });
  // Interleave the classes: the lists above are grouped by class, which would make any
  // unshuffled pass over the data (or a look at its first rows) misleading.
  return { train: permute(train, random), test: permute(test, random) };
}

function permute(rows: number[], random: () => number): Uint32Array {
  const order = shuffleInto(new Uint32Array(rows.length), random);
  return order.map((k) => rows[k]);
}
