import { createNetwork, type BackendChoice } from '../src/index.js';
import { mulberry32 } from '../src/data/random.js';

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const log = byId<HTMLPreElement>('log');
const device = byId<HTMLOutputElement>('device');
const chart = byId<HTMLCanvasElement>('chart');
const button = byId<HTMLButtonElement>('train');

/** Points inside radius 0.5 are class 1, outside are class 0, with a little noise. */
function circles(rows: number, seed: number) {
  const random = mulberry32(seed);
  const x = new Float32Array(rows * 2);
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const inside = r % 2 === 0;
    const radius = inside ? random() * 0.45 : 0.55 + random() * 0.45;
    const angle = random() * 2 * Math.PI;
    x[r * 2] = radius * Math.cos(angle) + (random() - 0.5) * 0.05;
    x[r * 2 + 1] = radius * Math.sin(angle) + (random() - 0.5) * 0.05;
    y[r] = inside ? 1 : 0;
  }
  return { x, y };
}

function plot(losses: number[]): void {
  const context = chart.getContext('2d')!;
  const { width, height } = chart;
  context.clearRect(0, 0, width, height);
  const top = Math.max(...losses);
  context.beginPath();
  losses.forEach((loss, i) => {
    const px = (i / Math.max(1, losses.length - 1)) * (width - 20) + 10;
    const py = height - 10 - (loss / top) * (height - 20);
    if (i === 0) context.moveTo(px, py);
    else context.lineTo(px, py);
  });
  context.strokeStyle = '#3355cc';
  context.lineWidth = 2;
  context.stroke();
}

async function train(): Promise<void> {
  button.disabled = true;
  log.textContent = '';
  try {
    const net = await createNetwork({
      inputSize: 2,
      layers: [{ type: 'dense', units: 16 }, { type: 'tanh' }, { type: 'dense', units: 1 }, { type: 'sigmoid' }],
      loss: 'mse',
      optimizer: { type: 'adam', learningRate: 0.02 },
      batchSize: 64,
      seed: 1,
      backend: byId<HTMLSelectElement>('backend').value as BackendChoice,
    });
    const info = net.deviceInfo;
    device.textContent = `Backend: ${net.backend}${info.vendor ? ` — ${info.vendor} ${info.architecture ?? ''}` : ''} (${info.reason})`;
    const train = circles(512, 1);
    const test = circles(256, 2);
    const losses: number[] = [];
    await net.fit(train.x, train.y, {
      epochs: 60,
      onEpochEnd: ({ epoch, loss }) => {
        losses.push(loss);
        plot(losses);
        if (epoch % 10 === 9) log.textContent += `epoch ${epoch + 1}: loss ${loss.toFixed(4)}\n`;
      },
    });
    const { accuracy } = await net.evaluate(test.x, test.y);
    log.textContent += `test accuracy ${(accuracy * 100).toFixed(1)}%\n`;
    net.dispose();
  } catch (error) {
    log.textContent += `Error: ${(error as Error).message}\n`;
  } finally {
    button.disabled = false;
  }
}

button.addEventListener('click', () => void train());
