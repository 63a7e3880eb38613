import os from 'node:os';
import { createNetwork, DeviceError } from '../src/index.js';

/** What the figures were measured on: the WebGPU adapter (null where there is none) and the CPU. */
export interface Machine {
  adapter: { vendor: string; architecture: string; description: string } | null;
  cpu: string;
  cores: number;
}

/** The adapter as the webgpu backend reports it (a tiny network's deviceInfo), and the CPU. */
export async function describeMachine(): Promise<Machine> {
  let adapter: Machine['adapter'] = null;
  try {
    const net = await createNetwork({ inputSize: 1, layers: [{ type: 'dense', units: 1 }], backend: 'webgpu' });
    const { vendor = '', architecture = '', description = '' } = net.deviceInfo;
    adapter = { vendor, architecture, description };
    net.dispose();
  } catch (error) {
    if (!(error instanceof DeviceError)) throw error;
  }
  const cpus = os.cpus();
  return { adapter, cpu: cpus[0]?.model.trim() || 'unknown CPU', cores: cpus.length };
}

export function machineName({ adapter, cpu, cores }: Machine): string {
  const gpu = adapter ? `${adapter.vendor} ${adapter.architecture} (${adapter.description})` : 'no WebGPU adapter';
  return `${gpu} · ${cpu}, ${cores} cores`;
}

/** File-name form: adapter vendor and architecture, then the CPU model, e.g. google-swiftshader-intel-xeon-processor. */
export function machineSlug({ adapter, cpu }: Machine): string {
  const words = [adapter?.vendor, adapter?.architecture, cpu.replace(/\((r|tm)\)|\bcpu\b|@.*$/gi, '')].filter(Boolean).join(' ');
  return words.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60).replace(/-$/, '');
}
