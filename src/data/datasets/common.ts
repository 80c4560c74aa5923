import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError, fileError } from '../../util/errors.js';
import type { Reporter } from '../../util/reporter.js';
import { pyRound, type PyRandom } from '../pyrandom.js';
import { isDir, isFile, readSplitFile, type SplitFile } from '../splits.js';
import type { SplitEntry, SplitLists } from '../types.js';
import type { DatasetDownload } from './sources.js';

/** Where CoOp's official split files can be downloaded (shown whenever one is missing). */
export const SPLIT_SOURCES =
  'CoOp\'s DATASETS.md (Google Drive links: https://github.com/KaiyangZhou/CoOp/blob/main/DATASETS.md) ' +
  'or the mirror https://huggingface.co/datasets/zhengli97/prompt_learning_dataset';

/** File extensions treated as images when listing folders (what sharp decodes). */
export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff']);

export interface DatasetContext {
  /** The `--root` folder as given. */
  root: string;
  /** The dataset's own folder (`<root>/<dirName>`, or root itself). */
  datasetDir: string;
  /** The folder split paths are relative to. */
  imageDir: string;
  reporter: Reporter;
}

export interface ReadOptions {
  /** An explicit split file to use instead of `<datasetDir>/split_zhou_<Name>.json`. */
  splitFile?: string;
  /** Use `split_mpl_generated_<Name>.json` when the official split file is absent. */
  allowGeneratedSplit?: boolean;
  /** Seed for the deterministic split of an `imagefolder` without train/val/test folders. */
  splitSeed?: number;
}

/** The lists a dataset reader returns, paths relative to `imageDir`. */
export interface RawLists extends SplitLists<SplitEntry> {
  /** For messages and the few-shot cache: the split file, or a description of the listing. */
  source: string;
  /** The lists came from a split file (so their image files must be checked to exist). */
  fromSplitFile: boolean;
  /** Set when the split is one we generated, not the official one. */
  generated?: boolean;
}

/**
 * Everything about one dataset, registered once (src/data/datasets/index.ts): its names, how it is read,
 * its zero-shot template, how it is downloaded and how reports name it.
 */
export interface DatasetDef {
  /** Canonical CLI name, e.g. `eurosat`. */
  name: string;
  /** Dassl's DATASET.NAME / CoOp class name, e.g. `EuroSAT`. */
  displayName: string;
  /** Other accepted spellings (compared after lower-casing and removing punctuation). */
  aliases: string[];
  /** Zero-shot template (CoOp `CUSTOM_TEMPLATES`). */
  template: string;
  /** ZeroshotCLIP2's template ensemble adds the dataset's own template (default true; not for ImageNet). */
  ensembleAddsTemplate?: boolean;
  /** Folder under `--root`; undefined when `--root` is the dataset itself (custom datasets). */
  dirName?: string;
  /** The name the papers' tables give it (Flowers102, DTD); only the benchmarks have one. */
  reportName?: string;
  /** How `mpl data download` fetches and lays it out (./sources.ts); none for custom datasets. */
  download?: DatasetDownload;
  /** Image folder relative to the dataset folder ('' for the dataset folder itself). */
  imageDir: string;
  /** Official split file name, for split-file datasets. */
  splitFile?: string;
  /** No train/val lists (ImageNet variants). */
  testOnly?: boolean;
  /** ImageNet: few-shot sampling draws train only (val is the test set). */
  fewshotTrainOnly?: boolean;
  /** The expected on-disk layout, one short paragraph (used in errors and docs). */
  layout: string;
  /** Reads the lists. */
  read(ctx: DatasetContext, options: ReadOptions): RawLists;
  /** CoOp's own procedure for making the split when the official file is missing (seeded). */
  generateSplit?(ctx: DatasetContext, seed: number): SplitLists<SplitEntry>;
  /** One line describing the generation rule (stored in the generated file). */
  generateRule?: string;
}

/** Name of the split file we write when asked to generate one: clearly not the official file. */
export function generatedSplitName(displayName: string): string {
  return `split_mpl_generated_${displayName}.json`;
}

/** Non-hidden entries of a folder, sorted (Python's `sorted` on str: by code point). */
export function listNoHidden(dir: string, what: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw fileError(dir, `${what} not found`);
    if (code === 'ENOTDIR') throw fileError(dir, `${what} is not a folder`);
    throw fileError(dir, `cannot list ${what} (${(e as Error).message})`);
  }
  return sortPy(names.filter((n) => !n.startsWith('.')));
}

const SURROGATE = /[\uD800-\uDFFF]/;

