/** Every PyTorch fixture (test/support/torch.ts) replayed on every backend. */
import { describe, it } from 'vitest';
import { replayTorchCase, TORCH_FIXTURES } from './support/torch.js';

const BACKENDS = ['reference', 'cpu', 'webgpu'] as const;

for (const [file, fixture] of Object.entries(TORCH_FIXTURES)) {
  describe(`PyTorch fixture ${file.split('/').pop()} (${fixture.source}, torch ${fixture.torch})`, () => {
    for (const backend of BACKENDS) {
      it.each(fixture.cases.map((c) => [c.name, c] as const))(`%s (${backend})`, async (_name, c) => {
        await replayTorchCase(c, backend);
      });
    }
  });
}
