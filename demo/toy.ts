import { mulberry32 } from '../src/data/random.js';

/**
 * Two-class toy sets in the plane, as in TensorFlow Playground: points in about [-1, 1]², targets
 * one-hot over two outputs (so every loss, softmax cross-entropy included, applies). Seeded, so the
 * page and the training worker build the same points.
 */

export type ToyName = 'xor' | 'circles' | 'spiral';

export interface LabelledSet {
  /** [rows, 2] */
  x: Float32Array;
  /** [rows, 2], one-hot */
  y: Float32Array;
  rows: number;
}

const TRAIN_ROWS = 400;
const TEST_ROWS = 200;
/** The heat map covers [-EXTENT, EXTENT]² so points near the edge are not drawn on the border. */
export const BOUNDARY_EXTENT = 1.25;

/** A point and its class (0 or 1) for row `i` of `rows`. */
type Sampler = (i: number, rows: number, random: () => number) => [number, number, number];

/** Roughly normal noise (sum of uniforms), cheap and seeded. */
function noise(random: () => number, spread: number): number {
  return (random() + random() + random() - 1.5) * spread;
}

const SAMPLERS: Record<ToyName, Sampler> = {
  // Quadrants: class 1 where x and y have opposite signs; points kept off the axes a little.
  xor: (_i, _rows, random) => {
    const away = (v: number) => (v < 0 ? v - 0.05 : v + 0.05);
    const x = away(random() * 1.9 - 0.95);
    const y = away(random() * 1.9 - 0.95);
    return [x + noise(random, 0.05), y + noise(random, 0.05), x * y < 0 ? 1 : 0];
  },
  // Class 1 inside radius 0.45, class 0 in a ring from 0.65 to 1.
  circles: (i, _rows, random) => {
    const inside = i % 2 === 0;
    const radius = inside ? random() * 0.45 : 0.65 + random() * 0.35;
    const angle = random() * 2 * Math.PI;
    return [radius * Math.cos(angle) + noise(random, 0.05), radius * Math.sin(angle) + noise(random, 0.05), inside ? 1 : 0];
  },
  // Two interleaved arms of 1.5 turns each, the second the first turned by half a turn.
  spiral: (i, rows, random) => {
    const label = i % 2;
    const t = (Math.floor(i / 2) / Math.ceil(rows / 2)) * 0.95 + 0.05;
    const angle = t * 3 * Math.PI + label * Math.PI;
    return [t * Math.cos(angle) + noise(random, 0.04), t * Math.sin(angle) + noise(random, 0.04), label];
  },
};

function sample(name: ToyName, rows: number, random: () => number): LabelledSet {
  const x = new Float32Array(rows * 2);
  const y = new Float32Array(rows * 2);
  for (let i = 0; i < rows; i++) {
    const [px, py, label] = SAMPLERS[name](i, rows, random);
    x[i * 2] = px;
    x[i * 2 + 1] = py;
    y[i * 2 + label] = 1;
  }
  return { x, y, rows };
}

export function toySplit(name: ToyName, seed: number): { train: LabelledSet; test: LabelledSet } {
  const random = mulberry32(seed);
  return { train: sample(name, TRAIN_ROWS, random), test: sample(name, TEST_ROWS, random) };
}

/** Cell centres of a resolution × resolution grid over the heat map, row by row from the top: [cells, 2]. */
export function boundaryGrid(resolution: number): Float32Array {
  const grid = new Float32Array(resolution * resolution * 2);
  const cell = (2 * BOUNDARY_EXTENT) / resolution;
  for (let row = 0; row < resolution; row++) {
    for (let col = 0; col < resolution; col++) {
      const i = row * resolution + col;
      grid[i * 2] = -BOUNDARY_EXTENT + (col + 0.5) * cell;
      grid[i * 2 + 1] = BOUNDARY_EXTENT - (row + 0.5) * cell;
    }
  }
  return grid;
}