/**
 * Sorts names in place in Python's `sorted` order. Without astral characters (surrogate pairs) JavaScript's
 * default order (UTF-16 code units) is the same and several times faster, which matters for ImageNet's
 * 1,300 files per folder.
 */
export function sortPy(names: string[]): string[] {
  return names.some((n) => SURROGATE.test(n)) ? names.sort(comparePy) : names.sort();
}

/** String order of Python's sort (code points); differs from JS only for astral characters. */
export function comparePy(a: string, b: string): number {
  const aa = Array.from(a);
  const bb = Array.from(b);
  const n = Math.min(aa.length, bb.length);
  for (let i = 0; i < n; i++) {
    const d = aa[i].codePointAt(0)! - bb[i].codePointAt(0)!;
    if (d !== 0) return d;
  }
  return aa.length - bb.length;
}

/** Sub-folders of `dir`, sorted. */
export function listSubdirs(dir: string, what: string): string[] {
  return listNoHidden(dir, what).filter((n) => isDir(path.join(dir, n)));
}

/**
 * Image files of a class folder, sorted. CoOp lists them in file-system order (`os.listdir`), which
 * differs between machines; sorting makes generated splits and folder datasets reproducible.
 */
export function listImages(dir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw fileError(dir, 'image folder not found');
    if (code === 'ENOTDIR') throw fileError(dir, 'image folder is not a folder');
    throw fileError(dir, `cannot list image folder (${(e as Error).message})`);
  }
  // Dirent types avoid one stat per file (ImageNet has 1.28M); symlinks are followed with a stat.
  return sortPy(
    entries
      .filter(
        (d) =>
          !d.name.startsWith('.') &&
          IMAGE_EXTENSIONS.has(path.extname(d.name).toLowerCase()) &&
          (d.isFile() || (d.isSymbolicLink() && isFile(path.join(dir, d.name)))),
      )
      .map((d) => d.name),
  );
}

/** Lines of a text file (trimmed, empty lines dropped); the error names the file. */
export function readLines(file: string, what: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw fileError(file, `${what} not found`);
    throw fileError(file, `cannot read ${what} (${(e as Error).message})`);
  }
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

/**
 * Finds the dataset folder: `<root>/<dirName>` (CoOp's layout, `--root` = $DATA), or `root` itself if
 * it already is the dataset folder (it holds the image folder or the split file).
 */
export function resolveDatasetDir(def: DatasetDef, root: string): string {
  const absRoot = path.resolve(root);
  if (!isDir(absRoot)) throw fileError(absRoot, 'data root folder not found (--root)');
  if (def.dirName === undefined) return absRoot;
  const candidate = path.join(absRoot, def.dirName);
  if (isDir(candidate)) return candidate;
  const looksLikeDataset =
    path.basename(absRoot) === def.dirName ||
    (def.imageDir !== '' && isDir(path.join(absRoot, def.imageDir))) ||
    (def.splitFile !== undefined && isFile(path.join(absRoot, def.splitFile)));
  if (looksLikeDataset) return absRoot;
  throw fileError(candidate, `${def.displayName} folder not found. Expected layout: ${def.layout}`);
}

export function makeContext(def: DatasetDef, root: string, reporter: Reporter): DatasetContext {
  const datasetDir = resolveDatasetDir(def, root);
  return { root: path.resolve(root), datasetDir, imageDir: path.join(datasetDir, def.imageDir), reporter };
}

/**
 * Reads a split-file dataset: an explicit `splitFile`, else the official `split_zhou_<Name>.json`,
 * else (only with `allowGeneratedSplit`) our generated one. A missing split says where to get it.
 */
export function readSplitDataset(def: DatasetDef, ctx: DatasetContext, options: ReadOptions): RawLists {
  let file: string;
  let split: SplitFile;
  if (options.splitFile) {
    file = path.resolve(options.splitFile);
    split = readSplitFile(file);
  } else {
    const official = path.join(ctx.datasetDir, def.splitFile!);
    const generated = path.join(ctx.datasetDir, generatedSplitName(def.displayName));
    if (isFile(official)) {
      file = official;
    } else if (options.allowGeneratedSplit && isFile(generated)) {
      file = generated;
      ctx.reporter.warn(
        `using the generated split ${generated}: it is NOT the official CoOp split, so results are not comparable with published numbers`,
      );
    } else {
      let msg =
        `split file not found. ${def.displayName} needs the official ${def.splitFile} in ${ctx.datasetDir}; ` +
        `download it from ${SPLIT_SOURCES}.`;
      if (def.generateSplit) {
        msg += isFile(generated)
          ? ` A generated (unofficial) split exists at ${generated}; pass --allow-generated-split to use it.`
          : ` Or generate an unofficial split the way CoOp does: mpl data split ${def.name} --root ${ctx.root} --generate` +
            ` (then pass --allow-generated-split).`;
      }
      throw fileError(official, msg);
    }
    split = readSplitFile(file);
  }
  if (split.generated && !options.allowGeneratedSplit) {
    throw fileError(file, 'is a generated (unofficial) split; pass --allow-generated-split to use it');
  }
  return {
    train: split.train,
    val: split.val,
    test: split.test,
    source: file,
    fromSplitFile: true,
    generated: Boolean(split.generated),
  };
}

