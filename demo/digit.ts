import { MNIST_SIDE } from './mnist.js';

/**
 * Turns a drawing into an MNIST input the way the MNIST digits themselves were made: the ink's
 * bounding box is scaled, keeping its aspect ratio, to fit a 20×20 box (anti-aliased: every output
 * pixel is the mean of the source area it covers), and that box is placed in the 28×28 field so the
 * centre of mass of its ink falls on the field's centre. Intensities stay in [0, 1] (0 background,
 * 1 full ink), the scale the dataset loader gives the training digits. Null when there is no ink.
 */

const BOX = 20;
/**
 * Where MNIST puts the centre of mass: the middle of pixel 14 (14.5 with pixel i spanning [i, i + 1);
 * the training digits average 14.50 and 14.49), not the field's geometric centre 14.0.
 */
const CENTRE = 14.5;

/** `ink`: [height, width] row-major intensities in [0, 1]. */
export function preprocessDigit(ink: Float32Array, width: number, height: number): Float32Array | null {
  const box = inkBounds(ink, width, height);
  if (!box) return null;
  const scale = BOX / Math.max(box.width, box.height);
  const boxWidth = Math.max(1, Math.round(box.width * scale));
  const boxHeight = Math.max(1, Math.round(box.height * scale));
  const fitted = areaResample(ink, width, box, boxWidth, boxHeight);
  const centre = centreOfMass(fitted, boxWidth, boxHeight);
  const left = Math.round(CENTRE - centre.x);
  const top = Math.round(CENTRE - centre.y);
  const digit = new Float32Array(MNIST_SIDE * MNIST_SIDE);
  for (let y = 0; y < boxHeight; y++) {
    for (let x = 0; x < boxWidth; x++) {
      const tx = x + left;
      const ty = y + top;
      if (tx >= 0 && tx < MNIST_SIDE && ty >= 0 && ty < MNIST_SIDE) digit[ty * MNIST_SIDE + tx] = fitted[y * boxWidth + x];
    }
  }
  return digit;
}

interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

function inkBounds(ink: Float32Array, width: number, height: number): Box | null {
  let left = width, right = -1, top = height, bottom = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x] <= 0) continue;
      left = Math.min(left, x);
      right = Math.max(right, x);
      top = Math.min(top, y);
      bottom = Math.max(bottom, y);
    }
  }
  return right < 0 ? null : { left, top, width: right - left + 1, height: bottom - top + 1 };
}

/** Length of the overlap of [a0, a1) and [b0, b1). */
function overlap(a0: number, a1: number, b0: number, b1: number): number {
  return Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));
}

/** Shrinks (or grows) the box to [outHeight, outWidth], each output pixel the area-weighted mean of what it covers. */
function areaResample(ink: Float32Array, width: number, box: Box, outWidth: number, outHeight: number): Float32Array {
  const stepX = box.width / outWidth;
  const stepY = box.height / outHeight;
  const out = new Float32Array(outWidth * outHeight);
  for (let oy = 0; oy < outHeight; oy++) {
    const y0 = oy * stepY, y1 = y0 + stepY;
    for (let ox = 0; ox < outWidth; ox++) {
      const x0 = ox * stepX, x1 = x0 + stepX;
      let sum = 0;
      for (let sy = Math.floor(y0); sy < Math.ceil(y1); sy++) {
        const wy = overlap(sy, sy + 1, y0, y1);
        for (let sx = Math.floor(x0); sx < Math.ceil(x1); sx++) {
          sum += wy * overlap(sx, sx + 1, x0, x1) * ink[(box.top + sy) * width + box.left + sx];
        }
      }
      out[oy * outWidth + ox] = Math.min(1, sum / (stepX * stepY));
    }
  }
  return out;
}

/** Centre of mass in continuous coordinates (pixel i spans [i, i + 1)). */
function centreOfMass(image: Float32Array, width: number, height: number): { x: number; y: number } {
  let mass = 0, mx = 0, my = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const m = image[y * width + x];
      mass += m;
      mx += m * (x + 0.5);
      my += m * (y + 0.5);
    }
  }
  return { x: mx / mass, y: my / mass };
}
