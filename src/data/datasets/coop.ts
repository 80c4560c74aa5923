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

interface SplitDatasetSpec {
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
