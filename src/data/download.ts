import * as fs from 'node:fs';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import * as yauzl from 'yauzl';
import { DownloadError, downloadFile, hashFile } from '../net/download.js';
import { UserError } from '../util/errors.js';
import { silentReporter, type Reporter } from '../util/reporter.js';

/**
 * `mpl data download`: fetches the benchmark datasets that have stable public archives, checks them
 * (md5 from the publishers / torchvision, sha256 for the split files) and lays them out as CoOp's
 * DATASETS.md does (spec §3.1), so the dataset readers and the official PyTorch code find them under
 * the same `--root`. Datasets without a stable archive (ImageNet and its variants, StanfordCars, SUN397,
 * UCF101) get the exact manual steps instead.
 *
 * The catalogue is plain data; tests pass their own entries pointing at a local server.
 */

/** Something to take out of an extracted archive and put into the dataset folder. */
export interface Take {
  /**
   * Posix path inside the archive. If it is not at exactly this path it is searched for by suffix, a
   * few levels deep, because mirrors differ in their top folder (`caltech-101/…` or not).
   */
  from: string;
  /** Destination relative to the dataset folder; `'.'` moves the children of `from` into the dataset folder. */
  to?: string;
  /** Missing in the archive is fine (README files and the like). */
  optional?: boolean;
  /** `from` is itself an archive (Caltech101's zip holds a tar.gz): check it, extract it, take from it. */
  extract?: { kind: 'tar' | 'zip'; md5?: string; sha256?: string; take: Take[] };
}

export interface DatasetFile {
  /** Mirrors, tried in order when one fails (HTTP error, unreachable). */
  urls: string[];
  /** Local file name of the download (URLs may end in `?download=1`). */
  file: string;
  md5?: string;
  sha256?: string;
  size?: number;
  /** `file`: placed as is at `to` (default `file`); archives are extracted and their `take` applied. */
  kind: 'tar' | 'zip' | 'file';
  take?: Take[];
  to?: string;
}

/** Steps printed when `path` (relative to the dataset folder) is missing; always when no path. */
export interface ManualStep {
  path?: string;
  steps: (datasetDir: string, root: string) => string[];
}

export interface DatasetEntry {
  /** CoOp's DATASET.NAME (`EuroSAT`, `DescribableTextures`, …). */
  name: string;
  /** Other names accepted on the command line (matched ignoring case, '-' and '_'). */
  aliases: string[];
  /** Folder under `--root`, as in spec §3.1. */
  dir: string;
  homepage: string;
  /** What can be downloaded automatically (may be empty). */
  files: DatasetFile[];
  /** Paths relative to the dataset folder that exist once the dataset is complete. */
  expect: string[];
  manual?: ManualStep[];
}

/*
 * Split files: CoOp hosts them on Google Drive only (no stable direct link). The repository
 * linzhiqiu/cross_modal_adaptation redistributes seven of them (MIT) — pinned here to one commit and
 * to the sha256 of each file (which are the same bytes as the copies in shared/data/splits).
 */
const SPLITS = 'https://raw.githubusercontent.com/linzhiqiu/cross_modal_adaptation/c7e7e68ae4eeadfab98e7886b2d6c9cf48a7ceb5/splits/';

function splitFile(file: string, sha256: string, size: number): DatasetFile {
  return { urls: [SPLITS + file], file, sha256, size, kind: 'file', to: file };
}

/** CoOp's Google-Drive link for a file, for the manual steps. */
const gdrive = (id: string): string => `https://drive.google.com/file/d/${id}/view`;

const IMAGENET_CLASSNAMES = gdrive('1-61f_ol79pViBFDG_IDlUQSwoLcn2XXF');

