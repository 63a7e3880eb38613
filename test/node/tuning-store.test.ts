import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);

// A child process creates one network and prints how each product's kernel variant was decided
// (layer 1's products, 2^20 multiply-adds, are large enough to be timed: TRIAL_MIN_WORK).
const SCRIPT = `
import { createNetwork } from './src/index.js';
const net = await createNetwork({ inputSize: 64, layers: [{ type: 'dense', units: 128 }, { type: 'relu' }, { type: 'dense', units: 8 }],
  loss: 'mse', optimizer: { type: 'sgd', learningRate: 0.1 }, batchSize: 128, backend: 'webgpu' });
await net.tuned();
console.log(JSON.stringify(net.deviceInfo.tuning.map((d) => [d.label, d.variant, d.source])));
net.dispose();
`;

describe('autotune decisions stored between processes', () => {
  let dir: string;
  let script: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tuning-'));
    // Inside the repository so that './src/index.js' resolves.
    script = path.resolve(`.tuning-probe-${process.pid}.ts`);
    await writeFile(script, SCRIPT);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await rm(script, { force: true });
  });

  const probe = async (env: Record<string, string>) => {
    const { stdout } = await run('npx', ['tsx', script], { encoding: 'utf8', env: { ...process.env, ...env } });
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as [string, string, string][];
  };

  it('times in the first process, reuses the stored winners in the next, and tunes again when the file is damaged', async () => {
    const file = path.join(dir, 'nested', 'autotune.json');
    const first = await probe({ WEBGPU_BACKPROP_TUNING: file });
    expect(first.some(([, , source]) => source === 'measured')).toBe(true);
    const stored = JSON.parse(await readFile(file, 'utf8')) as Record<string, string>;
    expect(Object.values(stored).sort()).toEqual(first.filter(([, , source]) => source === 'measured').map(([, variant]) => variant).sort());

    const second = await probe({ WEBGPU_BACKPROP_TUNING: file });
    expect(second.map(([label, variant]) => [label, variant])).toEqual(first.map(([label, variant]) => [label, variant]));
    expect(second.every(([, , source]) => source !== 'measured')).toBe(true);

    await writeFile(file, '{ not json');
    const third = await probe({ WEBGPU_BACKPROP_TUNING: file });
    expect(third.some(([, , source]) => source === 'measured')).toBe(true);
    // The same shape classes are stored again (the winners may differ: they are timed anew).
    expect(Object.keys(JSON.parse(await readFile(file, 'utf8')) as object).sort()).toEqual(Object.keys(stored).sort());
  });

  it('keeps decisions in memory only when told "off"', async () => {
    const result = await probe({ WEBGPU_BACKPROP_TUNING: 'off', XDG_CACHE_HOME: dir });
    expect(result.some(([, , source]) => source === 'measured')).toBe(true);
    await expect(readFile(path.join(dir, 'webgpu-backprop', 'autotune.json'), 'utf8')).rejects.toThrow(/ENOENT/);
  });
});
