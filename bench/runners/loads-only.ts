/**
 * The loads-only probe, made from a vec4 matmul kernel's WGSL: every multiply-add of its k loop,
 * `acc{i}_{c} += <expression of the loaded values>;`, becomes one add of two of the values the
 * expression reads, A's row value and one of the B values (the i-th mod their count), so the sum
 * over the accumulators still uses every value loaded and the compiler keeps every load. The
 * kernel's addressing, loop and stores stay as they are: its time is what the variant's memory
 * traffic costs alone. A benchmark instrument only; nothing that trains uses it.
 */
const ACCUMULATE = /^(\s*)acc(\d+)_(\d+) \+= (.+);$/gm;

export function loadsOnlySource(source: string): string {
  let rewritten = 0;
  const probe = source.replace(ACCUMULATE, (_line, indent: string, row: string, group: string, expression: string) => {
    const names = [...new Set(expression.match(/\b[ab]\d+(?:_\d+)?\b/g) ?? [])];
    const a = names.find((name) => name.startsWith('a'));
    const bs = names.filter((name) => name.startsWith('b'));
    if (!a || bs.length === 0) throw new Error(`loadsOnlySource: cannot read the loaded values of "${expression}"`);
    rewritten++;
    return `${indent}acc${row}_${group} += ${a} + ${bs[Number(row) % bs.length]};`;
  });
  if (rewritten === 0) throw new Error('loadsOnlySource: the kernel has no vec4 accumulation to replace');
  return probe;
}
