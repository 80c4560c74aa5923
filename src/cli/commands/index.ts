import type { Command } from 'commander';
import { register as bench } from './bench.js';
import { register as table } from './table.js';
import { register as plot } from './plot.js';
import { register as fetchModel } from './download.js';
import { register as data } from './data.js';
import { register as info } from './info.js';
import { register as plan } from './plan.js';
import { register as protocols } from './protocols.js';
import { register as predict } from './predict.js';
import { register as quickstart } from './quickstart.js';
import { register as pretrain } from './pretrain.js';

/** Every `mpl` command: a function that adds itself to the program. Add one line per command file. */
export const commands: Array<(program: Command) => void> = [
  bench,
  table,
  plot,
  fetchModel,
  data,
  plan,
  protocols,
  predict,
  quickstart,
  pretrain,
  info,
];
