/**
 * ImageNet and its four test-only variants (CoOp `imagenet.py`, `imagenetv2.py`, `imagenet_sketch.py`,
 * `imagenet_a.py`, `imagenet_r.py`). No split files: the lists come from the folders, class names from
 * `classnames.txt` ("<wnid> <class name>" per line, the names of CLIP's notebook).
 *
 * Image lists are sorted; CoOp uses `os.listdir` order, which differs between file systems, so CoOp's
 * ImageNet few-shot subsets are machine-dependent anyway (only the shared pickle makes them agree).
 */
import * as path from 'node:path';
import { fileError } from '../../util/errors.js';
import type { SplitEntry } from '../types.js';
import { listImages, listSubdirs, readLines, type DatasetContext, type DatasetDef, type RawLists } from './common.js';
import { IMAGENET_CLASSNAMES } from './sources.js';

const IMAGENET_TEMPLATE = 'a photo of a {}.';

/** `ImageNet.read_classnames`: ordered map wnid → class name. */
export function readClassnames(file: string): Map<string, string> {
  const out = new Map<string, string>();
  readLines(file, 'ImageNet class-name list (classnames.txt)').forEach((line, i) => {
    const parts = line.split(' ');
    if (parts.length < 2) throw fileError(file, `line ${i + 1} should be "<folder> <class name>"; got "${line}"`);
    out.set(parts[0], parts.slice(1).join(' '));
  });
  return out;
}

/** Every image of `<dir>/<folder>/` for the given folders, label = position in `folders`; relpaths start with `prefix`. */
function readFolders(
  dir: string,
  folders: string[],
  classnames: Map<string, string>,
  classFile: string,
  classnameOf: (names: Map<string, string>, folder: string, label: number) => string | undefined = (names, f) => names.get(f),
  prefix = '',
): SplitEntry[] {
  const items: SplitEntry[] = [];
  folders.forEach((folder, label) => {
    const classname = classnameOf(classnames, folder, label);
    if (classname === undefined) throw fileError(path.join(dir, folder), `class folder "${folder}" is not listed in ${classFile}`);
    for (const im of listImages(path.join(dir, folder))) items.push({ relpath: `${prefix}${folder}/${im}`, label, classname });
  });
  return items;
}

export const imagenet: DatasetDef = {
  name: 'imagenet',
  displayName: 'ImageNet',
  aliases: ['imagenet1k', 'ilsvrc2012', 'in1k'],
  template: IMAGENET_TEMPLATE,
  ensembleAddsTemplate: false,
  dirName: 'imagenet',
  reportName: 'ImageNet',
  download: {
    homepage: 'https://image-net.org/',
    files: [],
    expect: ['images/train', 'images/val', 'classnames.txt'],
    manual: [
      {
        steps: (dir) => [
          'ImageNet (ILSVRC-2012) needs an account at https://image-net.org/ and cannot be downloaded for you.',
          `Extract the training and validation sets to ${path.join(dir, 'images', 'train')}/nXXXXXXXX/*.JPEG and`,
          `${path.join(dir, 'images', 'val')}/nXXXXXXXX/*.JPEG (val sorted into class folders; symbolic links are fine),`,
          `and download classnames.txt from CoOp's link ${IMAGENET_CLASSNAMES} to ${path.join(dir, 'classnames.txt')}.`,
        ],
      },
    ],
  },
  imageDir: 'images',
  fewshotTrainOnly: true,
  layout: '<root>/imagenet/images/train/<wnid>/*.JPEG, <root>/imagenet/images/val/<wnid>/*.JPEG and <root>/imagenet/classnames.txt',
  read(ctx: DatasetContext): RawLists {
    const classFile = path.join(ctx.datasetDir, 'classnames.txt');
    const classnames = readClassnames(classFile);
    const read = (split: string) => {
      const dir = path.join(ctx.imageDir, split);
      return readFolders(dir, listSubdirs(dir, `ImageNet ${split} folder`), classnames, classFile, undefined, `${split}/`);
    };
    const train = read('train');
    // "Follow standard practice to perform evaluation on the val set", also used as val.
    const test = read('val');
    return { train, val: test, test, source: `${ctx.imageDir}/{train,val} folders`, fromSplitFile: false };
  },
};

/**
 * A test-only ImageNet variant, one reader for all four: the class folders under `imageDir` (which ones and in what
 * order: `folders`), class names from classnames.txt. The user downloads each by hand: the manual step is made from
 * `get` (what to download, from where) and `extract` (where it goes), the layout line from `files`.
 */
