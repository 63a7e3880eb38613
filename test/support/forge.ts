/**
 * Builds model files by hand from the format described in src/io/model-file.ts, with a correct
 * checksum, so tests can hand the loader files that are well-formed on the outside and wrong inside.
 * The CRC-32 here is written independently of the engine's (bitwise, no table).
 */
export const MAGIC = [0x89, 0x57, 0x47, 0x42, 0x50, 0x0d, 0x0a, 0x1a];

export function crc32(bytes: Uint8Array, end = bytes.length): number {
  let crc = ~0;
  for (let i = 0; i < end; i++) {
    crc ^= bytes[i]!;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}

/** Rewrites the last four bytes as the CRC-32 of everything before them. */
export function resign(file: Uint8Array): Uint8Array {
  const copy = file.slice();
  new DataView(copy.buffer).setUint32(copy.length - 4, crc32(copy, copy.length - 4), true);
  return copy;
}

export interface Forge {
  header: unknown;
  floats: ArrayLike<number>;
  version?: number;
  /** Raw header text instead of JSON.stringify(header). */
  headerText?: string;
}

export function forge({ header, floats, version = 1, headerText }: Forge): Uint8Array {
  const text = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const start = Math.ceil((16 + text.length) / 4) * 4;
  const bytes = new Uint8Array(start + floats.length * 4 + 4);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, 0);
  view.setUint32(8, version, true);
  view.setUint32(12, text.length, true);
  bytes.set(text, 16);
  for (let i = 0; i < floats.length; i++) view.setFloat32(start + 4 * i, floats[i]!, true);
  return resign(bytes);
}

/** The header and floats of a file, for editing and re-forging. */
export function dissect(file: Uint8Array): { header: Record<string, unknown>; floats: Float32Array } {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const size = view.getUint32(12, true);
  const header = JSON.parse(new TextDecoder().decode(file.subarray(16, 16 + size))) as Record<string, unknown>;
  const start = Math.ceil((16 + size) / 4) * 4;
  const floats = new Float32Array((file.length - 4 - start) / 4);
  for (let i = 0; i < floats.length; i++) floats[i] = view.getFloat32(start + 4 * i, true);
  return { header, floats };
}
