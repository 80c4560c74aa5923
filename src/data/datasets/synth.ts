/**
 * `synthshapes`: the classification dataset of the synthetic world (src/synth), 12 shape classes, in
 * CoOp's layout. It is generated, not downloaded: `mpl data synth --root DIR` writes it (mpl quickstart
 * --offline does too).
 */
import * as path from 'node:path';
import { fileError } from '../../util/errors.js';
import { isFile, readSplitFile } from '../splits.js';
import type { DatasetDef } from './common.js';

/** The dataset's folder under --root, its image folder and its split file (src/synth/dataset.ts writes them). */
export const SYNTH_DIR = 'synthshapes';
export const SYNTH_SPLIT_FILE = 'split_synthshapes.json';
export const SYNTH_IMAGE_DIR = 'images';

export const synthshapes: DatasetDef = {
  name: 'synthshapes',
  displayName: 'SynthShapes',
  aliases: ['synth', 'synthetic_shapes'],
  template: 'a photo of a {}.',
  dirName: SYNTH_DIR,
  // in reports after the benchmarks; generated (mpl data synth), so no download spec
  reportName: 'SynthShapes',
  imageDir: SYNTH_IMAGE_DIR,
  splitFile: SYNTH_SPLIT_FILE,
  layout: `<root>/${SYNTH_DIR}/${SYNTH_IMAGE_DIR}/<shape>/*.png and <root>/${SYNTH_DIR}/${SYNTH_SPLIT_FILE} (made by: mpl data synth --root <root>)`,
  read(ctx, options) {
    const file = options.splitFile ? path.resolve(options.splitFile) : path.join(ctx.datasetDir, SYNTH_SPLIT_FILE);
    if (!isFile(file)) throw fileError(file, `not found; generate the dataset with: mpl data synth --root ${ctx.root}`);
    const split = readSplitFile(file);
    return { train: split.train, val: split.val, test: split.test, source: file, fromSplitFile: true };
  },
};
