import type { FromWorker, RunRequest, ToWorker, TrainingEvent } from './protocol.js';

/**
 * The page's handle on one training worker: start it, pause and resume it, ask the model it holds
 * for predictions, and end it (which frees its network and GPU device).
 */
export class TrainingSession {
  private readonly worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  private readonly pending = new Map<number, { resolve: (probabilities: Float32Array) => void; reject: (error: Error) => void }>();
  private nextId = 0;

  constructor(run: RunRequest, onMessage: (event: TrainingEvent) => void) {
    this.worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const message = event.data;
      if (message.type === 'prediction' || message.type === 'predictionFailed') {
        const request = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.type === 'prediction') request?.resolve(message.probabilities);
        else request?.reject(new Error(message.message));
      } else {
        onMessage(message);
      }
    };
    this.worker.onerror = (event) => onMessage({ type: 'error', message: event.message || 'the training worker failed to start', deviceLost: false });
    this.send({ type: 'start', run });
  }

  private send(message: ToWorker, transfer: Transferable[] = []): void {
    this.worker.postMessage(message, transfer);
  }

  pause(): void {
    this.send({ type: 'pause' });
  }

  resume(): void {
    this.send({ type: 'resume' });
  }

  /** Outputs of the worker's network for the rows of x (softmax applied for softmax cross-entropy). */
  predict(x: Float32Array): Promise<Float32Array> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.send({ type: 'predict', id, x });
    });
  }

  end(): void {
    this.worker.terminate();
    this.pending.forEach(({ reject }) => reject(new Error('the training session was ended')));
    this.pending.clear();
  }
}