/**
 * `DTD.read_and_split_data(image_dir, p_trn=0.5, p_val=0.2, ignored, new_cnames)`: classes = sorted
 * sub-folders minus `ignored`, labels in that order; per class the (sorted) images are shuffled with
 * `rng`, then the first round(n * 0.5) go to train, the next round(n * 0.2) to val, the rest to test.
 * Class names are the folder names, or `newCnames[folder]`.
 */
export function readAndSplitData(
  imageDir: string,
  rng: PyRandom,
  options: {
    ignored?: string[];
    newCnames?: Record<string, string>;
    pTrn?: number;
    pVal?: number;
    /** Custom folders: val may be empty, and a class too small for the rule gives test one image first. */
    allowEmptyVal?: boolean;
  } = {},
): SplitLists<SplitEntry> {
  const pTrn = options.pTrn ?? 0.5;
  const pVal = options.pVal ?? 0.2;
  const ignored = new Set(options.ignored ?? []);
  const categories = listSubdirs(imageDir, 'image folder').filter((c) => !ignored.has(c));
  if (categories.length === 0) throw fileError(imageDir, 'has no class sub-folders');
  const out: SplitLists<SplitEntry> = { train: [], val: [], test: [] };
  categories.forEach((category, label) => {
    const dir = path.join(imageDir, category);
    const images = listImages(dir);
    if (images.length === 0) throw fileError(dir, 'class folder has no images (.jpg, .jpeg, .png, .webp, .gif, .tif, .tiff)');
    rng.shuffle(images);
    const n = images.length;
    let nTrain = pyRound(n * pTrn);
    let nVal = pyRound(n * pVal);
    let nTest = n - nTrain - nVal;
    if (options.allowEmptyVal && nTest <= 0 && n >= 2) {
      // Custom folders with very few images: the test set gets one image first (from val, else train).
      if (nVal > 0) nVal--;
      else nTrain--;
      nTest = n - nTrain - nVal;
    }
    if (nTrain <= 0 || nTest <= 0 || (nVal <= 0 && !options.allowEmptyVal)) {
      throw fileError(
        dir,
        `class has ${n} image(s), too few for a ${Math.round(pTrn * 100)}/${Math.round(pVal * 100)}/` +
          `${Math.round((1 - pTrn - pVal) * 100)} train/val/test split (each part needs at least one image)`,
      );
    }
    const classname = options.newCnames?.[category] ?? category;
    const entry = (im: string): SplitEntry => ({ relpath: `${category}/${im}`, label, classname });
    out.train.push(...images.slice(0, nTrain).map(entry));
    out.val.push(...images.slice(nTrain, nTrain + nVal).map(entry));
    out.test.push(...images.slice(nTrain + nVal).map(entry));
  });
  return out;
}

/**
 * `OxfordPets.split_trainval(trainval, p_val=0.2)`: per label (in order of first appearance), shuffle
 * the item indices with `rng`; the first round(n * 0.2) go to val, the rest to train.
 */
export function splitTrainval(trainval: readonly SplitEntry[], rng: PyRandom, source: string, pVal = 0.2): { train: SplitEntry[]; val: SplitEntry[] } {
  const tracker = new Map<number, number[]>();
  trainval.forEach((item, idx) => {
    let l = tracker.get(item.label);
    if (!l) tracker.set(item.label, (l = []));
    l.push(idx);
  });
  const train: SplitEntry[] = [];
  const val: SplitEntry[] = [];
  for (const [label, idxs] of tracker) {
    const nVal = pyRound(idxs.length * pVal);
    if (nVal <= 0) {
      throw new UserError(`${source}: class ${label} ("${trainval[idxs[0]].classname}") has ${idxs.length} train image(s), too few to hold out ${Math.round(pVal * 100)}% for val`);
    }
    rng.shuffle(idxs);
    idxs.forEach((idx, n) => (n < nVal ? val : train).push(trainval[idx]));
  }
  return { train, val };
}
