/**
 * A generated ImageNet-layout tree (CoOp's layout: src/data/datasets/imagenet.ts) of any size, for the data
 * benchmark at ImageNet scale (`mpl bench imagenet-data`: 1,000 class folders, 1.28M files) and the tests
 * (test/data/imagenet-scale.test.ts, test/e2e/imagenet-scale.test.ts). Never shipped: written on demand.
 *
 *   imagenet/classnames.txt                      "<wnid> <name>", 1,000 lines
 *   imagenet/images/{train,val}/<wnid>/*.JPEG
 *   imagenetv2/imagenetv2-matched-frequency-format-val/{0..999}/*.jpeg + classnames.txt
 *   imagenet-sketch/images/<wnid>/*.JPEG + classnames.txt
 *   imagenet-adversarial/imagenet-a/<wnid>/*.jpg (200 of the classes) + README.txt + classnames.txt
 *   imagenet-rendition/imagenet-r/<wnid>/*.jpg (200 of the classes) + README.txt + classnames.txt
 *
 * Files are hard links to one file per class: an empty file (listing and sampling only), or a tiny JPEG of
 * the class's own colour (the protocols decode them). One inode per class keeps a 1.28M-file tree to
 * seconds of writing and a few MB of disk.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';

export interface ImagenetTreeOptions {
  /** class folders (default 1,000) */
  classes?: number;
  trainPerClass: number;
  valPerClass: number;
  /** 'empty' files, or 'jpeg': a decodable 16×16 JPEG per class (default 'empty') */
  content?: 'empty' | 'jpeg';
  /** images per class of each test-only variant (V2, Sketch; A and R on 200 classes); 0 = no variants */
  variantPerClass?: number;
  /** classes of ImageNet-A and -R (default 200, or all when there are fewer) */
  subsetClasses?: number;
}

export interface ImagenetTree {
  wnids: string[];
  classnames: string[];
  /** the wnids of ImageNet-A and -R */
  subset: string[];
  files: number;
}

const WORDS_A = ['red', 'small', 'spotted', 'golden', 'wild', 'northern', 'giant', 'striped', 'common', 'pale', 'black', 'grey', 'water', 'mountain', 'desert', 'sea', 'house', 'toy', 'garden', 'snow'];
const WORDS_B = ['fox', 'heron', 'lizard', 'beetle', 'shark', 'terrier', 'hound', 'spaniel', 'finch', 'owl', 'moth', 'crab', 'snail', 'frog', 'whale', 'kite', 'lamp', 'teapot', 'violin', 'tractor', 'canoe', 'mitten', 'kimono', 'bagel', 'lemon'];

/** Class i's wnid (sorted like the real ones) and a name of one to four words, as ImageNet's are. */
export function imagenetClass(i: number): { wnid: string; name: string } {
  const a = WORDS_A[i % WORDS_A.length];
  const b = WORDS_B[Math.floor(i / WORDS_A.length) % WORDS_B.length];
  const extra = Math.floor(i / (WORDS_A.length * WORDS_B.length));
  // unique names: (a, b) is unique below 500 classes, the number after it above
  const words = i % 7 === 0 ? [`${a}${b}`] : i % 11 === 0 ? [a, b, 'with', WORDS_B[(i * 3) % WORDS_B.length]] : [a, b];
  return { wnid: `n${String(1440764 + i * 977).padStart(8, '0')}`, name: extra ? `${words.join(' ')} ${extra + 1}` : words.join(' ') };
}

/** Class c's file: empty, or a 16×16 JPEG of its own colour (hard-linked by every image of the class). */
async function classFile(dir: string, c: number, content: 'empty' | 'jpeg'): Promise<string> {
  const file = path.join(dir, `class-${c}.${content === 'jpeg' ? 'jpg' : 'empty'}`);
  if (content === 'empty') fs.writeFileSync(file, '');
  else {
    const px = Buffer.alloc(16 * 16 * 3);
    const colour = [(c * 37) % 256, (c * 91) % 256, (c * 53) % 256];
    for (let p = 0; p < 256; p++) for (let k = 0; k < 3; k++) px[p * 3 + k] = (colour[k] + ((p * (k + 3)) % 24)) & 255;
    await sharp(px, { raw: { width: 16, height: 16, channels: 3 } }).jpeg({ quality: 90 }).toFile(file);
  }
  return file;
}

/** Writes the tree under `root` (which must not hold one yet). */
export async function writeImagenetTree(root: string, options: ImagenetTreeOptions): Promise<ImagenetTree> {
  const C = options.classes ?? 1000;
  const content = options.content ?? 'empty';
  const classes = Array.from({ length: C }, (_, i) => imagenetClass(i));
  const wnids = classes.map((c) => c.wnid);
  const names = classes.map((c) => c.name);
  const classnamesTxt = classes.map((c) => `${c.wnid} ${c.name}`).join('\n') + '\n';
  const masters = path.join(root, '.class-files');
  fs.mkdirSync(masters, { recursive: true });
  const master: string[] = [];
  for (let c = 0; c < C; c++) master.push(await classFile(masters, c, content));
  let files = 0;
  const fill = (dir: string, c: number, n: number, name: (i: number) => string) => {
    fs.mkdirSync(dir, { recursive: true });
    for (let i = 0; i < n; i++) fs.linkSync(master[c], path.join(dir, name(i)));
    files += n;
  };
  const imagenet = path.join(root, 'imagenet');
  fs.mkdirSync(imagenet, { recursive: true });
  fs.writeFileSync(path.join(imagenet, 'classnames.txt'), classnamesTxt);
  let valIndex = 0;
  for (let c = 0; c < C; c++) {
    fill(path.join(imagenet, 'images', 'train', wnids[c]), c, options.trainPerClass, (i) => `${wnids[c]}_${i + 1}.JPEG`);
    fill(path.join(imagenet, 'images', 'val', wnids[c]), c, options.valPerClass, () => `ILSVRC2012_val_${String(++valIndex).padStart(8, '0')}.JPEG`);
  }
  const nSubset = Math.min(options.subsetClasses ?? 200, C);
  // ImageNet-A and -R hold 200 of the classes, spread over the list (their folders sort as the wnids do)
  const subset = Array.from({ length: nSubset }, (_, k) => Math.floor((k * C) / nSubset));
  const per = options.variantPerClass ?? 0;
  if (per > 0) {
    const v2 = path.join(root, 'imagenetv2');
    const sketch = path.join(root, 'imagenet-sketch');
    const a = path.join(root, 'imagenet-adversarial');
    const r = path.join(root, 'imagenet-rendition');
    for (const d of [v2, sketch, a, r]) {
      fs.mkdirSync(d, { recursive: true });
      fs.writeFileSync(path.join(d, 'classnames.txt'), classnamesTxt);
    }
    for (let c = 0; c < C; c++) {
      fill(path.join(v2, 'imagenetv2-matched-frequency-format-val', String(c)), c, per, (i) => `${i}.jpeg`);
      fill(path.join(sketch, 'images', wnids[c]), c, per, (i) => `sketch_${i + 1}.JPEG`);
    }
    for (const [dir, sub, prefix] of [[a, 'imagenet-a', 'adv'], [r, 'imagenet-r', 'art']] as const) {
      fs.mkdirSync(path.join(dir, sub), { recursive: true });
      fs.writeFileSync(path.join(dir, sub, 'README.txt'), 'generated: one folder per class\n');
      for (const c of subset) fill(path.join(dir, sub, wnids[c]), c, per, (i) => `${prefix}_${i}.jpg`);
    }
  }
  return { wnids, classnames: names, subset: subset.map((c) => wnids[c]), files };
}