/** The default catalogue. Checksums: torchvision's dataset classes (md5), the publishers, the split repo (sha256). */
export const DATASETS: readonly DatasetEntry[] = [
  {
    name: 'EuroSAT',
    aliases: ['eurosat'],
    dir: 'eurosat',
    homepage: 'https://github.com/phelber/eurosat',
    files: [
      {
        // torchgeo's copy pinned to a commit (what torchvision downloads), then the original DFKI host.
        urls: [
          'https://huggingface.co/datasets/torchgeo/eurosat/resolve/c877bcd43f099cd0196738f714544e355477f3fd/EuroSAT.zip',
          'https://madm.dfki.de/files/sentinel/EuroSAT.zip',
        ],
        file: 'EuroSAT.zip',
        md5: 'c8fa014336c82ac7804f0398fcb19387',
        kind: 'zip',
        take: [{ from: '2750', to: '2750' }],
      },
      splitFile('split_zhou_EuroSAT.json', '541503a77d0b26b735d85ec7a3e672804fe0aa466c2e5f07da772cc6c0af8ad2', 3006492),
    ],
    expect: ['2750', 'split_zhou_EuroSAT.json'],
  },
  {
    name: 'DescribableTextures',
    aliases: ['dtd', 'textures'],
    dir: 'dtd',
    homepage: 'https://www.robots.ox.ac.uk/~vgg/data/dtd/',
    files: [
      {
        urls: ['https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz'],
        file: 'dtd-r1.0.1.tar.gz',
        md5: 'fff73e5086ae6bdbea199a49dfb8a4c1',
        kind: 'tar',
        take: [
          { from: 'dtd/images', to: 'images' },
          { from: 'dtd/labels', to: 'labels', optional: true },
          { from: 'dtd/imdb', to: 'imdb', optional: true },
        ],
      },
      splitFile('split_zhou_DescribableTextures.json', 'f26ebeccd2b58e68d70f07a0dc39fe49bf7b69024bac34396b954dfd87969c38', 563702),
    ],
    expect: ['images', 'split_zhou_DescribableTextures.json'],
  },
  {
    name: 'OxfordPets',
    aliases: ['oxford_pets', 'pets', 'oxfordiiitpet'],
    dir: 'oxford_pets',
    homepage: 'https://www.robots.ox.ac.uk/~vgg/data/pets/',
    files: [
      {
        urls: ['https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz'],
        file: 'images.tar.gz',
        md5: '5c4f3ee8e5d25df40f4fd59a7f44e54c',
        kind: 'tar',
        take: [{ from: 'images', to: 'images' }],
      },
      {
        urls: ['https://www.robots.ox.ac.uk/~vgg/data/pets/data/annotations.tar.gz'],
        file: 'annotations.tar.gz',
        md5: '95a8c909bbe2e81eed6a22bccdf3f68f',
        kind: 'tar',
        take: [{ from: 'annotations', to: 'annotations' }],
      },
      splitFile('split_zhou_OxfordPets.json', 'd7f3ffe65b3919f95132e51422894ae18686b83c331fd8c0adcdc3dc2de6301e', 724217),
    ],
    expect: ['images', 'annotations', 'split_zhou_OxfordPets.json'],
  },
  {
    name: 'OxfordFlowers',
    aliases: ['oxford_flowers', 'flowers102', 'flowers'],
    dir: 'oxford_flowers',
    homepage: 'https://www.robots.ox.ac.uk/~vgg/data/flowers/102/',
    files: [
      {
        urls: ['https://www.robots.ox.ac.uk/~vgg/data/flowers/102/102flowers.tgz'],
        file: '102flowers.tgz',
        md5: '52808999861908f626f3c1f4e79d11fa',
        kind: 'tar',
        take: [{ from: 'jpg', to: 'jpg' }],
      },
      {
        urls: ['https://www.robots.ox.ac.uk/~vgg/data/flowers/102/imagelabels.mat'],
        file: 'imagelabels.mat',
        md5: 'e0620be6f572b9609742df49c70aed4d',
        kind: 'file',
      },
      splitFile('cat_to_name.json', '0469f1ad7fe0072d98155c49aa58649d998edbbe3326229003aa5f7228525236', 2212),
      splitFile('split_zhou_OxfordFlowers.json', '2f50c42fc1a17ca13c271cb4269b1347bdb43d2be672e34f74a4e4cbfbcca794', 771139),
    ],
    expect: ['jpg', 'imagelabels.mat', 'cat_to_name.json', 'split_zhou_OxfordFlowers.json'],
  },
  {
    name: 'Caltech101',
    aliases: ['caltech-101', 'caltech'],
    dir: 'caltech-101',
    homepage: 'https://data.caltech.edu/records/mzrjq-6wc02',
    files: [
      {
        // CaltechDATA's record (the old vision.caltech.edu links are gone). The zip holds the tar.gz CoOp names.
        urls: ['https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip?download=1'],
        file: 'caltech-101.zip',
        md5: '3138e1922a9193bfa496528edbbc45d0',
        kind: 'zip',
        take: [
          {
            from: '101_ObjectCategories.tar.gz',
            extract: {
              kind: 'tar',
              md5: 'b224c7392d521a49829488ab0f1120d9',
              take: [{ from: '101_ObjectCategories', to: '101_ObjectCategories' }],
            },
          },
        ],
      },
      splitFile('split_zhou_Caltech101.json', '52ce83205ff8ff8a1a18119aad6376120ae35c36e783a984bc560cbf10e73fa5', 809184),
    ],
    expect: ['101_ObjectCategories', 'split_zhou_Caltech101.json'],
  },
  {
    name: 'Food101',
    aliases: ['food-101', 'food'],
    dir: 'food-101',
    homepage: 'https://data.vision.ee.ethz.ch/cvl/datasets_extra/food-101/',
    files: [
      {
        urls: ['https://data.vision.ee.ethz.ch/cvl/food-101.tar.gz', 'http://data.vision.ee.ethz.ch/cvl/food-101.tar.gz'],
        file: 'food-101.tar.gz',
        md5: '85eeb15f3717b99a5da872d97d918f87',
        kind: 'tar',
        take: [
          { from: 'food-101/images', to: 'images' },
          { from: 'food-101/meta', to: 'meta', optional: true },
          { from: 'food-101/license_agreement.txt', to: 'license_agreement.txt', optional: true },
          { from: 'food-101/README.txt', to: 'README.txt', optional: true },
        ],
      },
    ],
    expect: ['images', 'split_zhou_Food101.json'],
    manual: [
      {
        path: 'split_zhou_Food101.json',
        steps: (dir) => [
          `Download split_zhou_Food101.json from CoOp's link ${gdrive('1QK0tGi096I0Ba6kggatX1ee6dJFIcEJl')}`,
          `and put it at ${path.join(dir, 'split_zhou_Food101.json')}`,
          '(no stable direct link exists; without it the official code draws a random split that others cannot reproduce).',
        ],
      },
    ],
  },
  {
    name: 'FGVCAircraft',
    aliases: ['fgvc_aircraft', 'aircraft', 'fgvc-aircraft'],
    dir: 'fgvc_aircraft',
    homepage: 'https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/',
    files: [
      {
        // CoOp keeps only data/ and renames it fgvc_aircraft/; the official txt lists are the split.
        urls: ['https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz'],
        file: 'fgvc-aircraft-2013b.tar.gz',
        md5: 'd4acdd33327262359767eeaa97a4f732',
        kind: 'tar',
        take: [{ from: 'fgvc-aircraft-2013b/data', to: '.' }],
      },
    ],
    expect: ['images', 'variants.txt', 'images_variant_train.txt', 'images_variant_val.txt', 'images_variant_test.txt'],
  },
  {
    name: 'StanfordCars',
    aliases: ['stanford_cars', 'cars'],
    dir: 'stanford_cars',
    homepage: 'https://ai.stanford.edu/~jkrause/cars/car_dataset.html',
    files: [splitFile('split_zhou_StanfordCars.json', '40acee7aa65c8e4727a32d90e884b7c3f8960b523422317e163f7af65432959d', 1855652)],
    expect: ['cars_train', 'cars_test', 'devkit', 'cars_test_annos_withlabels.mat', 'split_zhou_StanfordCars.json'],
    manual: [
      {
        path: 'cars_train',
        steps: (dir) => [
          'Stanford no longer serves the original files (cars_train.tgz, cars_test.tgz, car_devkit.tgz,',
          'cars_test_annos_withlabels.mat from ai.stanford.edu/~jkrause/car196/); get them from a copy you trust',
          `and lay them out as ${dir}/{cars_train/, cars_test/, devkit/, cars_test_annos_withlabels.mat}`,
          '(extract each .tgz inside that folder). The split file is downloaded automatically.',
        ],
      },
    ],
  },
  {
    name: 'SUN397',
    aliases: ['sun397', 'sun'],
    dir: 'sun397',
    homepage: 'https://vision.princeton.edu/projects/2010/SUN/',
    files: [],
    expect: ['SUN397', 'split_zhou_SUN397.json'],
    manual: [
      {
        path: 'SUN397',
        steps: (dir) => [
          `Download SUN397.tar.gz (http://vision.princeton.edu/projects/2010/SUN/SUN397.tar.gz; the original hosts`,
          `are often offline) and extract it into ${dir}, giving ${path.join(dir, 'SUN397')}/a/abbey/…;`,
          `CoOp also extracts Partitions.zip there (its txt files; optional when the split file is present).`,
        ],
      },
      {
        path: 'split_zhou_SUN397.json',
        steps: (dir) => [
          `Download split_zhou_SUN397.json from CoOp's link ${gdrive('1y2RD81BYuiyvebdN-JymPfyWYcd8_MUq')}`,
          `and put it at ${path.join(dir, 'split_zhou_SUN397.json')}.`,
        ],
      },
    ],
  },
  {
    name: 'UCF101',
    aliases: ['ucf101', 'ucf-101', 'ucf'],
    dir: 'ucf101',
    homepage: 'https://www.crcv.ucf.edu/data/UCF101.php',
    files: [splitFile('split_zhou_UCF101.json', 'd78cb834f7c5792ceaff2c5ee2d7c76a9e4086e48a3a6b01232989d29cbefdd8', 1557485)],
    expect: ['UCF-101-midframes', 'split_zhou_UCF101.json'],
    manual: [
      {
        path: 'UCF-101-midframes',
        steps: (dir) => [
          `CoOp's middle-frame images exist only as UCF-101-midframes.zip on Google Drive: ${gdrive('10Jqome3vtUA2keJkNanAiFpgbyC9Hc2O')}`,
          `Download it and extract it into ${dir}, giving ${path.join(dir, 'UCF-101-midframes')}/<Class>/*.jpg.`,
          `(An unofficial mirror with the same layout is the ucf101.zip of https://huggingface.co/zhengli97/prompt_learning_dataset.)`,
          'The split file is downloaded automatically.',
        ],
      },
    ],
  },
  {
    name: 'ImageNet',
    aliases: ['imagenet', 'imagenet1k', 'ilsvrc2012'],
    dir: 'imagenet',
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
  {
    name: 'ImageNetV2',
    aliases: ['imagenetv2', 'imagenet-v2'],
    dir: 'imagenetv2',
    homepage: 'https://github.com/modestyachts/ImageNetV2',
    files: [],
    expect: ['imagenetv2-matched-frequency-format-val', 'classnames.txt'],
    manual: [
      {
        steps: (dir) => [
          `Download https://s3-us-west-2.amazonaws.com/imagenetv2public/imagenetv2-matched-frequency.tar.gz and extract it into ${dir},`,
          `giving ${path.join(dir, 'imagenetv2-matched-frequency-format-val')}/{0..999}/; copy ImageNet's classnames.txt`,
          `(${IMAGENET_CLASSNAMES}) to ${path.join(dir, 'classnames.txt')}.`,
        ],
      },
    ],
  },
  {
    name: 'ImageNetSketch',
    aliases: ['imagenet-sketch', 'imagenet_sketch', 'sketch'],
    dir: 'imagenet-sketch',
    homepage: 'https://github.com/HaohanWang/ImageNet-Sketch',
    files: [],
    expect: ['images', 'classnames.txt'],
    manual: [
      {
        steps: (dir) => [
          `Download ImageNet-Sketch as described at https://github.com/HaohanWang/ImageNet-Sketch and extract it so that`,
          `${path.join(dir, 'images')}/nXXXXXXXX/ holds the 1,000 class folders; copy ImageNet's classnames.txt`,
          `(${IMAGENET_CLASSNAMES}) to ${path.join(dir, 'classnames.txt')}.`,
        ],
      },
    ],
  },
  {
    name: 'ImageNetA',
    aliases: ['imagenet-a', 'imagenet-adversarial', 'imageneta'],
    dir: 'imagenet-adversarial',
    homepage: 'https://github.com/hendrycks/natural-adv-examples',
    files: [],
    expect: ['imagenet-a', 'classnames.txt'],
    manual: [
      {
        steps: (dir) => [
          `Download imagenet-a.tar as described at https://github.com/hendrycks/natural-adv-examples and extract it into ${dir},`,
          `giving ${path.join(dir, 'imagenet-a')}/nXXXXXXXX/ (200 classes); copy ImageNet's classnames.txt`,
          `(${IMAGENET_CLASSNAMES}) to ${path.join(dir, 'classnames.txt')}.`,
        ],
      },
    ],
  },
  {
    name: 'ImageNetR',
    aliases: ['imagenet-r', 'imagenet-rendition', 'imagenetr'],
    dir: 'imagenet-rendition',
    homepage: 'https://github.com/hendrycks/imagenet-r',
    files: [],
    expect: ['imagenet-r', 'classnames.txt'],
    manual: [
      {
        steps: (dir) => [
          `Download imagenet-r.tar as described at https://github.com/hendrycks/imagenet-r and extract it into ${dir},`,
          `giving ${path.join(dir, 'imagenet-r')}/nXXXXXXXX/ (200 classes); copy ImageNet's classnames.txt`,
          `(${IMAGENET_CLASSNAMES}) to ${path.join(dir, 'classnames.txt')}.`,
        ],
      },
    ],
  },
];

const key = (s: string): string => s.toLowerCase().replace(/[-_\s]/g, '');

export function findDataset(name: string, catalogue: readonly DatasetEntry[] = DATASETS): DatasetEntry {
  const k = key(name);
  const entry = catalogue.find((d) => key(d.name) === k || key(d.dir) === k || d.aliases.some((a) => key(a) === k));
  if (!entry) {
    throw new UserError(`unknown dataset '${name}': run 'mpl data download --list' for the supported names`);
  }
  return entry;
}

export type DownloadMode = 'automatic' | 'partly manual' | 'manual';

export interface DatasetListing {
  name: string;
  dir: string;
  mode: DownloadMode;
  homepage: string;
}

/** What `--list` shows: every dataset and whether it downloads by itself. */
export function listDatasets(catalogue: readonly DatasetEntry[] = DATASETS): DatasetListing[] {
  return catalogue.map((d) => ({
    name: d.name,
    dir: d.dir,
    mode: d.files.length === 0 ? 'manual' : d.manual?.length ? 'partly manual' : 'automatic',
    homepage: d.homepage,
  }));
}

export interface DataDownloadOptions {
  /** `--root`: the folder holding one folder per dataset ($DATA in CoOp's docs). */
  root: string;
  reporter?: Reporter;
  catalogue?: readonly DatasetEntry[];
  /** Keep the downloaded archives (in `<root>/.mpl-downloads/`) after extraction. */
  keepArchives?: boolean;
  /** Passed to the downloader. */
  retries?: number;
  retryDelayMs?: number;
  timeoutMs?: number;
}

export interface DataDownloadResult {
  name: string;
  /** The dataset folder. */
  dir: string;
  /** Every expected path is there. */
  complete: boolean;
  /** Files fetched (and extracted) by this call. */
  downloaded: string[];
  /** Files already in place, left alone. */
  skipped: string[];
  /** Manual steps still to do, one string per line. Empty when complete. */
  manual: string[];
}

/**
 * Downloads one dataset into `<root>/<dir>`. Idempotent: what is already in place is skipped. Archives
 * are extracted into a temporary folder under the root and then moved into place, so a dataset folder
 * never holds half an archive; the downloads themselves resume (see downloadFile).
 */
export async function downloadDataset(name: string, options: DataDownloadOptions): Promise<DataDownloadResult> {
  const reporter = options.reporter ?? silentReporter;
  const entry = findDataset(name, options.catalogue);
  const root = path.resolve(options.root);
  const dir = path.join(root, entry.dir);
  const result: DataDownloadResult = { name: entry.name, dir, complete: false, downloaded: [], skipped: [], manual: [] };

  if (isComplete(entry, dir)) {
    reporter.info(`${entry.name}: already present in ${dir}; nothing to download`);
    result.complete = true;
    result.skipped = entry.files.map((f) => f.file);
    return result;
  }

  const downloads = path.join(root, '.mpl-downloads', entry.dir);
  try {
    for (const file of entry.files) {
      if (isFilePresent(file, dir)) {
        reporter.info(`${entry.name}: ${file.file} already in place; skipped`);
        result.skipped.push(file.file);
        continue;
      }
      const local = path.join(downloads, file.file);
      if (fs.existsSync(local)) {
        // A download of ours is renamed there only after verification, but the offline message also tells
        // users to put the file there by hand: check it against the published digest before extracting.
        await verifyPlaced(entry, file, local, reporter);
        reporter.info(`${entry.name}: using ${local} (checked against its published digest)`);
      } else {
        await fetchWithMirrors(entry, file, local, path.join(dir, file.to ?? file.file), reporter, options);
      }
      if (file.kind === 'file') {
        moveInto(local, path.join(dir, file.to ?? file.file));
      } else {
        await extractAndPlace(entry, file, local, root, dir, reporter);
        if (!options.keepArchives) fs.rmSync(local, { force: true });
      }
      result.downloaded.push(file.file);
    }
  } finally {
    // Leave no empty bookkeeping folders behind (a .part file of an interrupted download stays).
    removeIfEmpty(downloads);
    removeIfEmpty(path.dirname(downloads));
  }

  for (const step of entry.manual ?? []) {
    if (step.path === undefined ? !isComplete(entry, dir) : !fs.existsSync(path.join(dir, step.path))) {
      result.manual.push(...step.steps(dir, root));
    }
  }
  result.complete = isComplete(entry, dir);
  if (result.complete) reporter.info(`${entry.name}: ready in ${dir}`);
  return result;
}

/** The manual steps for a dataset, whatever is present (for docs and --list details). */
export function manualSteps(entry: DatasetEntry, root: string): string[] {
  const dir = path.join(path.resolve(root), entry.dir);
  return (entry.manual ?? []).flatMap((s) => s.steps(dir, path.resolve(root)));
}

function isComplete(entry: DatasetEntry, dir: string): boolean {
  return entry.expect.every((p) => fs.existsSync(path.join(dir, p)));
}

/** A file counts as present when everything it would put in place is there. */
function isFilePresent(file: DatasetFile, dir: string): boolean {
  if (file.kind === 'file') return fs.existsSync(path.join(dir, file.to ?? file.file));
  const targets = requiredTargets(file.take ?? []);
  return targets.length > 0 && targets.every((t) => fs.existsSync(path.join(dir, t)));
}

function requiredTargets(takes: Take[]): string[] {
  return takes.flatMap((t) => {
    if (t.optional) return [];
    if (t.extract) return requiredTargets(t.extract.take);
    // A merge into the dataset folder cannot be checked by name; the dataset's `expect` covers it.
    return t.to && t.to !== '.' ? [t.to] : [];
  });
}

async function fetchWithMirrors(
  entry: DatasetEntry,
  file: DatasetFile,
  local: string,
  placed: string,
  reporter: Reporter,
  options: DataDownloadOptions,
): Promise<void> {
  const failures: string[] = [];
  for (const url of file.urls) {
    reporter.info(`${entry.name}: downloading ${url}`);
    try {
      await downloadFile({
        url,
        dest: local,
        md5: file.md5,
        sha256: file.sha256,
        expectedSize: file.size,
        reporter,
        label: `${entry.name} ${file.file}`,
        retries: options.retries,
        retryDelayMs: options.retryDelayMs,
        timeoutMs: options.timeoutMs,
      });
      return;
    } catch (err) {
      // A checksum or size mismatch is not a reason to try the next mirror silently: it is reported.
      if (!(err instanceof DownloadError) || err.kind === 'checksum' || err.kind === 'size') throw err;
      failures.push(err.message);
      if (file.urls.length > 1) reporter.warn(err.message);
    }
  }
  const lines = failures.length > 1 ? ` Tried ${failures.length} mirrors: ${failures.join(' | ')}` : ` ${failures[0]}`;
  // A plain file goes straight to its final place; an archive where this command looks for it before extracting.
  const where = file.kind === 'file' ? placed : local;
  const digest = file.sha256 ? `sha256 ${file.sha256}` : file.md5 ? `md5 ${file.md5}` : undefined;
  throw new UserError(
    `${entry.name}: could not download ${file.file}.${lines} You can fetch it yourself from ${file.urls[0]}${digest ? ` (${digest})` : ''}, put it at ${where} and run the command again.`,
  );
}

/** Checks a file found at the download location against the catalogue's size and digests. */
async function verifyPlaced(entry: DatasetEntry, file: DatasetFile, local: string, reporter: Reporter): Promise<void> {
  const size = fs.statSync(local).size;
  const bad = (what: string) =>
    new UserError(`${local}: ${what}, so it is not the published ${file.file} (placed by hand, or damaged since). Delete it and run the command again (or place the right file there).`);
  if (file.size !== undefined && size !== file.size) throw bad(`it has ${size} bytes, expected ${file.size}`);
  reporter.info(`${entry.name}: checking ${local}`);
  for (const algorithm of ['sha256', 'md5'] as const) {
    const want = file[algorithm];
    if (!want) continue;
    const got = await hashFile(local, algorithm);
    if (got !== want.toLowerCase()) throw bad(`its ${algorithm} is ${got}, expected ${want}`);
  }
}

/** Extracts into a temporary folder under the root, applies the takes, and always removes the temporary folder. */
async function extractAndPlace(
  entry: DatasetEntry,
  file: DatasetFile,
  archive: string,
  root: string,
  dir: string,
  reporter: Reporter,
): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(root, `.mpl-tmp-${entry.dir}-`));
  try {
    reporter.info(`${entry.name}: extracting ${file.file}`);
    await extractArchive(archive, file.kind as 'tar' | 'zip', tmp, reporter, `${entry.name} extract ${file.file}`);
    await applyTakes(file.take ?? [], tmp, dir, file.file, reporter, entry.name);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function applyTakes(takes: Take[], tree: string, dir: string, archiveName: string, reporter: Reporter, label: string): Promise<void> {
  for (const take of takes) {
    const src = locate(tree, take.from);
    if (!src) {
      if (take.optional) continue;
      throw new UserError(
        `${archiveName}: '${take.from}' is not inside the archive; the published archive may have changed layout. Please report this, with the archive's listing.`,
      );
    }
    if (take.extract) {
      const nested = take.extract;
      const name = path.basename(src);
      if (nested.md5 && (await hashFile(src, 'md5')) !== nested.md5) {
        throw new UserError(`${archiveName}: the nested archive ${name} has the wrong md5 (expected ${nested.md5}); the download was kept, delete it and run again`);
      }
      if (nested.sha256 && (await hashFile(src, 'sha256')) !== nested.sha256) {
        throw new UserError(`${archiveName}: the nested archive ${name} has the wrong sha256 (expected ${nested.sha256})`);
      }
      const inner = fs.mkdtempSync(path.join(tree, '.nested-'));
      reporter.info(`${label}: extracting ${name}`);
      await extractArchive(src, nested.kind, inner, reporter, `${label} extract ${name}`);
      await applyTakes(nested.take, inner, dir, name, reporter, label);
      continue;
    }
    const to = take.to ?? path.posix.basename(take.from);
    if (to === '.') {
      for (const child of fs.readdirSync(src)) moveInto(path.join(src, child), path.join(dir, child));
    } else {
      moveInto(src, path.join(dir, to));
    }
  }
}

/** `from` at that exact path, else the shallowest path ending in `/from` (up to 4 levels down). */
function locate(tree: string, from: string): string | undefined {
  const exact = path.join(tree, ...from.split('/'));
  if (fs.existsSync(exact)) return exact;
  let level = [tree];
  for (let depth = 0; depth < 4 && level.length; depth++) {
    const next: string[] = [];
    for (const d of level) {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        if (!e.isDirectory() || e.name === '__MACOSX') continue;
        const candidate = path.join(d, e.name, ...from.split('/'));
        if (fs.existsSync(candidate)) return candidate;
        next.push(path.join(d, e.name));
      }
    }
    level = next;
  }
  return undefined;
}