function variant(
  spec: Pick<DatasetDef, 'name' | 'displayName' | 'aliases' | 'dirName' | 'reportName' | 'imageDir'> & {
    homepage: string;
    /** the manual step's first words, before "and extract it into DIR": what to download and from where */
    get: string;
    /** the words after "and extract it": where, and the class folders that gives (`folder`: DIR/imageDir) */
    extract(dir: string, folder: string): string;
    /** the class folders and their images under imageDir, as the layout line names them */
    files: string;
    folders(ctx: DatasetContext, classnames: Map<string, string>): string[];
    /** Class name of a folder; default: classnames.txt entry of the folder's wnid. */
    classnameOf?(classnames: Map<string, string>, folder: string, label: number): string | undefined;
  },
): DatasetDef {
  const imageDir = spec.imageDir;
  return {
    name: spec.name,
    displayName: spec.displayName,
    aliases: spec.aliases,
    template: IMAGENET_TEMPLATE,
    ensembleAddsTemplate: false,
    dirName: spec.dirName,
    reportName: spec.reportName,
    download: {
      homepage: spec.homepage,
      files: [],
      expect: [imageDir, 'classnames.txt'],
      manual: [
        {
          steps: (dir) => [
            `${spec.get} and extract it ${spec.extract(dir, path.join(dir, imageDir))};`,
            `copy ImageNet's classnames.txt (${IMAGENET_CLASSNAMES}) to ${path.join(dir, 'classnames.txt')}.`,
          ],
        },
      ],
    },
    imageDir,
    testOnly: true,
    layout: `<root>/${spec.dirName}/${imageDir}/${spec.files} and <root>/${spec.dirName}/classnames.txt`,
    read(ctx) {
      const classFile = path.join(ctx.datasetDir, 'classnames.txt');
      const classnames = readClassnames(classFile);
      const test = readFolders(ctx.imageDir, spec.folders(ctx, classnames), classnames, classFile, spec.classnameOf);
      return { train: [], val: [], test, source: `${ctx.imageDir} folders`, fromSplitFile: false };
    },
  };
}

/** ImageNetV2: folders are "0".."999" (the label); label i takes the i-th name of classnames.txt. */
export const imagenetV2 = variant({
  name: 'imagenet_v2',
  displayName: 'ImageNetV2',
  aliases: ['imagenetv2', 'imagenet-v2', 'inv2'],
  dirName: 'imagenetv2',
  reportName: 'ImageNetV2',
  homepage: 'https://github.com/modestyachts/ImageNetV2',
  get: 'Download https://s3-us-west-2.amazonaws.com/imagenetv2public/imagenetv2-matched-frequency.tar.gz',
  extract: (dir, folder) => `into ${dir}, giving ${folder}/{0..999}/`,
  imageDir: 'imagenetv2-matched-frequency-format-val',
  files: '{0..999}/*.jpeg',
  folders: (_ctx, classnames) => [...classnames.keys()].map((_, i) => String(i)),
  classnameOf: (classnames, _folder, label) => [...classnames.values()][label],
});

/** ImageNet-Sketch, -A and -R: wnid folders, sorted and labelled 0..n-1 (A and R: 200 of them; README.txt ignored). */
export const imagenetSketch = variant({
  name: 'imagenet_sketch',
  displayName: 'ImageNetSketch',
  aliases: ['imagenetsketch', 'imagenet-sketch', 'sketch'],
  dirName: 'imagenet-sketch',
  reportName: 'ImageNet-Sketch',
  homepage: 'https://github.com/HaohanWang/ImageNet-Sketch',
  get: 'Download ImageNet-Sketch as described at https://github.com/HaohanWang/ImageNet-Sketch',
  extract: (_dir, folder) => `so that ${folder}/nXXXXXXXX/ holds the 1,000 class folders`,
  imageDir: 'images',
  files: '<wnid>/*.JPEG',
  folders: (ctx) => listSubdirs(ctx.imageDir, 'ImageNet-Sketch image folder'),
});

export const imagenetA = variant({
  name: 'imagenet_a',
  displayName: 'ImageNetA',
  aliases: ['imageneta', 'imagenet-a', 'imagenet-adversarial'],
  dirName: 'imagenet-adversarial',
  reportName: 'ImageNet-A',
  homepage: 'https://github.com/hendrycks/natural-adv-examples',
  get: 'Download imagenet-a.tar as described at https://github.com/hendrycks/natural-adv-examples',
  extract: (dir, folder) => `into ${dir}, giving ${folder}/nXXXXXXXX/ (200 classes)`,
  imageDir: 'imagenet-a',
  files: '<wnid>/*.jpg (200 folders)',
  folders: (ctx) => listSubdirs(ctx.imageDir, 'ImageNet-A image folder'),
});

export const imagenetR = variant({
  name: 'imagenet_r',
  displayName: 'ImageNetR',
  aliases: ['imagenetr', 'imagenet-r', 'imagenet-rendition'],
  dirName: 'imagenet-rendition',
  reportName: 'ImageNet-R',
  homepage: 'https://github.com/hendrycks/imagenet-r',
  get: 'Download imagenet-r.tar as described at https://github.com/hendrycks/imagenet-r',
  extract: (dir, folder) => `into ${dir}, giving ${folder}/nXXXXXXXX/ (200 classes)`,
  imageDir: 'imagenet-r',
  files: '<wnid>/*.jpg (200 folders)',
  folders: (ctx) => listSubdirs(ctx.imageDir, 'ImageNet-R image folder'),
});
