import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from '../helpers.js';
import { cacheDir } from '../../src/net/cache.js';
import { UserError } from '../../src/util/errors.js';
import { describeDataset, generateSplit, loadDataset } from '../../src/data/dataset.js';
import { DATASET_NAMES, DATASETS, getDataset } from '../../src/data/datasets/index.js';
import { CATALOGUE, findDataset } from '../../src/data/download.js';
import { datasetDisplayName, sortDatasets } from '../../src/report/names.js';
import { datasetPrompt } from '../../src/prompting/templates.js';
import { carsClassName, petsBreed, sunClassName, ucfClassName } from '../../src/data/datasets/coop.js';
import { readMatFile } from '../../src/data/matfile.js';
import { readSplitFile } from '../../src/data/splits.js';
import { makeSplitTree, writeImages, writeJson, writeMat } from './fixtures.js';

function userError(fn: () => unknown, ...what: (string | RegExp)[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${e}`);
    for (const w of what) {
      if (typeof w === 'string') assert.ok(e.message.includes(w), `message should contain "${w}": ${e.message}`);
      else assert.match(e.message, w);
    }
    return true;
  });
}

test('registry: canonical names, Dassl names and aliases in any case/punctuation', () => {
  assert.deepEqual(DATASET_NAMES, [
    'imagenet', 'caltech101', 'oxford_pets', 'stanford_cars', 'oxford_flowers', 'food101', 'fgvc_aircraft', 'sun397',
    'dtd', 'eurosat', 'ucf101', 'imagenet_v2', 'imagenet_sketch', 'imagenet_a', 'imagenet_r', 'synthshapes', 'imagefolder', 'jsonlist',
  ]);
  const cases: Record<string, string> = {
    EuroSAT: 'eurosat', OxfordPets: 'oxford_pets', Flowers102: 'oxford_flowers', DescribableTextures: 'dtd',
    'ImageNet-A': 'imagenet_a', ImageNetV2: 'imagenet_v2', 'fgvc-aircraft': 'fgvc_aircraft', FGVCAircraft: 'fgvc_aircraft',
    StanfordCars: 'stanford_cars', 'Caltech-101': 'caltech101', SUN397: 'sun397', UCF101: 'ucf101', Food101: 'food101',
    ImageNetSketch: 'imagenet_sketch', ImageNetR: 'imagenet_r', IMAGENET: 'imagenet',
  };
  for (const [input, name] of Object.entries(cases)) assert.equal(getDataset(input).name, name, input);
  userError(() => getDataset('cifar10'), 'unknown dataset "cifar10"', 'valid names: imagenet, caltech101', 'jsonlist');
});

test('zero-shot templates per dataset (CoOp CUSTOM_TEMPLATES)', () => {
  const t = (n: string) => getDataset(n).template;
  assert.equal(t('oxford_pets'), 'a photo of a {}, a type of pet.');
  assert.equal(t('oxford_flowers'), 'a photo of a {}, a type of flower.');
  assert.equal(t('fgvc_aircraft'), 'a photo of a {}, a type of aircraft.');
  assert.equal(t('dtd'), '{} texture.');
  assert.equal(t('eurosat'), 'a centered satellite photo of {}.');
  assert.equal(t('food101'), 'a photo of {}, a type of food.');
  assert.equal(t('ucf101'), 'a photo of a person doing {}.');
  for (const n of ['stanford_cars', 'sun397', 'caltech101', 'imagenet', 'imagenet_v2', 'imagenet_sketch', 'imagenet_a', 'imagenet_r']) {
    assert.equal(t(n), 'a photo of a {}.', n);
  }
});

test('class-name cleaning helpers', () => {
  assert.equal(carsClassName('Tesla Model S Sedan 2012'), '2012 Tesla Model S Sedan');
  assert.equal(sunClassName('a/apartment_building/outdoor'), 'outdoor apartment_building');
  assert.equal(sunClassName('a/abbey'), 'abbey');
  assert.equal(ucfClassName('ApplyEyeMakeup'), 'Apply_Eye_Makeup');
  assert.equal(ucfClassName('YoYo'), 'Yo_Yo');
  assert.equal(petsBreed('american_pit_bull_terrier_102'), 'american_pit_bull_terrier');
  assert.equal(petsBreed('Abyssinian_1'), 'abyssinian');
});

// One CoOp-layout tree per split-file dataset: 3 classes, 3/2/2 images, tiny split file.
const SPLIT_TREES: { name: string; dir: string; images: string; split: string; classes: [string, string][] }[] = [
  { name: 'caltech101', dir: 'caltech-101', images: '101_ObjectCategories', split: 'Caltech101', classes: [['Faces/image_', 'face'], ['accordion/image_', 'accordion'], ['airplanes/image_', 'airplane']] },
  { name: 'oxford_pets', dir: 'oxford_pets', images: 'images', split: 'OxfordPets', classes: [['Abyssinian_', 'abyssinian'], ['american_bulldog_', 'american_bulldog'], ['beagle_', 'beagle']] },
  { name: 'stanford_cars', dir: 'stanford_cars', images: '', split: 'StanfordCars', classes: [['cars_train/a', '2012 Tesla Model S Sedan'], ['cars_train/b', '2007 BMW X5 SUV'], ['cars_train/c', '2012 Audi TTS Coupe']] },
  { name: 'oxford_flowers', dir: 'oxford_flowers', images: 'jpg', split: 'OxfordFlowers', classes: [['image_a', 'pink primrose'], ['image_b', 'hard-leaved pocket orchid'], ['image_c', 'canterbury bells']] },
  { name: 'food101', dir: 'food-101', images: 'images', split: 'Food101', classes: [['apple_pie/', 'apple_pie'], ['baby_back_ribs/', 'baby_back_ribs'], ['baklava/', 'baklava']] },
  { name: 'sun397', dir: 'sun397', images: 'SUN397', split: 'SUN397', classes: [['a/abbey/sun_', 'abbey'], ['a/apartment_building/outdoor/sun_', 'outdoor apartment_building'], ['b/bakery/shop/sun_', 'shop bakery']] },
  { name: 'dtd', dir: 'dtd', images: 'images', split: 'DescribableTextures', classes: [['banded/banded_', 'banded'], ['blotchy/blotchy_', 'blotchy'], ['braided/braided_', 'braided']] },
  { name: 'eurosat', dir: 'eurosat', images: '2750', split: 'EuroSAT', classes: [['AnnualCrop/AnnualCrop_', 'Annual Crop Land'], ['Forest/Forest_', 'Forest'], ['SeaLake/SeaLake_', 'Sea or Lake']] },
  { name: 'ucf101', dir: 'ucf101', images: 'UCF-101-midframes', split: 'UCF101', classes: [['Apply_Eye_Makeup/v_ApplyEyeMakeup_', 'Apply_Eye_Makeup'], ['Archery/v_Archery_', 'Archery'], ['Yo_Yo/v_YoYo_', 'Yo_Yo']] },
];

test('the nine split-file readers on CoOp-layout trees: lists, class names, few-shot, base/new, absolute paths', async () => {
  const root = tmpDir();
  for (const t of SPLIT_TREES) {
    const datasetDir = path.join(root, t.dir);
    await makeSplitTree(
      datasetDir,
      t.images,
      `split_zhou_${t.split}.json`,
      t.classes.map(([prefix, name], label) => ({ prefix, label, name })),
    );
    const full = loadDataset(t.name, { root });
    assert.equal(full.displayName, t.split, t.name);
    assert.deepEqual(full.classnames, t.classes.map((c) => c[1]), t.name);
    assert.deepEqual([full.train.length, full.val.length, full.test.length], [9, 6, 6], t.name);
    assert.equal(full.root, path.join(datasetDir, t.images));
    assert.equal(full.template, getDataset(t.name).template);
    for (const d of [...full.train, ...full.test]) {
      assert.ok(path.isAbsolute(d.impath) && fs.existsSync(d.impath), d.impath);
    }
    // 2 shots per class for train, min(2, 4) = 2 for val, then the base half: ceil(3/2) = 2 classes
    const base = loadDataset(t.name, { root, shots: 2, seed: 1, subsample: 'base' });
    assert.deepEqual(base.classnames, t.classes.slice(0, 2).map((c) => c[1]), t.name);
    assert.deepEqual([base.train.length, base.val.length, base.test.length], [4, 4, 4], t.name);
    assert.deepEqual(base.fewshot, { shots: 2, seed: 1, cacheFile: path.join(datasetDir, 'split_fewshot', 'shot_2-seed_1.json'), fromCache: false });
    const novel = loadDataset(t.name, { root, shots: 2, seed: 1, subsample: 'new' });
    assert.deepEqual(novel.classnames, [t.classes[2][1]]);
    assert.equal(novel.fewshot?.fromCache, true, 'base and new runs of one seed share the cached subset');
    assert.deepEqual(novel.test.map((d) => d.label), [0, 0]);
  }
  // --root may also be the dataset folder itself
  assert.equal(loadDataset('dtd', { root: path.join(root, 'dtd') }).train.length, 9);
});

test('FGVC-Aircraft reads variants.txt and images_variant_*.txt', async () => {
  const root = tmpDir();
  const dir = path.join(root, 'fgvc_aircraft');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'variants.txt'), '707-320\nA300B4\nBoeing 717\n');
  const lists: Record<string, string[]> = {
    train: ['1000001 707-320', '1000002 A300B4', '1000003 Boeing 717', '1000004 707-320'],
    val: ['1000005 A300B4', '1000006 Boeing 717'],
    test: ['1000007 707-320', '1000008 Boeing 717'],
  };
  const images: string[] = [];
  for (const [s, lines] of Object.entries(lists)) {
    fs.writeFileSync(path.join(dir, `images_variant_${s}.txt`), lines.join('\n') + '\n');
    for (const l of lines) images.push(path.join(dir, 'images', `${l.split(' ')[0]}.jpg`));
  }
  await writeImages(images);
  const ds = loadDataset('fgvc_aircraft', { root });
  assert.deepEqual(ds.classnames, ['707-320', 'A300B4', 'Boeing 717']);
  assert.deepEqual(ds.train.map((d) => d.label), [0, 1, 2, 0]);
  assert.equal(ds.test[1].impath, path.join(dir, 'images', '1000008.jpg'));
  fs.appendFileSync(path.join(dir, 'images_variant_test.txt'), '1000009 Concorde\n');
  userError(() => loadDataset('fgvc_aircraft', { root }), 'images_variant_test.txt', 'line 3: variant "Concorde" is not in');
});

test('ImageNet: classnames.txt, sorted wnid folders, val = test, few-shot on train only', async () => {
  const root = tmpDir();
  const dir = path.join(root, 'imagenet');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'classnames.txt'), 'n01440764 tench\nn01443537 goldfish\nn01484850 great white shark\n');
  const files: string[] = [];
  for (const w of ['n01484850', 'n01440764', 'n01443537']) {
    for (let i = 0; i < 3; i++) files.push(path.join(dir, 'images', 'train', w, `${w}_${i}.JPEG`));
    files.push(path.join(dir, 'images', 'val', w, `ILSVRC2012_val_${w}.JPEG`));
  }
  await writeImages(files);
  const ds = loadDataset('imagenet', { root, shots: 2, seed: 1 });
  assert.deepEqual(ds.classnames, ['tench', 'goldfish', 'great white shark']);
  assert.equal(ds.train.length, 6);
  assert.equal(ds.test.length, 3);
  assert.deepEqual(ds.val, ds.test);
  const cache = JSON.parse(fs.readFileSync(path.join(dir, 'split_fewshot', 'shot_2-seed_1.json'), 'utf8'));
  assert.deepEqual(cache.val, []);
  assert.match(cache.train[0][0], /^train\/n0/);
});

test('ImageNet variants: V2 numbered folders, Sketch/A/R sorted wnid folders relabelled, test only', async () => {
  const root = tmpDir();
  const names = 'n01440764 tench\nn01443537 goldfish\nn01484850 great white shark\nn01491361 tiger shark\n';
  const files: string[] = [];
  const v2 = path.join(root, 'imagenetv2');
  for (let i = 0; i < 4; i++) files.push(path.join(v2, 'imagenetv2-matched-frequency-format-val', String(i), `x${i}.jpeg`));
  const sketch = path.join(root, 'imagenet-sketch');
  for (const w of ['n01440764', 'n01443537', 'n01484850', 'n01491361']) files.push(path.join(sketch, 'images', w, 'sketch_1.JPEG'));
  const a = path.join(root, 'imagenet-adversarial');
  const r = path.join(root, 'imagenet-rendition');
  for (const w of ['n01491361', 'n01443537']) {
    files.push(path.join(a, 'imagenet-a', w, '0.jpg'), path.join(r, 'imagenet-r', w, 'art_0.jpg'));
  }
  await writeImages(files);
  for (const d of [v2, sketch, a, r]) fs.writeFileSync(path.join(d, 'classnames.txt'), names);
  fs.writeFileSync(path.join(a, 'imagenet-a', 'README.txt'), 'readme');

  const dv2 = loadDataset('imagenet_v2', { root, shots: 16 });
  assert.deepEqual(dv2.classnames, ['tench', 'goldfish', 'great white shark', 'tiger shark']);
  assert.deepEqual([dv2.train.length, dv2.val.length, dv2.test.length], [0, 0, 4]);
  assert.equal(loadDataset('imagenet_sketch', { root }).test.length, 4);
  for (const n of ['imagenet_a', 'imagenet_r']) {
    const ds = loadDataset(n, { root });
    assert.deepEqual(ds.classnames, ['goldfish', 'tiger shark'], n); // 2 sorted folders → labels 0, 1
    assert.deepEqual(ds.test.map((d) => d.label), [0, 1]);
  }
  userError(() => loadDataset('imagenet_a', { root, subsample: 'base' }), 'test-only');
});

test('missing official split: says which file and where to get it, offers generation; generated split only with the flag', async () => {
  const root = tmpDir();
  const dir = path.join(root, 'eurosat');
  const files: string[] = [];
  for (const c of ['AnnualCrop', 'SeaLake']) for (let i = 0; i < 5; i++) files.push(path.join(dir, '2750', c, `${c}_${i}.jpg`));
  await writeImages(files);
  const official = path.join(dir, 'split_zhou_EuroSAT.json');
  userError(
    () => loadDataset('eurosat', { root }),
    official,
    'split file not found',
    'github.com/KaiyangZhou/CoOp/blob/main/DATASETS.md',
    'huggingface.co/datasets/zhengli97/prompt_learning_dataset',
    `mpl data split eurosat --root ${root} --generate`,
  );

  const r = generateSplit('eurosat', { root, seed: 1 });
  assert.equal(r.file, path.join(dir, 'split_mpl_generated_EuroSAT.json'));
  assert.deepEqual(r.counts, { train: 4, val: 2, test: 4, classes: 2 });
  const json = JSON.parse(fs.readFileSync(r.file, 'utf8'));
  assert.match(json.mpl_generated_split.note, /NOT the official CoOp split/);
  // DTD rule on sorted lists with Python's shuffle (expected lists from CPython: random.seed(1), shuffle per class)
  assert.deepEqual(json.train, [
    ['AnnualCrop/AnnualCrop_2.jpg', 0, 'Annual Crop Land'],
    ['AnnualCrop/AnnualCrop_3.jpg', 0, 'Annual Crop Land'],
    ['SeaLake/SeaLake_0.jpg', 1, 'Sea or Lake'],
    ['SeaLake/SeaLake_2.jpg', 1, 'Sea or Lake'],
  ]);
  assert.deepEqual(json.val.map((e: unknown[]) => e[0]), ['AnnualCrop/AnnualCrop_4.jpg', 'SeaLake/SeaLake_1.jpg']);
  userError(() => generateSplit('eurosat', { root }), 'already exists; pass --force');
  generateSplit('eurosat', { root, force: true });

  userError(() => loadDataset('eurosat', { root }), 'pass --allow-generated-split to use it');
  const warnings: string[] = [];
  const ds = loadDataset('eurosat', {
    root,
    allowGeneratedSplit: true,
    reporter: { info() {}, warn: (m) => void warnings.push(m), progress: () => ({ update() {}, stop() {} }) },
  });
  assert.deepEqual(ds.classnames, ['Annual Crop Land', 'Sea or Lake']);
  assert.match(warnings[0], /NOT the official CoOp split/);
  // a generated file passed explicitly is still refused without the flag
  userError(() => loadDataset('eurosat', { root, splitFile: r.file }), 'generated (unofficial) split');
  userError(() => generateSplit('fgvc_aircraft', { root }), 'no split to generate');
});

test('split generation per dataset: Caltech ignore/rename, Pets breeds, SUN397 names, UCF101 CamelCase, Cars year first, Flowers', async () => {
  const root = tmpDir();
  // Caltech101: DTD rule with ignored folders and renames
  const cal = path.join(root, 'caltech-101', '101_ObjectCategories');
  const files: string[] = [];
  for (const c of ['BACKGROUND_Google', 'Faces', 'Faces_easy', 'Leopards', 'airplanes']) for (let i = 0; i < 4; i++) files.push(path.join(cal, c, `image_000${i}.jpg`));
  await writeImages(files);
  const calSplit = readSplitFile(generateSplit('caltech101', { root }).file);
  assert.deepEqual([...new Set(calSplit.train.map((e) => `${e.label}:${e.classname}`))], ['0:face', '1:leopard', '2:airplane']);
  assert.deepEqual([calSplit.train.length, calSplit.val.length, calSplit.test.length], [6, 3, 3]); // n=4: 2/1/1

  // OxfordPets: annotations lists, breed from the image name, 80/20 of trainval per class
  const pets = path.join(root, 'oxford_pets', 'annotations');
  fs.mkdirSync(pets, { recursive: true });
  const tv = [1, 2, 3, 4, 5].map((i) => `Abyssinian_${i} 1 1 1`).concat([1, 2, 3, 4, 5].map((i) => `american_bulldog_${i} 2 2 1`));
  fs.writeFileSync(path.join(pets, 'trainval.txt'), tv.join('\n') + '\n');
  fs.writeFileSync(path.join(pets, 'test.txt'), 'Abyssinian_9 1 1 1\namerican_bulldog_9 2 2 1\n');
  const petSplit = readSplitFile(generateSplit('oxford_pets', { root, seed: 7 }).file);
  assert.deepEqual([...new Set(petSplit.train.map((e) => e.classname))], ['abyssinian', 'american_bulldog']);
  // round(5 * 0.2) = 1 val per class; CPython random.seed(7); shuffle(range(5)) → [4, 0, 3, 1, 2]
  assert.equal(petSplit.val[0].relpath, 'Abyssinian_5.jpg');
  assert.deepEqual(petSplit.train.slice(0, 4).map((e) => e.relpath), ['Abyssinian_1.jpg', 'Abyssinian_4.jpg', 'Abyssinian_2.jpg', 'Abyssinian_3.jpg']);
  assert.deepEqual([petSplit.train.length, petSplit.val.length], [8, 2]);
  assert.deepEqual(petSplit.test.map((e) => e.relpath), ['Abyssinian_9.jpg', 'american_bulldog_9.jpg']);

  // SUN397: ClassName.txt order, "outdoor apartment_building"
  const sun = path.join(root, 'sun397');
  fs.mkdirSync(sun, { recursive: true });
  fs.writeFileSync(path.join(sun, 'ClassName.txt'), '/a/abbey\n/a/apartment_building/outdoor\n');
  const sunLines = (n: number, tag: string) =>
    Array.from({ length: n }, (_, i) => [`/a/abbey/sun_${tag}${i}.jpg`, `/a/apartment_building/outdoor/sun_${tag}${i}.jpg`]).flat().join('\n');
  fs.writeFileSync(path.join(sun, 'Training_01.txt'), sunLines(5, 'tr'));
  fs.writeFileSync(path.join(sun, 'Testing_01.txt'), sunLines(1, 'te'));
  const sunSplit = readSplitFile(generateSplit('sun397', { root }).file);
  assert.deepEqual([...new Set(sunSplit.train.map((e) => e.classname))], ['abbey', 'outdoor apartment_building']);
  assert.equal(sunSplit.test[1].relpath, 'a/apartment_building/outdoor/sun_te0.jpg');

  // UCF101: classInd + trainlist01/testlist01, CamelCase split, .avi → .jpg
  const ucf = path.join(root, 'ucf101', 'ucfTrainTestlist');
  fs.mkdirSync(ucf, { recursive: true });
  fs.writeFileSync(path.join(ucf, 'classInd.txt'), '1 ApplyEyeMakeup\n2 YoYo\n');
  fs.writeFileSync(
    path.join(ucf, 'trainlist01.txt'),
    [1, 2, 3, 4, 5].flatMap((i) => [`ApplyEyeMakeup/v_ApplyEyeMakeup_g0${i}_c01.avi 1`, `YoYo/v_YoYo_g0${i}_c01.avi 2`]).join('\n'),
  );
  fs.writeFileSync(path.join(ucf, 'testlist01.txt'), 'ApplyEyeMakeup/v_ApplyEyeMakeup_g09_c01.avi\nYoYo/v_YoYo_g09_c01.avi\n');
  const ucfSplit = readSplitFile(generateSplit('ucf101', { root }).file);
  assert.deepEqual(ucfSplit.test.map((e) => [e.relpath, e.classname]), [
    ['Apply_Eye_Makeup/v_ApplyEyeMakeup_g09_c01.jpg', 'Apply_Eye_Makeup'],
    ['Yo_Yo/v_YoYo_g09_c01.jpg', 'Yo_Yo'],
  ]);

  // StanfordCars: devkit .mat files (one of them zlib-compressed, as MATLAB writes them), year first
  const cars = path.join(root, 'stanford_cars');
  const annos = (prefix: string, n: number) => ({
    struct: Array.from({ length: n }, (_, i) => ({ bbox_x1: [1], class: [(i % 2) + 1], fname: `${prefix}${String(i + 1).padStart(5, '0')}.jpg` })),
  });
  writeMat(path.join(cars, 'devkit', 'cars_meta.mat'), { class_names: { cell: ['Tesla Model S Sedan 2012', 'BMW X5 SUV 2007'] } });
  writeMat(path.join(cars, 'devkit', 'cars_train_annos.mat'), { annotations: annos('', 10) }, true);
  writeMat(path.join(cars, 'cars_test_annos_withlabels.mat'), { annotations: annos('', 2) });
  const carSplit = readSplitFile(generateSplit('stanford_cars', { root }).file);
  assert.deepEqual([...new Set(carSplit.train.map((e) => e.classname))], ['2012 Tesla Model S Sedan', '2007 BMW X5 SUV']);
  assert.deepEqual(carSplit.test.map((e) => e.relpath), ['cars_test/00001.jpg', 'cars_test/00002.jpg']);
  assert.equal(carSplit.train.length + carSplit.val.length, 10);

  // Flowers102: imagelabels.mat (1-based labels, first-appearance order) + cat_to_name.json, 50/20/30
  const fl = path.join(root, 'oxford_flowers');
  writeMat(path.join(fl, 'imagelabels.mat'), { labels: [2, 1, 2, 1, 2, 1, 2, 1, 2, 1] });
  writeJson(path.join(fl, 'cat_to_name.json'), { '1': 'pink primrose', '2': 'hard-leaved pocket orchid' });
  const flSplit = readSplitFile(generateSplit('oxford_flowers', { root }).file);
  assert.deepEqual(flSplit.train.map((e) => e.label), [1, 1, 0, 0]); // label 2 appears first → its group first
  assert.equal(flSplit.train[2].classname, 'pink primrose');
  assert.deepEqual([flSplit.train.length, flSplit.val.length, flSplit.test.length], [4, 2, 4]);
});

test('MAT reader: numbers, strings, cells, structs, compressed', () => {
  const f = path.join(tmpDir(), 'x.mat');
  writeMat(f, { a: [1.5, 2], s: 'hello', c: { cell: ['x', 'yz'] }, st: { struct: [{ k: [3], n: 'p' }] } }, true);
  const v = readMatFile(f);
  assert.deepEqual(v.get('a'), { kind: 'numeric', dims: [1, 2], data: [1.5, 2] });
  assert.deepEqual(v.get('s'), { kind: 'char', dims: [1, 5], rows: ['hello'] });
  const c = v.get('c');
  assert.ok(c?.kind === 'cell' && c.cells.length === 2);
  const st = v.get('st');
  assert.ok(st?.kind === 'struct' && st.fields.join() === 'k,n');
  const bad = path.join(tmpDir(), 'bad.mat');
  fs.writeFileSync(bad, 'not a mat file');
  userError(() => readMatFile(bad), bad, 'not a MATLAB v5 file');
});

test('imagefolder without split folders: sorted classes, "_" → space, seeded 50/20/30 split, deterministic', async () => {
  const root = tmpDir();
  const files: string[] = [];
  for (const c of ['golden_retriever', 'Cat', 'zebra']) for (let i = 0; i < 6; i++) files.push(path.join(root, c, `${i}.png`));
  await writeImages(files);
  fs.mkdirSync(path.join(root, '.hidden'));
  fs.writeFileSync(path.join(root, 'zebra', 'notes.txt'), 'not an image');
  const a = loadDataset('imagefolder', { root, shots: 1, seed: 2 });
  assert.deepEqual(a.classnames, ['Cat', 'golden retriever', 'zebra']); // Python/code-point order: upper case first
  const full = loadDataset('imagefolder', { root });
  assert.deepEqual([full.train.length, full.val.length, full.test.length], [9, 3, 6]); // n=6: round(3)=3, round(1.2)=1, 2
  assert.deepEqual(loadDataset('imagefolder', { root }).train, full.train);
  // the user's folder is never written into: the few-shot cache is in the tool's cache, keyed by the folder
  assert.ok(!fs.existsSync(path.join(root, 'split_fewshot')));
  assert.ok(a.fewshot!.cacheFile!.startsWith(path.join(cacheDir(), 'fewshot')), a.fewshot!.cacheFile);
  assert.ok(fs.existsSync(a.fewshot!.cacheFile!));
  assert.equal(loadDataset('imagefolder', { root, shots: 1, seed: 2 }).classnames.length, 3);
  assert.notDeepEqual(loadDataset('imagefolder', { root, splitSeed: 5 }).train, full.train);

  fs.mkdirSync(path.join(root, 'empty_class'));
  userError(() => loadDataset('imagefolder', { root }), path.join(root, 'empty_class'), 'class folder has no images');
});

test('imagefolder: tiny classes still get a test image; a single image is too few', async () => {
  const root = tmpDir();
  await writeImages([0, 1, 2].map((i) => path.join(root, 'three', `${i}.jpg`)).concat([path.join(root, 'two', 'a.jpg'), path.join(root, 'two', 'b.jpg')]));
  const ds = loadDataset('imagefolder', { root });
  const count = (list: { classname: string }[], c: string) => list.filter((d) => d.classname === c).length;
  assert.deepEqual([count(ds.train, 'three'), count(ds.val, 'three'), count(ds.test, 'three')], [2, 0, 1]);
  assert.deepEqual([count(ds.train, 'two'), count(ds.val, 'two'), count(ds.test, 'two')], [1, 0, 1]);
  await writeImages([path.join(root, 'one', 'x.jpg')]);
  userError(() => loadDataset('imagefolder', { root }), path.join(root, 'one'), 'too few');
});

test('imagefolder with train/ val/ test/ folders', async () => {
  const root = tmpDir();
  const files: string[] = [];
  for (const s of ['train', 'test']) for (const c of ['a', 'b']) for (let i = 0; i < 2; i++) files.push(path.join(root, s, c, `${i}.jpg`));
  await writeImages(files);
  const ds = loadDataset('imagefolder', { root });
  assert.deepEqual([ds.train.length, ds.val.length, ds.test.length], [4, 0, 4]);
  assert.equal(ds.test[3].impath, path.join(root, 'test', 'b', '1.jpg'));
  await writeImages([path.join(root, 'test', 'c', '0.jpg')]);
  userError(() => loadDataset('imagefolder', { root }), path.join(root, 'test', 'c'), 'not in');
  fs.rmSync(path.join(root, 'test'), { recursive: true });
  userError(() => loadDataset('imagefolder', { root }), 'also needs test/');
});

test('jsonlist: a split-format file, paths relative to it, val optional', async () => {
  const root = tmpDir();
  await writeImages([path.join(root, 'imgs', 'x.jpg'), path.join(root, 'imgs', 'y.jpg')]);
  const file = path.join(root, 'my.json');
  writeJson(file, { train: [['imgs/x.jpg', 0, 'ex']], test: [['imgs/y.jpg', 0, 'ex']] });
  const ds = loadDataset('jsonlist', { root: file });
  assert.deepEqual(ds.classnames, ['ex']);
  assert.equal(ds.test[0].impath, path.join(root, 'imgs', 'y.jpg'));
  assert.equal(ds.val.length, 0);
  writeJson(file, { train: [['imgs/x.jpg', 0, 'ex']], test: [['imgs/y.jpg', 3, 'why']] });
  userError(() => loadDataset('jsonlist', { root: file }), file, 'label 3');
  userError(() => loadDataset('jsonlist', { root: path.join(root, 'nope.json') }), 'nope.json', 'split list not found');
});

test('describeDataset: class list, base/new halves, few-shot subset without writing a cache', async () => {
  const root = tmpDir();
  await makeSplitTree(path.join(root, 'dtd'), 'images', 'split_zhou_DescribableTextures.json', [
    { prefix: 'banded/b_', label: 0, name: 'banded' },
    { prefix: 'blotchy/b_', label: 1, name: 'blotchy' },
    { prefix: 'braided/b_', label: 2, name: 'braided' },
  ]);
  const info = describeDataset('DescribableTextures', { root, shots: 2, seed: 3 });
  assert.deepEqual(info.baseClasses, ['banded', 'blotchy']);
  assert.deepEqual(info.newClasses, ['braided']);
  assert.deepEqual(info.counts, { train: 9, val: 6, test: 6 });
  assert.equal(info.fewshot?.train.length, 6);
  assert.equal(fs.existsSync(path.join(root, 'dtd', 'split_fewshot')), false);
});

test('missing dataset folder explains the expected layout', () => {
  const root = tmpDir();
  userError(() => loadDataset('oxford_pets', { root }), path.join(root, 'oxford_pets'), 'OxfordPets folder not found', 'split_zhou_OxfordPets.json');
  userError(() => loadDataset('dtd', { root: path.join(root, 'missing') }), 'data root folder not found');
});

test('one definition per dataset: the downloader, the reader, the template and the reports read the same one', () => {
  const benchmarks = DATASETS.filter((d) => d.reportName);
  const downloadable = DATASETS.filter((d) => d.download);
  assert.equal(downloadable.length, 15, 'the 11 benchmarks and the 4 ImageNet variants');
  for (const d of benchmarks) {
    assert.equal(datasetDisplayName(d.name), d.reportName);
    assert.equal(datasetPrompt(d.name).template, d.template);
    if (!d.download) continue; // generated (SynthShapes)
    const entry = findDataset(d.name);
    assert.equal(entry.dir, d.dirName, `${d.name}: downloaded where it is read`);
    assert.equal(findDataset(entry.name).dir, d.dirName, `${d.name}: the downloader's name finds it`);
    if (d.splitFile) assert.ok(entry.expect.includes(d.splitFile), `${d.name}: the download expects ${d.splitFile}`);
    if (d.imageDir) assert.ok(entry.expect.some((p) => p === d.imageDir || p.startsWith(`${d.imageDir}/`)), `${d.name}: the download provides ${d.imageDir}`);
  }
  assert.deepEqual(sortDatasets(benchmarks.map((d) => d.name).reverse()), benchmarks.map((d) => d.name), 'reports order them as the registry does');
  assert.deepEqual(CATALOGUE.map((e) => e.dir), downloadable.map((d) => d.dirName), 'the download catalogue is the datasets that have a download spec');
});
