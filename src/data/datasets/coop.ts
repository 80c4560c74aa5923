/**
 * The CoOp benchmark datasets with an official split file (plus FGVC-Aircraft, which uses the dataset's
 * own lists), in CoOp's on-disk layout (`--root` = CoOp's $DATA). Readers take the split file as the
 * ground truth; the class-name cleaning below is only used when generating a split, exactly as the
 * official dataset classes clean names before writing `split_zhou_*.json`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileError } from '../../util/errors.js';
import { readMatFile, matNumbers, matString, type MatValue } from '../matfile.js';
import { PyRandom, pyRound } from '../pyrandom.js';
import type { SplitEntry, SplitLists } from '../types.js';
import {
  readAndSplitData,
  readLines,
  readSplitDataset,
  splitTrainval,
  type DatasetContext,
  type DatasetDef,
  type RawLists,
} from './common.js';
import { gdrive, splitFile } from './sources.js';

/** Caltech101 (`caltech101.py`): background and easy-faces folders ignored, four names made singular. */
export const CALTECH_IGNORED = ['BACKGROUND_Google', 'Faces_easy'];
export const CALTECH_NEW_CNAMES: Record<string, string> = {
  airplanes: 'airplane',
  Faces: 'face',
  Leopards: 'leopard',
  Motorbikes: 'motorbike',
};

/** EuroSAT (`eurosat.py`): descriptive names for the ten folder names. */
export const EUROSAT_NEW_CNAMES: Record<string, string> = {
  AnnualCrop: 'Annual Crop Land',
  Forest: 'Forest',
  HerbaceousVegetation: 'Herbaceous Vegetation Land',
  Highway: 'Highway or Road',
  Industrial: 'Industrial Buildings',
  Pasture: 'Pasture Land',
  PermanentCrop: 'Permanent Crop Land',
  Residential: 'Residential Buildings',
  River: 'River',
  SeaLake: 'Sea or Lake',
};

/** OxfordPets: the breed is the image name without its trailing `_<number>`, lower-cased. */
export function petsBreed(imname: string): string {
  return imname.split('_').slice(0, -1).join('_').toLowerCase();
}

/** StanfordCars: the model year moves from the end to the front ("Tesla Model S Sedan 2012" → "2012 Tesla Model S Sedan"). */
export function carsClassName(metaName: string): string {
  const names = metaName.split(' ');
  const year = names.pop()!;
  names.unshift(year);
  return names.join(' ');
}

/** SUN397: "a/apartment_building/outdoor" → "outdoor apartment_building" (drop the letter, reverse). */
export function sunClassName(classPath: string): string {
  return classPath.split('/').slice(1).reverse().join(' ');
}

/** UCF101: CamelCase split with "_" ("ApplyEyeMakeup" → "Apply_Eye_Makeup"), Python's re.findall("[A-Z][^A-Z]*"). */
export function ucfClassName(action: string): string {
  return (action.match(/[A-Z][^A-Z]*/g) ?? []).join('_');
}

interface SplitDatasetSpec extends Pick<DatasetDef, 'reportName' | 'download'> {
  name: string;
  displayName: string;
  aliases: string[];
  template: string;
  dirName: string;
  imageDir: string;
  layout: string;
  generateRule: string;
  generate(ctx: DatasetContext, rng: PyRandom): SplitLists<SplitEntry>;
}

function splitDataset(spec: SplitDatasetSpec): DatasetDef {
  const def: DatasetDef = {
    name: spec.name,
    displayName: spec.displayName,
    aliases: spec.aliases,
    template: spec.template,
    dirName: spec.dirName,
    reportName: spec.reportName,
    download: spec.download,
    imageDir: spec.imageDir,
    splitFile: `split_zhou_${spec.displayName}.json`,
    layout: spec.layout,
    generateRule: spec.generateRule,
    read: (ctx, options) => readSplitDataset(def, ctx, options),
    // CoOp draws the split with the global `random` right after `random.seed(cfg.SEED)`.
    generateSplit: (ctx, seed) => spec.generate(ctx, new PyRandom(seed)),
  };
  return def;
}

