// Trains the wasm CPU backend inside a dedicated worker, whose own workers share its memory.
import { createNetwork, type NetworkSpec } from '../../src/index.js';
import { randomArray } from '../support/kernel-runner.js';

self.onmessage = async (event: MessageEvent<{ spec: NetworkSpec }>) => {
  try {
    const net = await createNetwork(event.data.spec);
    const x = randomArray(64 * 48, 1);
    const y = randomArray(64 * 4, 2).map((v) => (v > 0 ? 1 : 0));
    const { loss } = await net.fit(x, y, { epochs: 3 });
    const weights = (await net.getWeights()).flatMap((l) => Object.values(l).flatMap((v: Float32Array) => [...v]));
    postMessage({ info: net.deviceInfo, loss, weights });
    net.dispose();
  } catch (error) {
    postMessage({ error: (error as Error).message });
  }
};
