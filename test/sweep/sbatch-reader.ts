/**
 * How sbatch reads an `#SBATCH` line, for the tests of the SLURM job script (slurm-script.test.ts) and its
 * fuzzing (test/fuzz/files.test.ts). (No tests here.)
 */
import assert from 'node:assert/strict';

/**
 * The arguments sbatch takes from one `#SBATCH` line, read as Slurm 22.05 does (src/sbatch/opt.c,
 * `_get_argument`): `\` escapes the next character, '…' and "…" quote (spaces and # inside are literal),
 * an unquoted # starts a comment, whitespace separates arguments.
 */
export function sbatchArguments(line: string): string[] {
  const args: string[] = [];
  let i = line.indexOf('#SBATCH') + '#SBATCH'.length;
  for (;;) {
    while (i < line.length && /\s/.test(line[i])) i++;
    if (i >= line.length || line[i] === '#') return args;
    let arg = '';
    let quote = '';
    let escaped = false;
    for (; i < line.length && (quote || !/\s/.test(line[i])); i++) {
      const ch = line[i];
      if (escaped) escaped = false;
      else if (ch === '\\') {
        escaped = true;
        continue;
      } else if (quote) {
        if (ch === quote) {
          quote = '';
          continue;
        }
      } else if (ch === '"' || ch === "'") {
        quote = ch;
        continue;
      } else if (ch === '#') break;
      arg += ch;
    }
    assert.equal(quote, '', `unmatched quote in ${line}`);
    args.push(arg);
    if (line[i] === '#') return args;
  }
}