/** Moves a file or folder into place; an existing destination is kept (it is already there). */
function moveInto(src: string, dest: string): void {
  if (fs.existsSync(dest)) return;
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  try {
    fs.renameSync(src, dest);
  } catch (err) {
    // The dataset folder may be a symbolic link to another disk (CoOp suggests that): copy, then delete.
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    const tmp = `${dest}.mpl-partial`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.cpSync(src, tmp, { recursive: true });
    fs.renameSync(tmp, dest);
    fs.rmSync(src, { recursive: true, force: true });
  }
}

function removeIfEmpty(dir: string): void {
  try {
    if (fs.readdirSync(dir).length === 0) fs.rmdirSync(dir);
  } catch {
    // missing: nothing to do
  }
}

/**
 * Why an archive entry name is unsafe, or undefined. Entries are rejected (not silently skipped) when
 * they are absolute or climb out with `..`: such an archive is broken or malicious.
 */
export function unsafeEntryReason(name: string): string | undefined {
  const n = name.replace(/\\/g, '/');
  if (n.startsWith('/') || /^[a-zA-Z]:/.test(n)) return 'absolute path';
  if (n.split('/').includes('..')) return "path climbs out of the archive folder ('..')";
  if (n.includes('\0')) return 'NUL byte in the name';
  return undefined;
}

