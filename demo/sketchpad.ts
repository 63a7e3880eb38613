import { preprocessDigit } from './digit.js';
import { MNIST_SIDE } from './mnist.js';
import type { TrainedModel } from './train-panel.js';

/**
 * Draw-a-digit: white ink on a black canvas (MNIST's polarity), turned into a 28×28 input as MNIST
 * digits were made (digit.ts) and sent to the trained model; its ten probabilities are shown as
 * bars, updated while the user draws. At most one prediction is in flight; strokes made meanwhile
 * are folded into the next one.
 */

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
/** About the stroke width of an MNIST digit once the drawing is scaled into its 20×20 box. */
const INK_WIDTH = 22;

export class Sketchpad {
  private readonly canvas = byId<HTMLCanvasElement>('sketch');
  private readonly context = this.canvas.getContext('2d', { willReadFrequently: true })!;
  private readonly preview = byId<HTMLCanvasElement>('digit-preview');
  private readonly status = byId<HTMLParagraphElement>('digit-status');
  private readonly bars = byId<HTMLOListElement>('probabilities');
  private model: TrainedModel | undefined;
  private last: { x: number; y: number } | undefined;
  private inFlight = false;
  private stale = false;

  constructor() {
    this.clear();
    this.bars.replaceChildren(...Array.from({ length: 10 }, (_, digit) => {
      const item = document.createElement('li');
      item.innerHTML = `<span class="digit-label">${digit}</span><span class="bar"><span class="fill"></span></span><span class="value">–</span>`;
      return item;
    }));
    this.canvas.addEventListener('pointerdown', (event) => {
      this.canvas.setPointerCapture(event.pointerId);
      this.last = this.point(event);
      this.stroke(this.last);
    });
    this.canvas.addEventListener('pointermove', (event) => {
      if (this.last) this.stroke(this.point(event));
    });
    const lift = () => (this.last = undefined);
    this.canvas.addEventListener('pointerup', lift);
    this.canvas.addEventListener('pointercancel', lift);
    byId('clear-sketch').addEventListener('click', () => this.clear());
  }

  /** The model to ask: the Train section's, while it is an MNIST model. */
  setModel(model: TrainedModel | undefined): void {
    this.model = model;
    this.status.textContent = model
      ? `Draw a digit: the network trained above (${model.summary}) gives its probabilities as you draw.`
      : 'Train a network on MNIST above (one epoch is enough), then draw a digit here.';
    this.schedule();
  }

  private point(event: PointerEvent): { x: number; y: number } {
    const box = this.canvas.getBoundingClientRect();
    return { x: ((event.clientX - box.left) / box.width) * this.canvas.width, y: ((event.clientY - box.top) / box.height) * this.canvas.height };
  }

  private stroke(to: { x: number; y: number }): void {
    const from = this.last ?? to;
    this.context.beginPath();
    this.context.moveTo(from.x, from.y);
    this.context.lineTo(to.x, to.y);
    this.context.stroke();
    this.last = to;
    this.schedule();
  }

  private clear(): void {
    Object.assign(this.context, { fillStyle: '#000', strokeStyle: '#fff', lineWidth: INK_WIDTH, lineCap: 'round', lineJoin: 'round' });
    this.context.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.preview.getContext('2d')!.clearRect(0, 0, MNIST_SIDE, MNIST_SIDE);
    this.showProbabilities(undefined);
  }

  /** The drawing as ink intensities in [0, 1]: the red channel of white-on-black. */
  private ink(): Float32Array {
    const { data, width, height } = this.context.getImageData(0, 0, this.canvas.width, this.canvas.height);
    return Float32Array.from({ length: width * height }, (_, i) => data[i * 4] / 255);
  }

  private schedule(): void {
    this.stale = true;
    if (!this.inFlight) void this.predict();
  }

  private async predict(): Promise<void> {
    this.inFlight = true;
    while (this.stale) {
      this.stale = false;
      const digit = preprocessDigit(this.ink(), this.canvas.width, this.canvas.height);
      this.drawPreview(digit);
      if (!digit || !this.model) {
        this.showProbabilities(undefined);
        continue;
      }
      try {
        this.showProbabilities(await this.model.session.predict(digit));
      } catch (error) {
        this.status.textContent = `Could not classify the drawing: ${(error as Error).message}`;
      }
    }
    this.inFlight = false;
  }

  private drawPreview(digit: Float32Array | null): void {
    const pixels = new ImageData(MNIST_SIDE, MNIST_SIDE);
    digit?.forEach((v, i) => {
      pixels.data.fill(Math.round(v * 255), i * 4, i * 4 + 3);
      pixels.data[i * 4 + 3] = 255;
    });
    this.preview.getContext('2d')!.putImageData(pixels, 0, 0);
  }

  private showProbabilities(probabilities: Float32Array | undefined): void {
    const best = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : -1;
    [...this.bars.children].forEach((item, digit) => {
      const p = probabilities?.[digit];
      const element = item as HTMLElement;
      element.classList.toggle('best', digit === best);
      element.querySelector<HTMLElement>('.fill')!.style.width = `${(p ?? 0) * 100}%`;
      element.querySelector('.value')!.textContent = p === undefined ? '–' : `${(p * 100).toFixed(1)}%`;
      if (p === undefined) delete element.dataset.probability;
      else element.dataset.probability = String(p);
      element.setAttribute('aria-label', `${digit}: ${p === undefined ? 'no prediction' : `${(p * 100).toFixed(1)}%`}`);
    });
    if (probabilities) this.bars.dataset.predicted = String(best);
    else delete this.bars.dataset.predicted;
  }
}
