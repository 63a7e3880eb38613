import { isProbe, LOADS_ONLY, type Results, type Row } from './results.js';
import { formatNumber } from './table.js';

/**
 * The GPU targets of the performance issue, checked against one run's rows: each line says what was
 * measured, the target, and whether it holds. Only targets whose rows the run has are listed.
 */
export function targetLines({ cases, arithmeticPeak }: Results): string[] {
  const row = (name: string, runner: string) => cases.find((r) => r.case === name && r.runner === runner && r.variant === undefined);
  const lines: string[] = [];
  const verdict = (met: boolean) => (met ? '**met**' : '**not met**');

  // Cases 1 and 2: our step against jax-js WebGPU (faster; aim 2×) and TF.js WebGPU (≥ 10×).
  for (const name of ['step-784-256-128-10-b256', 'step-784-1024-1024-10-b1024']) {
    const ours = row(name, 'webgpu');
    if (!ours) continue;
    const against = (runner: string, aim: number, label: string) => {
      const peer = row(name, runner);
      if (!peer) return;
      const ratio = peer.median / ours.median;
      // Short of a target: what the run says is left, where it has the step's matmuls timed alone.
      const why = ratio < aim && ours.matmulMs !== undefined
        ? `; our step is ${(ours.median / ours.matmulMs).toFixed(2)}× the sum of its matmuls timed alone, so only faster matmuls ` +
          'would close the gap, and their loads alone take most of their time (the matmul lines below)'
        : '';
      // A third decimal where two would round a miss up to the aim (1.997 is not 2).
      const shown = ratio.toFixed(ratio < aim && ratio.toFixed(2) === aim.toFixed(2) ? 3 : 2);
      lines.push(`- ${name}: ${label} takes ${shown}× our time (${formatNumber(peer.median)} against ${formatNumber(ours.median)} ms); ` +
        `target ≥ ${aim}× — ${verdict(ratio >= aim)}${ratio >= 1 && ratio < aim ? ' (faster, short of the aim)' : ''}${why}`);
    };
    against('jax-webgpu', 2, 'jax-js WebGPU');
    against('tfjs-webgpu', 10, 'TF.js WebGPU');
    if (ours.matmulMs !== undefined) {
      const share = ours.median / ours.matmulMs;
      lines.push(`- ${name}: the step is ${share.toFixed(2)}× the sum of its matmuls timed alone; target ≤ 1.5× — ${verdict(share <= 1.5)}`);
    }
  }

  // Case 3: the fixed cost of a step, against jax-js WebGPU's.
  const fixed = row('step-2-2-2-b1', 'webgpu');
  const jaxFixed = row('step-2-2-2-b1', 'jax-webgpu');
  if (fixed && jaxFixed) {
    lines.push(`- step-2-2-2-b1 (fixed cost): ${formatNumber(fixed.median)} ms against jax-js WebGPU's ${formatNumber(jaxFixed.median)} ms; ` +
      `target ≤ jax-js's — ${verdict(fixed.median <= jaxFixed.median)}`);
  }

  // Case 6: the cold start, against jax-js's first step and a fifth of TF.js's.
  const warm = (runner: string) => row('warmup-784-256-128-10-b256', runner);
  const ourWarm = warm('webgpu');
  if (ourWarm) {
    const jax = warm('jax-webgpu');
    const tf = warm('tfjs-webgpu');
    if (jax) lines.push(`- warm-up (autotune decisions known): ${formatNumber(ourWarm.median)} ms against jax-js WebGPU's ${formatNumber(jax.median)} ms; target ≤ jax-js's — ${verdict(ourWarm.median <= jax.median)}`);
    if (tf) lines.push(`- warm-up: against TF.js WebGPU's ${formatNumber(tf.median)} ms, ${(tf.median / ourWarm.median).toFixed(1)}× faster; target ≥ 5× — ${verdict(ourWarm.median * 5 <= tf.median)}`);
    const firstUse = cases.find((r) => r.case === ourWarm.case && r.runner === 'webgpu' && r.variant !== undefined);
    if (firstUse) {
      lines.push(`- warm-up on a machine's first use (no autotune decision known: the first step runs each product's first-guess variant, and the trials follow it): ${formatNumber(firstUse.median)} ms` +
        (jax ? `; target ≤ jax-js's — ${verdict(firstUse.median <= jax.median)}` : ''));
    }
  }

  // Case 4: the best WGSL variant per form, at its best size.
  const forms = [['ab', 'A·B'], ['abt', 'A·Bᵀ'], ['atb', 'Aᵀ·B']] as const;
  for (const [form, title] of forms) {
    const rows = cases.filter((r) => r.runner === 'webgpu' && r.case.startsWith(`matmul-${form}-`));
    const matmuls = rows.filter((r) => !isProbe(r));
    if (matmuls.length === 0) continue;
    const best = matmuls.reduce((a, b) => (b.median > a.median ? b : a));
    const ofPeak = arithmeticPeak ? `, ${(100 * best.median / arithmeticPeak).toFixed(0)}% of the adapter's arithmetic ceiling` : '';
    // The probe of the same kernel: its loads alone, at "GFLOP/s" of the product it does not compute.
    const probe = rows.find((r) => r.case === best.case && r.variant === `${best.variant} ${LOADS_ONLY}`);
    const loads = probe
      ? `; its loads alone (the same kernel without its multiply-adds) take ${(100 * best.median / probe.median).toFixed(0)}% of its time, ` +
        `so with these loads no arithmetic at all would reach ${probe.median.toFixed(2)} GFLOP/s`
      : '';
    lines.push(`- ${title}: best ${best.variant} at ${sizeOf(best)}³, ${best.median.toFixed(2)} GFLOP/s${ofPeak}${loads}; aim ≥ 5 GFLOP/s — ${verdict(best.median >= 5)}`);
  }
  if (lines.length === 0) return [];
  return ['', 'The GPU targets of the performance issue, from this run:', '', ...lines,
    ...(arithmeticPeak ? ['', `The adapter's arithmetic ceiling, measured in the same run just before and just after the matmul cells ` +
      `(the higher of the two): ${arithmeticPeak.toFixed(2)} GFLOP/s — vec4 multiply-adds in registers with no memory traffic ` +
      '(bench/runners/peak.ts). A matmul, which must also load its operands, cannot pass it on an idle machine; on a shared one the ' +
      'load changes between cells, so read the percentages as approximate.'] : [])];
}

const sizeOf = (row: Row) => row.case.split('-').at(-1);
