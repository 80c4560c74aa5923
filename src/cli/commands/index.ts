import type { Command } from 'commander';
import { register as bench } from './bench.js';
import { register as table } from './table.js';
import { register as plot } from './plot.js';

/** Every `mpl` command: a function that adds itself to the program. Add one line per command file. */
export const commands: Array<(program: Command) => void> = [
  bench,
  table,
  plot,
];
