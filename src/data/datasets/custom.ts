/**
 * Custom datasets (what users ask for most after the benchmarks; MaPLe issue #38):
 * - `imagefolder`: `--root` is a folder with one sub-folder per class; optionally split into train/,
 *   val/ and test/ sub-folders that each hold the class folders.
 * - `jsonlist`: `--root` is a JSON file in the split-file format, paths relative to the file's folder.
 */
import * as path from 'node:path';
import { fileError } from '../../util/errors.js';
import { PyRandom } from '../pyrandom.js';
import { isDir, isFile, readSplitFile } from '../splits.js';
import type { SplitEntry } from '../types.js';
import { listImages, listSubdirs, readAndSplitData, type DatasetContext, type DatasetDef, type RawLists } from './common.js';

/** Folders we create inside a dataset folder; never class folders. */
const RESERVED = new Set(['split_fewshot']);

/** Default seed of the deterministic split of an imagefolder without train/val/test sub-folders. */
export const DEFAULT_SPLIT_SEED = 1;

/** Class name of a folder: underscores become spaces ("golden_retriever" → "golden retriever"). */
export function folderClassName(folder: string): string {
  return folder.replace(/_/g, ' ');
}

function classFolders(dir: string): string[] {
  return listSubdirs(dir, 'image folder').filter((d) => !RESERVED.has(d));
}

function listClass(dir: string): string[] {
  const images = listImages(dir);
  if (images.length === 0) {
    throw fileError(dir, 'class folder has no images (.jpg, .jpeg, .png, .webp, .gif, .tif, .tiff); remove it or add images');
  }
  return images;
}

export const imagefolder: DatasetDef = {
  name: 'imagefolder',
  displayName: 'ImageFolder',
  aliases: ['folder', 'image_folder'],
  template: 'a photo of a {}.',
  imageDir: '',
  layout:
    '<root>/<class>/*.jpg (one folder per class; split 50/20/30 per class, seeded), or ' +
    '<root>/train/<class>/*, <root>/test/<class>/* and optionally <root>/val/<class>/*',
  read(ctx: DatasetContext, options): RawLists {
    const root = ctx.imageDir;
    const trainDir = path.join(root, 'train');
    if (isDir(trainDir)) {
      const testDir = path.join(root, 'test');
      if (!isDir(testDir)) throw fileError(testDir, 'not found: a folder with train/ also needs test/ (val/ is optional)');
      const classes = classFolders(trainDir);
      if (classes.length === 0) throw fileError(trainDir, 'has no class sub-folders');
      const labelOf = new Map(classes.map((c, i) => [c, i]));
      const read = (split: string, required: boolean): SplitEntry[] => {
        const dir = path.join(root, split);
        if (!isDir(dir)) return [];
        const out: SplitEntry[] = [];
        const folders = split === 'train' ? classes : classFolders(dir);
        for (const folder of folders) {
          const label = labelOf.get(folder);
          if (label === undefined) throw fileError(path.join(dir, folder), `class folder is not in ${trainDir} (every class needs training images)`);
          const images = required ? listClass(path.join(dir, folder)) : listImages(path.join(dir, folder));
          for (const im of images) out.push({ relpath: `${split}/${folder}/${im}`, label, classname: folderClassName(folder) });
        }
        return out;
      };
      const train = read('train', true);
      const val = read('val', false);
      const test = read('test', false);
      if (test.length === 0) throw fileError(testDir, 'has no images');
      // Keep labels in class order within each list (they already are: folders are visited in order).
      return { train, val, test, source: `${root} (train/val/test folders)`, fromSplitFile: false };
    }
    const classes = classFolders(root);
    if (classes.length === 0) {
      throw fileError(root, `has no class sub-folders. Expected layout: ${imagefolder.layout}`);
    }
    for (const c of classes) listClass(path.join(root, c)); // empty class folder → error naming it
    const seed = options.splitSeed ?? DEFAULT_SPLIT_SEED;
    const newCnames = Object.fromEntries(classes.map((c) => [c, folderClassName(c)]));
    const split = readAndSplitData(root, new PyRandom(seed), { ignored: [...RESERVED], newCnames, allowEmptyVal: true });
    return { ...split, source: `${root} (class folders, 50/20/30 split with seed ${seed})`, fromSplitFile: false };
  },
};

export const jsonlist: DatasetDef = {
  name: 'jsonlist',
  displayName: 'JsonList',
  aliases: ['json', 'json_list', 'splitfile'],
  template: 'a photo of a {}.',
  imageDir: '',
  layout:
    '--root points to a JSON file {"train": [[path, label, classname], ...], "val": [...], "test": [...]} ' +
    '(val optional), paths relative to the JSON file\'s folder or absolute',
  read(ctx: DatasetContext): RawLists {
    const file = ctx.root;
    const split = readSplitFile(file, { allowMissingVal: true });
    return { train: split.train, val: split.val, test: split.test, source: file, fromSplitFile: true };
  },
};

/** jsonlist's context: `--root` is the file (or a folder holding split.json). */
export function jsonlistContext(root: string): { root: string; datasetDir: string; imageDir: string } {
  let file = path.resolve(root);
  if (isDir(file)) file = path.join(file, 'split.json');
  if (!isFile(file)) throw fileError(file, `split list not found. ${jsonlist.layout}`);
  const dir = path.dirname(file);
  return { root: file, datasetDir: dir, imageDir: dir };
}
