import { BOUNDARY_EXTENT, type LabelledSet } from './toy.js';

/**
 * The decision-boundary heat map of a two-class toy set: every grid cell coloured by how strongly the
 * network prefers one class (orange for class 0, blue for class 1, white where it is undecided),
 * with the training points on top.
 */

const CLASS_COLOURS: [number, number, number][] = [[245, 147, 34], [8, 119, 189]];

function toCanvas(value: number, size: number): number {
  return ((value + BOUNDARY_EXTENT) / (2 * BOUNDARY_EXTENT)) * size;
}

export function drawBoundary(canvas: HTMLCanvasElement, outputs: Float32Array | undefined, resolution: number, points: LabelledSet): void {
  const context = canvas.getContext('2d')!;
  const size = canvas.width;
  context.fillStyle = '#fff';
  context.fillRect(0, 0, size, size);
  if (outputs) {
    const cells = new ImageData(resolution, resolution);
    const width = outputs.length / (resolution * resolution);
    for (let i = 0; i < resolution * resolution; i++) {
      // Preference for class 1 in [-1, 1]: the difference of the two outputs (probabilities under
      // softmax; sigmoid, tanh or linear outputs with MSE are clamped to the same range).
      const preference = Math.max(-1, Math.min(1, outputs[i * width + 1] - outputs[i * width]));
      const colour = CLASS_COLOURS[preference > 0 ? 1 : 0];
      const strength = Math.abs(preference) * 0.75;
      for (let c = 0; c < 3; c++) cells.data[i * 4 + c] = Math.round(255 + (colour[c] - 255) * strength);
      cells.data[i * 4 + 3] = 255;
    }
    const small = new OffscreenCanvas(resolution, resolution);
    small.getContext('2d')!.putImageData(cells, 0, 0);
    context.imageSmoothingEnabled = true;
    context.drawImage(small, 0, 0, size, size);
  }
  for (let i = 0; i < points.rows; i++) {
    const label = points.y[i * 2 + 1] > 0.5 ? 1 : 0;
    context.beginPath();
    context.arc(toCanvas(points.x[i * 2], size), size - toCanvas(points.x[i * 2 + 1], size), 3, 0, 2 * Math.PI);
    context.fillStyle = `rgb(${CLASS_COLOURS[label].join(',')})`;
    context.fill();
    context.strokeStyle = '#fff';
    context.lineWidth = 1;
    context.stroke();
  }
}
