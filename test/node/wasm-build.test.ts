import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { GENERATED_PATH, generatedModule } from '../../scripts/build-wasm.js';

describe('the generated wasm module', () => {
  it('matches a fresh compile of src/cpu/wasm/asm/*.ts (run `npm run build:wasm` after editing it)', async () => {
    expect(await readFile(GENERATED_PATH, 'utf8')).toBe(await generatedModule());
  });
});
