import { describe, expect, it } from 'vitest';
import { CliError, parseTrainArgs } from '../../src/cli/args.js';

describe('npm run train --threads', () => {
  it('passes a thread count to the CPU backend, default every core', () => {
    const command = parseTrainArgs(['--threads', '2']);
    expect(command.help === false && command.config.threads).toBe(2);
    const fallback = parseTrainArgs([]);
    expect(fallback.help === false && fallback.config.threads).toBeUndefined();
  });

  it.each(['0', '1.5', 'all', ''])('refuses --threads %j', (value) => {
    expect(() => parseTrainArgs(['--threads', value])).toThrow(CliError);
  });
});
