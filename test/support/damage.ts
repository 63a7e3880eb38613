/**
 * Damage to any file's bytes for fuzzing file readers (fast-check): up to four bit flips, a cut, an
 * insertion of up to 16 bytes. The model file's, the ONNX reader's and the safetensors reader's fuzz
 * tests all draw from it.
 */
import fc from 'fast-check';

export const byteDamage = [
  fc.array(fc.record({ at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }), { minLength: 1, maxLength: 4 }).map((flips) => (f: Uint8Array) => {
    const copy = f.slice();
    for (const { at, bit } of flips) copy[at % copy.length] ^= 1 << bit;
    return copy;
  }),
  fc.nat().map((n) => (f: Uint8Array) => f.slice(0, n % f.length)),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([at, bytes]) => (f: Uint8Array) => {
    const i = at % f.length;
    return Uint8Array.from([...f.subarray(0, i), ...bytes, ...f.subarray(i)]);
  }),
];
