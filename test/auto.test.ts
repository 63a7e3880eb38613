import { describe, expect, it } from 'vitest';
import { autoDecision, probeVerdict, type AdapterFacts } from '../src/auto.js';

const adapter = (vendor: string, architecture: string, software: boolean, description = ''): AdapterFacts =>
  ({ vendor, architecture, description, software });

describe("backend: 'auto' (fake adapters, no timing)", () => {
  it('takes the CPU where there is no adapter', () => {
    expect(autoDecision(null)).toEqual({ backend: 'cpu', reason: 'auto: no WebGPU adapter here, so the CPU backend' });
  });

  it.each([
    [adapter('google', 'swiftshader', true), 'google swiftshader'],
    [adapter('mesa', 'llvmpipe', true), 'mesa llvmpipe'],
    [adapter('microsoft', '', true, 'Microsoft Basic Render Driver (WARP)'), 'microsoft'],
    [adapter('', '', true, 'a fallback adapter'), 'a fallback adapter'],
  ])('takes the CPU on a software or fallback adapter (%#)', (facts, name) => {
    expect(autoDecision(facts)).toEqual({ backend: 'cpu', reason: `auto: the WebGPU adapter (${name}) is a software emulation, so the CPU backend` });
  });

  it.each([[adapter('nvidia', 'ampere', false)], [adapter('apple', 'metal-3', false)], [adapter('intel', 'gen-12lp', false)]])(
    'probes both devices on a hardware adapter (%#)', (facts) => {
      expect(autoDecision(facts)).toEqual({ backend: 'probe', adapter: `${facts.vendor} ${facts.architecture}` });
    });

  it('keeps the faster device after the probe, ties going to WebGPU', () => {
    expect(probeVerdict('nvidia ampere', 2, 9)).toEqual({ backend: 'webgpu',
      reason: 'auto: hardware WebGPU adapter (nvidia ampere), faster on this network (one step 2.0 ms on WebGPU, 9.0 ms on the CPU)' });
    expect(probeVerdict('intel gen-9', 12.5, 3.25)).toEqual({ backend: 'cpu',
      reason: 'auto: hardware WebGPU adapter (intel gen-9), but the CPU is faster on this network (one step 12.5 ms on WebGPU, 3.3 ms on the CPU)' });
    expect(probeVerdict('amd rdna-3', 4, 4).backend).toBe('webgpu');
  });
});