/** Extracts a tar (optionally gzip) or zip archive into `dest`, rejecting unsafe entries. */
export async function extractArchive(archive: string, kind: 'tar' | 'zip', dest: string, reporter: Reporter, label: string): Promise<void> {
  fs.mkdirSync(dest, { recursive: true });
  if (kind === 'zip') return extractZip(archive, dest, reporter, label);
  return extractTar(archive, dest, reporter, label);
}

async function extractTar(archive: string, dest: string, reporter: Reporter, label: string): Promise<void> {
  const total = fs.statSync(archive).size;
  const progress = reporter.progress(label, total, 'bytes');
  const rejected: string[] = [];
  let read = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      read += chunk.length;
      progress.update(read);
      cb(null, chunk);
    },
  });
  const unpack = tar.x({
    cwd: dest,
    // Warnings (a truncated or corrupt archive, odd entry types) are errors: datasets are plain tars.
    strict: true,
    // Running as root would otherwise restore the archive's uid/gid.
    preserveOwner: false,
    filter: (entryPath, entry) => {
      const reason = unsafeEntryReason(entryPath);
      if (reason) {
        rejected.push(`'${entryPath}' (${reason})`);
        return false;
      }
      const e = entry as tar.ReadEntry;
      if ((e.type === 'SymbolicLink' || e.type === 'Link') && e.linkpath) {
        // A link may only point inside the archive's own tree.
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(entryPath), e.linkpath));
        if (e.linkpath.startsWith('/') || target.startsWith('../') || target === '..') {
          rejected.push(`'${entryPath}' (link to ${e.linkpath} outside the archive)`);
          return false;
        }
      }
      return true;
    },
  });
  try {
    // tar's Unpack is written to with pipe() (it is not a Node stream that pipeline() can wait on); it
    // emits 'close' once every entry is on disk.
    await new Promise<void>((resolve, reject) => {
      const input = fs.createReadStream(archive, { highWaterMark: 1 << 20 });
      input.on('error', reject);
      counter.on('error', reject);
      unpack.on('error', reject);
      unpack.on('close', () => resolve());
      input.pipe(counter).pipe(unpack);
    });
  } catch (err) {
    throw new UserError(`${archive}: cannot extract: ${(err as Error).message}. Delete the file and run again.`);
  } finally {
    progress.stop();
  }
  if (rejected.length) {
    throw new UserError(
      `${archive}: unsafe archive entries rejected: ${rejected.slice(0, 3).join(', ')}${rejected.length > 3 ? ` and ${rejected.length - 3} more` : ''}. Nothing from it was placed; the archive is not the published one.`,
    );
  }
}

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    // decodeStrings false: we check names ourselves and say which entry was bad and why.
    yauzl.open(file, { lazyEntries: true, decodeStrings: false, autoClose: true }, (err, zip) => (err || !zip ? reject(err) : resolve(zip))),
  );
}

