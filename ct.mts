import { createNetwork } from './src/index.js';
for (const [fusedMlp, units] of [['never', 128], ['auto', 128], ['auto', 64]] as const) {
  const t = performance.now();
  const net = await createNetwork({ inputSize: 64, layers: [{ type: 'dense', units }, { type: 'relu' }, { type: 'dense', units: 8 }], backend: 'webgpu', fusedMlp, batchSize: 32 });
  console.log(fusedMlp, units, (performance.now() - t).toFixed(0), 'ms', net.deviceInfo.fusedMlp?.reason);
  net.dispose();
}
process.exit(0);
