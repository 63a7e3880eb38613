import { createNetwork, type GpuMatrix, type NetworkSpec } from '../src/index.js';
import { isSoftwareAdapter } from './gpu.js';

/**
 * The "neural image" panel: a coordinate network, (x, y) → frequencyEncoding → 64 × 4 → rgb, learns
 * a picture while it renders what it has learned, with nothing read back per frame. Each frame is one
 * command encoder and one submit on the app's own device: a compute pass that draws a batch of random
 * pixels of the picture on the GPU (coordinates and colours, straight into the network's input
 * buffers), `encodeTrainBatch` on that batch, `encodePredict` over every pixel into a buffer of the
 * app's, and a render pass that paints that buffer onto the canvas. The PSNR is read about once a
 * second (at most every 8 frames), from a copy of the prediction made in one of those frames.
 */

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** The picture's side in pixels: every pixel is a row of one predict, so side² rows fill one batch. */
export const SIDE = { hardware: 128, software: 64 } as const;
/** Octaves of the encoding: sin and cos of 2^k·π·x for k < 8 on each coordinate, 32 features. */
const OCTAVES = 8;
/** The PSNR is read about once a second, and never more often than every PSNR_MIN_FRAMES frames (slow software adapters). */
const PSNR_EVERY_MS = 1000;
const PSNR_MIN_FRAMES = 8;

/**
 * The network: the picture's pixels are its batch (the training batches are random pixels, as many),
 * so one predict covers the canvas.
 */
export function neuralImageSpec(side: number, device: GPUDevice): NetworkSpec {
  return {
    inputSize: 2,
    layers: [
      { type: 'frequencyEncoding', octaves: OCTAVES },
      ...Array.from({ length: 4 }, () => [{ type: 'dense', units: 64 }, { type: 'relu' }] as const).flat(),
      { type: 'dense', units: 3 },
      { type: 'sigmoid' },
    ],
    loss: 'mse',
    optimizer: { type: 'adam', learningRate: 0.01 },
    batchSize: side * side,
    seed: 7,
    backend: 'webgpu',
    device,
  };
}

/**
 * The bundled picture, drawn in code (so the page needs no image file): a sky gradient, a sun, hills
 * and a line of text, side × side, as [side², 3] floats in [0, 1], row-major from the top left.
 */
export function drawPicture(side: number): { rgb: Float32Array; image: ImageData } {
  const canvas = new OffscreenCanvas(side, side);
  const g = canvas.getContext('2d')!;
  const sky = g.createLinearGradient(0, 0, 0, side);
  sky.addColorStop(0, '#1e3a8a');
  sky.addColorStop(0.6, '#f59e0b');
  g.fillStyle = sky;
  g.fillRect(0, 0, side, side);
  g.fillStyle = '#fde68a';
  g.beginPath();
  g.arc(side * 0.7, side * 0.38, side * 0.14, 0, 2 * Math.PI);
  g.fill();
  g.fillStyle = '#166534';
  g.beginPath();
  g.moveTo(0, side * 0.75);
  g.quadraticCurveTo(side * 0.3, side * 0.5, side * 0.6, side * 0.72);
  g.quadraticCurveTo(side * 0.85, side * 0.85, side, side * 0.66);
  g.lineTo(side, side);
  g.lineTo(0, side);
  g.fill();
  g.fillStyle = '#ffffff';
  g.font = `bold ${Math.round(side * 0.16)}px sans-serif`;
  g.fillText('WGSL', side * 0.08, side * 0.22);
  const image = g.getImageData(0, 0, side, side);
  const rgb = new Float32Array(side * side * 3);
  for (let p = 0; p < side * side; p++) for (let c = 0; c < 3; c++) rgb[3 * p + c] = image.data[4 * p + c]! / 255;
  return { rgb, image };
}

/** PSNR in dB of a prediction against the picture, both [pixels, 3] in [0, 1] (the prediction clamped). */
export function psnr(predicted: Float32Array, target: Float32Array): number {
  let squares = 0;
  for (let i = 0; i < target.length; i++) squares += (Math.min(1, Math.max(0, predicted[i]!)) - target[i]!) ** 2;
  return 10 * Math.log10(1 / Math.max(squares / target.length, 1e-12));
}

/**
 * Draws `rows` random pixels of the picture: row i of x is the pixel's centre in [-1, 1]², row i of
 * y its colour. The pixels come from a PCG hash of (frame seed, row), so every frame draws afresh.
 */