const DTD_RULE =
  'DTD.read_and_split_data: classes = sorted sub-folders, per class shuffle the sorted image list, ' +
  'first round(n*0.5) train, next round(n*0.2) val, rest test';
const TRAINVAL_RULE = 'OxfordPets.split_trainval: per class shuffle the official trainval list, round(n*0.2) to val, rest to train; official test list as test';

export const caltech101 = splitDataset({
  name: 'caltech101',
  displayName: 'Caltech101',
  aliases: ['caltech', 'caltech-101'],
  template: 'a photo of a {}.',
  dirName: 'caltech-101',
  reportName: 'Caltech101',
  download: {
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
  imageDir: '101_ObjectCategories',
  layout: '<root>/caltech-101/101_ObjectCategories/<class>/*.jpg and <root>/caltech-101/split_zhou_Caltech101.json',
  generateRule: DTD_RULE + '; BACKGROUND_Google and Faces_easy ignored; airplanes/Faces/Leopards/Motorbikes renamed',
  generate: (ctx, rng) => readAndSplitData(ctx.imageDir, rng, { ignored: CALTECH_IGNORED, newCnames: CALTECH_NEW_CNAMES }),
});

export const dtd = splitDataset({
  name: 'dtd',
  displayName: 'DescribableTextures',
  aliases: ['describabletextures', 'describable_textures', 'textures'],
  template: '{} texture.',
  dirName: 'dtd',
  reportName: 'DTD',
  download: {
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
  imageDir: 'images',
  layout: '<root>/dtd/images/<class>/*.jpg and <root>/dtd/split_zhou_DescribableTextures.json',
  generateRule: DTD_RULE,
  generate: (ctx, rng) => readAndSplitData(ctx.imageDir, rng),
});

export const eurosat = splitDataset({
  name: 'eurosat',
  displayName: 'EuroSAT',
  aliases: ['euro_sat'],
  template: 'a centered satellite photo of {}.',
  dirName: 'eurosat',
  reportName: 'EuroSAT',
  download: {
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
  imageDir: '2750',
  layout: '<root>/eurosat/2750/<class>/*.jpg and <root>/eurosat/split_zhou_EuroSAT.json',
  generateRule: DTD_RULE + '; folder names replaced by the descriptive EuroSAT names',
  generate: (ctx, rng) => readAndSplitData(ctx.imageDir, rng, { newCnames: EUROSAT_NEW_CNAMES }),
});

export const food101 = splitDataset({
  name: 'food101',
  displayName: 'Food101',
  aliases: ['food', 'food-101'],
  template: 'a photo of {}, a type of food.',
  dirName: 'food-101',
  reportName: 'Food101',
  download: {
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
  imageDir: 'images',
  layout: '<root>/food-101/images/<class>/*.jpg and <root>/food-101/split_zhou_Food101.json',
  generateRule: DTD_RULE,
  generate: (ctx, rng) => readAndSplitData(ctx.imageDir, rng),
});

export const oxfordPets = splitDataset({
  name: 'oxford_pets',
  displayName: 'OxfordPets',
  aliases: ['pets', 'oxfordiiitpet', 'oxford_iiit_pet'],
  template: 'a photo of a {}, a type of pet.',
  dirName: 'oxford_pets',
  reportName: 'OxfordPets',
  download: {
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
  imageDir: 'images',
  layout: '<root>/oxford_pets/images/*.jpg, <root>/oxford_pets/annotations/{trainval,test}.txt and <root>/oxford_pets/split_zhou_OxfordPets.json',
  generateRule: TRAINVAL_RULE + ' (annotations/trainval.txt, annotations/test.txt); breed = image-name prefix, lower-cased',
  generate: (ctx, rng) => {
    const read = (name: string): SplitEntry[] => {
      const file = path.join(ctx.datasetDir, 'annotations', name);
      return readLines(file, 'Oxford-IIIT Pet annotation list')
        .filter((l) => !l.startsWith('#'))
        .map((line, i) => {
          const parts = line.split(' ');
          const label = Number(parts[1]);
          if (parts.length !== 4 || !Number.isInteger(label) || label < 1) {
            throw fileError(file, `line ${i + 1} should be "<image> <class id> <species> <breed id>"; got "${line}"`);
          }
          return { relpath: `${parts[0]}.jpg`, label: label - 1, classname: petsBreed(parts[0]) };
        });
    };
    const trainval = read('trainval.txt');
    const test = read('test.txt');
    const { train, val } = splitTrainval(trainval, rng, path.join(ctx.datasetDir, 'annotations', 'trainval.txt'));
    return { train, val, test };
  },
});

export const oxfordFlowers = splitDataset({
  name: 'oxford_flowers',
  displayName: 'OxfordFlowers',
  aliases: ['flowers', 'flowers102', 'flowers-102', 'oxford_flowers102', 'oxfordflowers102'],
  template: 'a photo of a {}, a type of flower.',
  dirName: 'oxford_flowers',
  reportName: 'Flowers102',
  download: {
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
  imageDir: 'jpg',
  layout: '<root>/oxford_flowers/jpg/image_XXXXX.jpg, imagelabels.mat, cat_to_name.json and split_zhou_OxfordFlowers.json',
  generateRule:
    'OxfordFlowers.read_data: images grouped by imagelabels.mat label (first-appearance order), each group shuffled, ' +
    'round(n*0.5) train, round(n*0.2) val, rest test; names from cat_to_name.json',
  generate: (ctx, rng) => {
    const labelFile = path.join(ctx.datasetDir, 'imagelabels.mat');
    const labels = matNumbers(readMatFile(labelFile).get('labels'), '"labels"', labelFile);
    const namesFile = path.join(ctx.datasetDir, 'cat_to_name.json');
    let lab2cname: Record<string, string>;
    try {
      lab2cname = JSON.parse(fs.readFileSync(namesFile, 'utf8'));
    } catch (e) {
      throw fileError(namesFile, `cannot read class names (${(e as Error).message})`);
    }
    const tracker = new Map<number, string[]>();
    labels.forEach((label, i) => {
      let l = tracker.get(label);
      if (!l) tracker.set(label, (l = []));
      l.push(`image_${String(i + 1).padStart(5, '0')}.jpg`);
    });
    const out: SplitLists<SplitEntry> = { train: [], val: [], test: [] };
    for (const [label, ims] of tracker) {
      rng.shuffle(ims);
      const n = ims.length;
      const nTrain = pyRound(n * 0.5);
      const nVal = pyRound(n * 0.2);
      if (nTrain <= 0 || nVal <= 0 || n - nTrain - nVal <= 0) {
        throw fileError(labelFile, `class ${label} has ${n} image(s), too few for a 50/20/30 split`);
      }
      const cname = lab2cname[String(label)];
      if (cname === undefined) throw fileError(namesFile, `has no name for class ${label}`);
      const e = (im: string): SplitEntry => ({ relpath: im, label: label - 1, classname: cname });
      out.train.push(...ims.slice(0, nTrain).map(e));
      out.val.push(...ims.slice(nTrain, nTrain + nVal).map(e));
      out.test.push(...ims.slice(nTrain + nVal).map(e));
    }
    return out;
  },
});

function matStructs(v: MatValue | undefined, what: string, file: string): Record<string, MatValue>[] {
  if (!v || v.kind !== 'struct') throw fileError(file, `${what} is missing or not a struct array`);
  return v.elements;
}

export const stanfordCars = splitDataset({
  name: 'stanford_cars',
  displayName: 'StanfordCars',
  aliases: ['cars', 'stanfordcars'],
  template: 'a photo of a {}.',
  dirName: 'stanford_cars',
  reportName: 'StanfordCars',
  download: {
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
  // Split paths are relative to the dataset folder ("cars_train/00001.jpg"), not to an image folder.
  imageDir: '',
  layout:
    '<root>/stanford_cars/{cars_train,cars_test}/*.jpg, devkit/{cars_train_annos,cars_meta}.mat, ' +
    'cars_test_annos_withlabels.mat and split_zhou_StanfordCars.json (paths relative to stanford_cars/)',
  generateRule: TRAINVAL_RULE + ' (devkit/cars_train_annos.mat, cars_test_annos_withlabels.mat); year moved to the front of the name',
  generate: (ctx, rng) => {
    const metaFile = path.join(ctx.datasetDir, 'devkit', 'cars_meta.mat');
    const meta = readMatFile(metaFile).get('class_names');
    if (!meta || meta.kind !== 'cell') throw fileError(metaFile, '"class_names" is missing or not a cell array');
    const classNames = meta.cells.map((c) => matString(c, 'a class name', metaFile));
    const read = (imageDir: string, annoFile: string): SplitEntry[] =>
      matStructs(readMatFile(annoFile).get('annotations'), '"annotations"', annoFile).map((a, i) => {
        const label = matNumbers(a.class, `annotations(${i + 1}).class`, annoFile)[0] - 1;
        const fname = matString(a.fname, `annotations(${i + 1}).fname`, annoFile);
        const name = classNames[label];
        if (name === undefined) throw fileError(annoFile, `annotations(${i + 1}) has class ${label + 1}, not in ${metaFile}`);
        return { relpath: `${imageDir}/${fname}`, label, classname: carsClassName(name) };
      });
    const trainval = read('cars_train', path.join(ctx.datasetDir, 'devkit', 'cars_train_annos.mat'));
    const test = read('cars_test', path.join(ctx.datasetDir, 'cars_test_annos_withlabels.mat'));
    const { train, val } = splitTrainval(trainval, rng, path.join(ctx.datasetDir, 'devkit', 'cars_train_annos.mat'));
    return { train, val, test };
  },
});

export const sun397 = splitDataset({
  name: 'sun397',
  displayName: 'SUN397',
  aliases: ['sun'],
  template: 'a photo of a {}.',
  dirName: 'sun397',
  reportName: 'SUN397',
  download: {
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
  imageDir: 'SUN397',
  layout: '<root>/sun397/SUN397/<letter>/<class>/*.jpg, ClassName.txt, Training_01.txt, Testing_01.txt and split_zhou_SUN397.json',
  generateRule: TRAINVAL_RULE + ' (Training_01.txt, Testing_01.txt, labels from ClassName.txt order); name = path words after the letter, reversed',
  generate: (ctx, rng) => {
    const classFile = path.join(ctx.datasetDir, 'ClassName.txt');
    const cname2lab = new Map<string, number>();
    readLines(classFile, 'SUN397 class list').forEach((l, i) => cname2lab.set(l.slice(1), i)); // drop the leading "/"
    const read = (name: string): SplitEntry[] => {
      const file = path.join(ctx.datasetDir, name);
      return readLines(file, 'SUN397 image list').map((line, i) => {
        const imname = line.slice(1);
        const classPath = path.posix.dirname(imname);
        const label = cname2lab.get(classPath);
        if (label === undefined) throw fileError(file, `line ${i + 1}: class "${classPath}" is not in ${classFile}`);
        return { relpath: imname, label, classname: sunClassName(classPath) };
      });
    };
    const trainval = read('Training_01.txt');
    const test = read('Testing_01.txt');
    const { train, val } = splitTrainval(trainval, rng, path.join(ctx.datasetDir, 'Training_01.txt'));
    return { train, val, test };
  },
});

export const ucf101 = splitDataset({
  name: 'ucf101',
  displayName: 'UCF101',
  aliases: ['ucf'],
  template: 'a photo of a person doing {}.',
  dirName: 'ucf101',
  reportName: 'UCF101',
  download: {
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
  imageDir: 'UCF-101-midframes',
  layout: '<root>/ucf101/UCF-101-midframes/<Class_Name>/*.jpg, ucfTrainTestlist/ and split_zhou_UCF101.json',
  generateRule: TRAINVAL_RULE + ' (ucfTrainTestlist/trainlist01.txt, testlist01.txt, labels from classInd.txt); CamelCase names split with "_"',
  generate: (ctx, rng) => {
    const listDir = path.join(ctx.datasetDir, 'ucfTrainTestlist');
    const classFile = path.join(listDir, 'classInd.txt');
    const cname2lab = new Map<string, number>();
    readLines(classFile, 'UCF101 class list').forEach((line, i) => {
      const [id, name] = line.split(' ');
      if (!name || !Number.isInteger(Number(id))) throw fileError(classFile, `line ${i + 1} should be "<id> <ClassName>"; got "${line}"`);
      cname2lab.set(name, Number(id) - 1);
    });
    const read = (name: string): SplitEntry[] => {
      const file = path.join(listDir, name);
      return readLines(file, 'UCF101 video list').map((line, i) => {
        const [action, filename] = line.split(' ')[0].split('/');
        const label = cname2lab.get(action);
        if (label === undefined || !filename) throw fileError(file, `line ${i + 1}: class "${action}" is not in ${classFile}`);
        const renamed = ucfClassName(action);
        return { relpath: `${renamed}/${filename.replace('.avi', '.jpg')}`, label, classname: renamed };
      });
    };
    const trainval = read('trainlist01.txt');
    const test = read('testlist01.txt');
    const { train, val } = splitTrainval(trainval, rng, path.join(listDir, 'trainlist01.txt'));
    return { train, val, test };
  },
});

/** FGVC-Aircraft: no split file; the dataset's own variant lists are the split (`fgvc_aircraft.py`). */
export const fgvcAircraft: DatasetDef = {
  name: 'fgvc_aircraft',
  displayName: 'FGVCAircraft',
  aliases: ['aircraft', 'fgvc', 'fgvcaircraft', 'fgvc-aircraft'],
  template: 'a photo of a {}, a type of aircraft.',
  dirName: 'fgvc_aircraft',
  reportName: 'FGVCAircraft',
  download: {
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
  imageDir: 'images',
  layout:
    '<root>/fgvc_aircraft/ (the data/ folder of fgvc-aircraft-2013b): images/*.jpg, variants.txt, ' +
    'images_variant_{train,val,test}.txt',
  read(ctx: DatasetContext): RawLists {
    const variantsFile = path.join(ctx.datasetDir, 'variants.txt');
    const cname2lab = new Map<string, number>();
    readLines(variantsFile, 'FGVC-Aircraft variant list').forEach((c, i) => cname2lab.set(c, i));
    const read = (name: string): SplitEntry[] => {
      const file = path.join(ctx.datasetDir, name);
      return readLines(file, 'FGVC-Aircraft image list').map((line, i) => {
        const parts = line.split(' ');
        const classname = parts.slice(1).join(' ');
        const label = cname2lab.get(classname);
        if (label === undefined) throw fileError(file, `line ${i + 1}: variant "${classname}" is not in ${variantsFile}`);
        return { relpath: `${parts[0]}.jpg`, label, classname };
      });
    };
    return {
      train: read('images_variant_train.txt'),
      val: read('images_variant_val.txt'),
      test: read('images_variant_test.txt'),
      source: path.join(ctx.datasetDir, 'images_variant_{train,val,test}.txt'),
      fromSplitFile: true,
    };
  },
};