async function extractZip(archive: string, dest: string, reporter: Reporter, label: string): Promise<void> {
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(archive);
  } catch (err) {
    throw new UserError(`${archive}: not a readable zip file (${(err as Error).message}). Delete it and run again.`);
  }
  const progress = reporter.progress(label, zip.entryCount, 'files');
  let done = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => {
        zip.close();
        reject(err);
      };
      zip.on('error', fail);
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        const raw = (entry as unknown as { fileNameRaw: Buffer }).fileNameRaw;
        // Bit 11: the name is UTF-8; otherwise CP437, which equals latin1 for the ASCII names datasets use.
        const name = raw.toString(entry.generalPurposeBitFlag & 0x800 ? 'utf8' : 'latin1');
        const reason = unsafeEntryReason(name);
        if (reason) {
          fail(new UserError(`${archive}: unsafe archive entry '${name}' rejected (${reason}). Nothing from it was placed; the archive is not the published one.`));
          return;
        }
        const mode = (entry.externalFileAttributes >>> 16) & 0o170000;
        if (mode === 0o120000) {
          fail(new UserError(`${archive}: entry '${name}' is a symbolic link; refused. Nothing from it was placed.`));
          return;
        }
        const next = (): void => {
          progress.update(++done);
          zip.readEntry();
        };
        const rel = name.replace(/\\/g, '/');
        if (rel.startsWith('__MACOSX/')) return next(); // macOS resource forks: not data
        const target = path.join(dest, ...rel.split('/').filter(Boolean));
        if (rel.endsWith('/')) {
          fs.mkdirSync(target, { recursive: true });
          return next();
        }
        fs.mkdirSync(path.dirname(target), { recursive: true });
        zip.openReadStream(entry, (err, stream) => {
          if (err || !stream) return fail(err ?? new Error('no stream'));
          pipeline(stream, fs.createWriteStream(target)).then(next, fail);
        });
      });
      zip.readEntry();
    });
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${archive}: cannot extract: ${(err as Error).message}. Delete the file and run again.`);
  } finally {
    progress.stop();
  }
}