const SAMPLE_WGSL = /* wgsl */ `
struct Sampling { side: u32, rows: u32, seed: u32, pad: u32 }
@group(0) @binding(0) var<uniform> sampling: Sampling;
@group(0) @binding(1) var<storage, read> picture: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let row = id.x;
  if (row >= sampling.rows) { return; }
  let h = pcg(row ^ pcg(sampling.seed));
  let pixel = h % (sampling.side * sampling.side);
  let px = pixel % sampling.side;
  let py = pixel / sampling.side;
  let scale = 2.0 / f32(sampling.side);
  x[2u * row] = (f32(px) + 0.5) * scale - 1.0;
  x[2u * row + 1u] = 1.0 - (f32(py) + 0.5) * scale;
  for (var c = 0u; c < 3u; c++) { y[3u * row + c] = picture[3u * pixel + c]; }
}`;

/** A full-canvas triangle whose fragments read their pixel's colour from the prediction buffer. */
const RENDER_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read> predicted: array<f32>;
@group(0) @binding(1) var<uniform> side: vec4u;

@vertex
fn vertex(@builtin(vertex_index) i: u32) -> @builtin(position) vec4f {
  let corner = vec2f(f32((i << 1u) & 2u), f32(i & 2u));
  return vec4f(corner * 2.0 - 1.0, 0.0, 1.0);
}

