import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { preprocessDigit } from '../../demo/digit.js';
import { decodeMnist, MNIST_SIDE, splitMnist } from '../../demo/mnist.js';
import { loadDataset } from '../../src/data/datasets.js';
import { buildMnistAsset } from '../../scripts/build-mnist.js';

const SIDE = MNIST_SIDE;

/** Bit-for-bit equality of two float arrays (a deep toEqual over millions of elements is very slow). */
const sameBits = (a: Float32Array, b: Float32Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

function centreOfMass(image: Float32Array): { x: number; y: number; mass: number } {
  let mass = 0, x = 0, y = 0;
  image.forEach((v, i) => {
    mass += v;
    x += v * ((i % SIDE) + 0.5);
    y += v * (Math.floor(i / SIDE) + 0.5);
  });
  return { x: x / mass, y: y / mass, mass };
}

function inkBox(image: Float32Array): { width: number; height: number } {
  const xs: number[] = [], ys: number[] = [];
  image.forEach((v, i) => v > 0 && (xs.push(i % SIDE), ys.push(Math.floor(i / SIDE))));
  return { width: Math.max(...xs) - Math.min(...xs) + 1, height: Math.max(...ys) - Math.min(...ys) + 1 };
}

describe('the MNIST asset', () => {
  it('gives the page exactly the digits, split and order the Node loader gives the CLI', () => {
    const digits = decodeMnist(new Uint8Array(gunzipSync(readFileSync(buildMnistAsset()))));
    expect(digits.rows).toBe(10_000);
    const page = splitMnist(digits, 1);
    const cli = loadDataset('mnist-small', { seed: 1 });
    expect(page.train.rows).toBe(cli.train.rows);
    expect(page.test.rows).toBe(cli.test.rows);
    for (const split of ['train', 'test'] as const) {
      for (const part of ['x', 'y'] as const) expect(sameBits(page[split][part], cli[split][part]), `${split}.${part}`).toBe(true);
    }
  }, 30_000);

  it('refuses bytes that are not the asset', () => {
    expect(() => decodeMnist(new Uint8Array(64))).toThrow(/bad header/);
  });
});

describe('preprocessDigit (MNIST-style centring of a drawing)', () => {
  const canvas = (width: number, height: number, ink: (x: number, y: number) => number) =>
    Float32Array.from({ length: width * height }, (_, i) => ink(i % width, Math.floor(i / width)));

  it('is null for an empty drawing', () => {
    expect(preprocessDigit(new Float32Array(280 * 280), 280, 280)).toBeNull();
  });

  it('fits the ink into 20×20 keeping its aspect ratio, keeps its mean intensity, and centres its mass', () => {
    // A solid 100 × 50 bar drawn off-centre, near the top-left corner.
    const drawing = canvas(280, 280, (x, y) => (x >= 10 && x < 110 && y >= 30 && y < 80 ? 1 : 0));
    const digit = preprocessDigit(drawing, 280, 280)!;
    expect(inkBox(digit)).toEqual({ width: 20, height: 10 });
    const { x, y, mass } = centreOfMass(digit);
    expect(mass).toBeCloseTo(200, 3);
    expect(Math.abs(x - 14.5)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(y - 14.5)).toBeLessThanOrEqual(0.5);
    digit.forEach((v) => expect(v >= 0 && v <= 1).toBe(true));
  });

  it('anti-aliases: a thin stroke becomes grey, not lost', () => {
    // A 200-pixel-tall line 4 pixels wide: a tenth of the scale, so 0.4 of one output pixel's width.
    const drawing = canvas(280, 280, (x, y) => (x >= 138 && x < 142 && y >= 40 && y < 240 ? 1 : 0));
    const digit = preprocessDigit(drawing, 280, 280)!;
    expect(inkBox(digit)).toEqual({ width: 1, height: 20 });
    expect(centreOfMass(digit).mass).toBeCloseTo(20, 3);
  });

  it('gives back an MNIST digit drawn ten times larger', () => {
    const { test } = loadDataset('mnist-small', { seed: 1 });
    for (let row = 0; row < 20; row++) {
      const original = test.x.subarray(row * SIDE * SIDE, (row + 1) * SIDE * SIDE);
      const enlarged = canvas(280, 280, (x, y) => original[Math.floor(y / 10) * SIDE + Math.floor(x / 10)]);
      const digit = preprocessDigit(enlarged, 280, 280)!;
      // Up to the rounding of the whole-pixel shift, the same digit in the same place.
      let dot = 0, a = 0, b = 0;
      original.forEach((v, i) => ((dot += v * digit[i]), (a += v * v), (b += digit[i] * digit[i])));
      expect(dot / Math.sqrt(a * b)).toBeGreaterThan(0.95);
    }
  }, 30_000);
});
