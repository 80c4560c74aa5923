/**
 * The official output layout: where the official MPL / MaPLe scripts put a run, so that their
 * parse_test_res.py calls, shell loops and spreadsheets find this tool's runs where they look
 * (Zhenhan-Huang/Modular-Prompt-Learning, scripts/mpl/*.sh):
 *
 *   base2new  output/base2new/train_base/<dataset>/shots_<k>/<TRAINER>/<cfg>/seed<N>/   training log, checkpoint
 *             output/base2new/test_new/<dataset>/shots_<k>/<TRAINER>/<cfg>/seed<N>/     the new-class test log
 *   xd, dg    output/crossdataset/<source>/<TRAINER>/<cfg>_<k>shots/seed<N>/            training log, checkpoint
 *             output/crossdataset/evaluation/<target>/<TRAINER>/<cfg>_<k>shots/seed<N>/ one test log per target
 *   fewshot   output/<dataset>/<TRAINER>/<cfg>_<k>shots/seed<N>/                       (CoOp's layout)
 *
 * <TRAINER> is the official trainer name (MPL, MaPLe, CoOp, ...), <cfg> this tool's readable tag (the official
 * config file name has no counterpart here), <dataset> the official config file's name (eurosat, imagenetv2).
 * A training log is the run's own log.txt (it ends with `Finished training` and Dassl's result block); a test
 * log is what `train.py --eval-only` prints: Dassl's `=> result` block of that evaluation, read back from the
 * run's log (parse_test_res.py --test-log reads it).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { methodDef, type MethodName } from '../prompting/methods/index.js';
import { UserError } from '../util/errors.js';
import { ensureDir, writeFileAtomic } from '../util/fs.js';
import type { RunResult } from './results.js';
import { runTag, runConfigFields } from './run-config.js';

/** Official config file names where they differ from this tool's dataset names (configs/datasets/*.yaml). */
const OFFICIAL_DATASET_NAMES: Record<string, string> = { imagenet_v2: 'imagenetv2' };

export const officialDatasetName = (name: string): string => OFFICIAL_DATASET_NAMES[name] ?? name;

/** One folder of the official layout: where, and which evaluation of the run's log its test log holds. */
export interface OfficialFolder {
  dir: string;
  /** the training folder (log.txt as the run wrote it, the Dassl checkpoint) or an evaluation-only folder */
  kind: 'train' | 'test';
  /** test folders: the keyword of the evaluation in the run's log.txt ('new', a target's name) */
  keyword?: string;
}

/** Where the official scripts would have put this run, under `out`. */
export function officialFolders(out: string, r: RunResult): OfficialFolder[] {
  const c = runConfigFields(r.config);
  const trainer = methodDef(c.method as MethodName).display.name;
  const cfg = runTag(c);
  const seed = `seed${c.seed}`;
  const dataset = officialDatasetName(c.dataset);
  switch (c.protocol) {
    case 'base2new': {
      const common = [dataset, `shots_${c.shots}`, trainer, cfg, seed];
      return [
        { dir: path.join(out, 'base2new', 'train_base', ...common), kind: 'train' },
        { dir: path.join(out, 'base2new', 'test_new', ...common), kind: 'test', keyword: 'new' },
      ];
    }
    case 'xd':
    case 'dg':
      return [
        { dir: path.join(out, 'crossdataset', dataset, trainer, `${cfg}_${c.shots}shots`, seed), kind: 'train' },
        ...(c.targets ?? []).map((t): OfficialFolder => ({ dir: path.join(out, 'crossdataset', 'evaluation', officialDatasetName(t), trainer, `${cfg}_${c.shots}shots`, seed), kind: 'test', keyword: t })),
      ];
    case 'fewshot':
      return [{ dir: path.join(out, dataset, trainer, `${cfg}_${c.shots}shots`, seed), kind: 'train' }];
    default:
      throw new UserError(`${c.protocol} runs have no official output layout (zero-shot CLIP has nothing to export)`);
  }
}

const BLOCK_KEYS = ['total', 'correct', 'accuracy', 'error', 'macro_f1'];

/**
 * The `=> result` block of one evaluation in a run's log.txt (`keyword` '' for the first, Dassl's own), the
 * last one when the log holds several (a resumed run), with Dassl's keywords. Null when the log has none (a
 * run written before the logs carried the block).
 */
export function resultBlockOf(log: string, keyword: string): string[] | null {
  const want = BLOCK_KEYS.map((k) => `* ${keyword ? `${keyword}_` : ''}${k}: `);
  const lines = log.split('\n');
  let found: string[] | null = null;
  for (let i = 0; i + BLOCK_KEYS.length < lines.length; i++) {
    if (!lines[i].startsWith('=> result')) continue;
    const block = lines.slice(i + 1, i + 1 + BLOCK_KEYS.length);
    if (block.every((l, j) => l.startsWith(want[j]))) found = ['=> result', ...block.map((l, j) => `* ${BLOCK_KEYS[j]}: ${l.slice(want[j].length)}`)];
  }
  return found;
}

/**
 * Writes the official layout of one run (its folder `runDir`) under `out`; `writeCheckpoint(dir)` puts the
 * Dassl checkpoint into the training folder. Returns the folders written.
 */
export function writeOfficialLayout(runDir: string, r: RunResult, out: string, writeCheckpoint: (dir: string) => void): string[] {
  const logFile = path.join(runDir, 'log.txt');
  const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
  const written: string[] = [];
  for (const f of officialFolders(out, r)) {
    if (f.kind === 'train') {
      if (!resultBlockOf(log, '')) throw new UserError(`${logFile}: no Dassl result block (a run from an older version): run it again with --force to write one`);
      ensureDir(f.dir);
      writeFileAtomic(path.join(f.dir, 'log.txt'), log);
      writeCheckpoint(f.dir);
    } else {
      const block = resultBlockOf(log, f.keyword!);
      if (!block) throw new UserError(`${logFile}: no result block for ${f.keyword} (a run from an older version): run it again with --force to write one`);
      ensureDir(f.dir);
      writeFileAtomic(path.join(f.dir, 'log.txt'), [`exported by mpl from ${runDir} (its ${f.keyword} evaluation, as train.py --eval-only prints it)`, 'Do evaluation on test set', ...block, ''].join('\n'));
    }
    written.push(f.dir);
  }
  return written;
}