@fragment
fn fragment(@builtin(position) at: vec4f) -> @location(0) vec4f {
  let canvas = f32(side.y);
  let px = min(u32(at.x * f32(side.x) / canvas), side.x - 1u);
  let py = min(u32(at.y * f32(side.x) / canvas), side.x - 1u);
  let p = 3u * (py * side.x + px);
  return vec4f(clamp(vec3f(predicted[p], predicted[p + 1u], predicted[p + 2u]), vec3f(0.0), vec3f(1.0)), 1.0);
}`;

type PanelState = 'idle' | 'starting' | 'running' | 'stopped' | 'error';

export class NeuralImagePanel {
  private readonly button = byId<HTMLButtonElement>('neural-start');
  private readonly section = byId<HTMLElement>('neural-image');
  private readonly canvas = byId<HTMLCanvasElement>('neural-output');
  private readonly target = byId<HTMLCanvasElement>('neural-target');
  private readonly status = byId<HTMLParagraphElement>('neural-status');
  private readonly stepsOut = byId('neural-steps');
  private readonly rateOut = byId('neural-rate');
  private readonly psnrOut = byId('neural-psnr');
  private running = false;
  private run: Promise<void> | undefined;

  constructor() {
    this.button.addEventListener('click', () => {
      if (this.running) this.running = false;
      else this.run = this.start().catch((error: Error) => this.fail(error));
    });
  }

  disable(reason: string): void {
    this.button.disabled = true;
    this.status.textContent = reason;
  }

  private setState(state: PanelState, text: string): void {
    this.section.dataset.state = state;
    this.status.textContent = text;
  }

  private fail(error: Error): void {
    this.running = false;
    this.button.textContent = 'Start';
    this.setState('error', `Stopped: ${error.message}`);
  }

  private async start(): Promise<void> {
    await this.run;
    this.setState('starting', 'Compiling the network…');
    const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new Error('no WebGPU adapter');
    const side = isSoftwareAdapter(adapter) ? SIDE.software : SIDE.hardware;
    // The features the engine uses where the adapter has them (subgroup sharing, timed autotune trials).
    const requiredFeatures = (['subgroups', 'timestamp-query'] as GPUFeatureName[]).filter((feature) => adapter.features.has(feature));
    const device = await adapter.requestDevice({ requiredFeatures });
    const rows = side * side;
    const { rgb, image } = drawPicture(side);
    this.target.width = this.target.height = side;
    this.target.getContext('2d')!.putImageData(image, 0, 0);

    const net = await createNetwork(neuralImageSpec(side, device));
    // The autotune's trials (and their one read) before the first frame, so the frames run the final kernels.
    await net.tuned();
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    const buffer = (floats: number, label: string) => device.createBuffer({ size: floats * 4, usage: storage, label });
    const picture = buffer(rows * 3, 'picture [pixels, 3]');
    device.queue.writeBuffer(picture, 0, rgb);
    const batchX = buffer(rows * 2, 'batch x [rows, 2]');
    const batchY = buffer(rows * 3, 'batch y [rows, 3]');
    const predicted = buffer(rows * 3, 'predicted [pixels, 3]');
    const staging = device.createBuffer({ size: rows * 3 * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'PSNR readback' });
    // Every pixel's centre, in the sampler's coordinates: the input of each frame's predict.
    const grid = buffer(rows * 2, 'pixel grid [pixels, 2]');
    device.queue.writeBuffer(grid, 0, Float32Array.from({ length: rows * 2 }, (_, i) => {
      const [p, axis] = [i >> 1, i & 1];
      const at = ((axis === 0 ? p % side : Math.floor(p / side)) + 0.5) * (2 / side) - 1;
      return axis === 0 ? at : -at;
    }));
    const sampling = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'sampling' });
    const sampler = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: SAMPLE_WGSL }), entryPoint: 'main' } });
    const sampleGroup = device.createBindGroup({
      layout: sampler.getBindGroupLayout(0),
      entries: [sampling, picture, batchX, batchY].map((resource, binding) => ({ binding, resource: { buffer: resource } })),
    });

    const context = this.canvas.getContext('webgpu')!;
    const format = navigator.gpu.getPreferredCanvasFormat();
    context.configure({ device, format, alphaMode: 'opaque' });
    const module = device.createShaderModule({ code: RENDER_WGSL });
    const painter = device.createRenderPipeline({
      layout: 'auto', vertex: { module, entryPoint: 'vertex' }, fragment: { module, entryPoint: 'fragment', targets: [{ format }] },
    });
    const sideUniform = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'render side' });
    device.queue.writeBuffer(sideUniform, 0, Uint32Array.of(side, this.canvas.width, 0, 0));
    const paintGroup = device.createBindGroup({
      layout: painter.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: predicted } }, { binding: 1, resource: { buffer: sideUniform } }],
    });

    const x: GpuMatrix = { buffer: batchX, rows };
    const y: GpuMatrix = { buffer: batchY, rows };
    const pixels: GpuMatrix = { buffer: grid, rows };
    const into: GpuMatrix = { buffer: predicted, rows };
    this.running = true;
    this.button.textContent = 'Stop';
    this.setState('running', `Learning a ${side} × ${side} picture from ${rows.toLocaleString()} random pixels per step…`);
    let steps = 0;
    let reading = false;
    let reads = 0;
    let lastRead = performance.now();
    let lastReadStep = 0;
    const started = performance.now();
    try {
      while (this.running) {
        await new Promise((resolve) => requestAnimationFrame(resolve));
        device.queue.writeBuffer(sampling, 0, Uint32Array.of(side, rows, steps + 1, 0));
        const encoder = device.createCommandEncoder({ label: 'neural image frame' });
        const pass = encoder.beginComputePass();
        pass.setPipeline(sampler);
        pass.setBindGroup(0, sampleGroup);
        pass.dispatchWorkgroups(Math.ceil(rows / 64));
        pass.end();
        await net.encodeTrainBatch(encoder, x, y);
        await net.encodePredict(encoder, pixels, into);
        const paint = encoder.beginRenderPass({
          colorAttachments: [{ view: context.getCurrentTexture().createView(), loadOp: 'clear', storeOp: 'store', clearValue: [0, 0, 0, 1] }],
        });
        paint.setPipeline(painter);
        paint.setBindGroup(0, paintGroup);
        paint.draw(3);
        paint.end();
        // About once a second, this frame's prediction is copied out for the PSNR; no other frame reads.
        const read = !reading && performance.now() - lastRead >= PSNR_EVERY_MS && steps - lastReadStep >= PSNR_MIN_FRAMES;
        if (read) encoder.copyBufferToBuffer(predicted, 0, staging, 0, rows * 3 * 4);
        device.queue.submit([encoder.finish()]);
        steps += 1;
        if (read) {
          const readAt = steps;
          lastReadStep = steps;
          reading = true;
          lastRead = performance.now();
          void staging.mapAsync(GPUMapMode.READ).then(() => {
            const value = psnr(new Float32Array(staging.getMappedRange()), rgb);
            staging.unmap();
            reading = false;
            this.psnrOut.textContent = `${value.toFixed(2)} dB`;
            this.psnrOut.dataset.value = String(value);
            this.psnrOut.dataset.steps = String(readAt);
            this.psnrOut.dataset.reads = String(++reads);
          }, () => undefined); // Stopped (the device destroyed) while the read was pending: nothing to show.
        }
        this.stepsOut.textContent = steps.toLocaleString();
        this.stepsOut.dataset.value = String(steps);
        this.rateOut.textContent = (steps / ((performance.now() - started) / 1000)).toFixed(1);
      }
      this.setState('stopped', `Stopped after ${steps.toLocaleString()} steps.`);
    } finally {
      this.running = false;
      this.button.textContent = 'Start';
      await device.queue.onSubmittedWorkDone();
      net.dispose();
      device.destroy();
    }
  }
}
