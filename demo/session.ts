import type { FromWorker, LoadRequest, RunRequest, SaveFormat, ToWorker, TrainingEvent } from './protocol.js';

/**
 * The page's handle on one training worker: start a run (or load a model file) in it, pause and
 * resume it, ask the network it holds for predictions or its model file, and end it (which frees
 * its network and GPU resources).
 */
export class TrainingSession {
  private readonly worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  private readonly pending = new Map<number, { resolve: (result: Float32Array | Uint8Array) => void; reject: (error: Error) => void }>();
  private nextId = 0;

  constructor(job: RunRequest | LoadRequest, onEvent: (event: TrainingEvent) => void) {
    this.worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const message = event.data;
      if (message.type === 'reply' || message.type === 'replyFailed') {
        const request = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.type === 'reply') request?.resolve(message.result);
        else request?.reject(new Error(message.message));
      } else {
        onEvent(message);
      }
    };
    this.worker.onerror = (event) => onEvent({ type: 'error', message: event.message || 'the training worker failed to start' });
    this.send('model' in job ? { type: 'load', request: job } : { type: 'start', run: job });
  }

  private send(message: ToWorker): void {
    this.worker.postMessage(message);
  }

  private request<T extends Float32Array | Uint8Array>(message: (id: number) => ToWorker): Promise<T> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (result: Float32Array | Uint8Array) => void, reject });
      this.send(message(id));
    });
  }

  pause(): void {
    this.send({ type: 'pause' });
  }

  resume(): void {
    this.send({ type: 'resume' });
  }

  /** Outputs of the worker's network for the rows of x (softmax applied for softmax cross-entropy). */
  predict(x: Float32Array): Promise<Float32Array> {
    return this.request((id) => ({ type: 'predict', id, x }));
  }

  /** The network's model file (net.save()) or ONNX model (net.toOnnx()), weights as they are now. */
  save(format: SaveFormat): Promise<Uint8Array> {
    return this.request((id) => ({ type: 'save', id, format }));
  }

  end(): void {
    this.worker.terminate();
    this.pending.forEach(({ reject }) => reject(new Error('the training session was ended')));
    this.pending.clear();
  }
}
