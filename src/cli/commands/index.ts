import type { Command } from 'commander';
import { register as bench } from './bench.js';
import { register as table } from './table.js';
import { register as plot } from './plot.js';
import { register as fetchModel } from './download.js';
import { register as data } from './data.js';
import { register as info } from './info.js';
import { register as env } from './env.js';
import { register as plan } from './plan.js';
import { register as protocols } from './protocols.js';
import { register as predict } from './predict.js';
import { register as quickstart } from './quickstart.js';
import { register as evaluate } from './eval.js';
import { register as exportDassl } from './export.js';
import { register as models } from './models.js';
import { register as report } from './report.js';
import { register as sweep } from './sweep.js';
import { register as reproduce } from './reproduce.js';
import { register as search } from './search.js';
import { register as pretrain } from './pretrain.js';
import { register as importPackage } from './packages.js';
import { register as serve } from './serve.js';

/** Every `mpl` command: a function that adds itself to the program. Add one line per command file. */
export const commands: Array<(program: Command) => void> = [
  bench,
  table,
  plot,
  report,
  fetchModel,
  models,
  data,
  plan,
  protocols,
  predict,
  evaluate,
  exportDassl,
  importPackage,
  serve,
  quickstart,
  pretrain,
  info,
  env,
  sweep,
  reproduce,
  search,
];
