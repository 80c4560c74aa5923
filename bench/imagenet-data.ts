/**
 * The data side at ImageNet scale: a generated ImageNet-layout tree (bench/imagenet-tree.ts; by default the
 * real sizes: 1,000 class folders, 1,281 training images per class = 1.28M files, 50 validation images per
 * class), then the times of what a run does with it: listing the folders (train and val lists), the 16-shot
 * subset of 1,000 classes drawn as Dassl draws it (and written to the few-shot cache), the same read back
 * from the cache, and the four test-only variants (V2, Sketch; A and R with their 200 classes). The tree is
 * removed afterwards. Files are empty: this measures listing and sampling, not decoding (`mpl bench data`).
 *   npx mpl bench imagenet-data --json
 *   npx mpl bench imagenet-data --train-per-class 100 --dir /mnt/fast/tmp
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadDataset } from '../src/data/dataset.js';
import { writeImagenetTree } from './imagenet-tree.js';
import { peakRss } from './memory.js';

export interface ImagenetDataBenchOptions {
  /** class folders (default 1,000) */
  classes?: number;
  trainPerClass?: number;
  valPerClass?: number;
  variantPerClass?: number;
  shots?: number;
  /** where the tree is written (a new folder inside it; default the system's temporary folder) */
  dir?: string;
}

export interface ImagenetDataBenchResult {
  classes: number;
  train_files: number;
  val_files: number;
  variant_files: number;
  shots: number;
  /** writing the tree (not part of a run) */
  generate_seconds: number;
  /** listing train and val (loadDataset without shots): every file of the 1,000 folders */
  list_seconds: number;
  /** listing + the K-shot subset drawn as Dassl draws it + writing the few-shot cache */
  fewshot_draw_seconds: number;
  /** listing + the subset read back from the cache */
  fewshot_cached_seconds: number;
  fewshot_images: number;
  /** each variant's load (listing its folders), seconds, and its classes */
  variants: Record<string, { seconds: number; classes: number; images: number }>;
  /** this process's resident high-water mark (the lists of 1.28M entries included) */
  peak_rss_bytes: number;
}

function timed<T>(fn: () => T): [T, number] {
  const t0 = process.hrtime.bigint();
  const r = fn();
  return [r, Number(process.hrtime.bigint() - t0) / 1e9];
}

export async function runImagenetDataBench(options: ImagenetDataBenchOptions = {}): Promise<ImagenetDataBenchResult> {
  const trainPerClass = options.trainPerClass ?? 1281;
  const valPerClass = options.valPerClass ?? 50;
  const variantPerClass = options.variantPerClass ?? 10;
  const shots = options.shots ?? 16;
  const root = fs.mkdtempSync(path.join(options.dir ?? os.tmpdir(), 'mpl-imagenet-'));
  try {
    const t0 = process.hrtime.bigint();
    const tree = await writeImagenetTree(root, { classes: options.classes, trainPerClass, valPerClass, variantPerClass });
    const generate = Number(process.hrtime.bigint() - t0) / 1e9;
    const [full, list] = timed(() => loadDataset('imagenet', { root, shots: 0 }));
    const [drawn, draw] = timed(() => loadDataset('imagenet', { root, shots, seed: 1 }));
    const [cached, fromCache] = timed(() => loadDataset('imagenet', { root, shots, seed: 1 }));
    if (!cached.fewshot?.fromCache) throw new Error('the few-shot subset was not read back from its cache');
    if (drawn.train.length !== cached.train.length) throw new Error('the cached few-shot subset differs from the drawn one');
    const variants: ImagenetDataBenchResult['variants'] = {};
    let variantFiles = 0;
    if (variantPerClass > 0) {
      for (const name of ['imagenet_v2', 'imagenet_sketch', 'imagenet_a', 'imagenet_r']) {
        const [d, seconds] = timed(() => loadDataset(name, { root }));
        variants[name] = { seconds, classes: d.classnames.length, images: d.test.length };
        variantFiles += d.test.length;
      }
    }
    return {
      classes: tree.wnids.length,
      train_files: full.train.length,
      val_files: full.test.length,
      variant_files: variantFiles,
      shots,
      generate_seconds: generate,
      list_seconds: list,
      fewshot_draw_seconds: draw,
      fewshot_cached_seconds: fromCache,
      fewshot_images: drawn.train.length,
      variants,
      peak_rss_bytes: peakRss(),
    };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

export function formatImagenetDataBench(r: ImagenetDataBenchResult): string {
  const s = (x: number) => `${x.toFixed(2)} s`;
  const n = (x: number) => x.toLocaleString('en-US');
  const lines = [
    `ImageNet-layout tree: ${n(r.classes)} classes, ${n(r.train_files)} train + ${n(r.val_files)} val files${r.variant_files ? ` + ${n(r.variant_files)} in the variants` : ''} (generated in ${s(r.generate_seconds)}; empty files)`,
    `  list train and val folders            ${s(r.list_seconds)}`,
    `  ${r.shots}-shot subset, drawn + cached        ${s(r.fewshot_draw_seconds)}   (${n(r.fewshot_images)} images, Dassl's draw)`,
    `  ${r.shots}-shot subset, from the cache        ${s(r.fewshot_cached_seconds)}`,
  ];
  for (const [name, v] of Object.entries(r.variants)) lines.push(`  ${name.padEnd(16)} ${String(v.classes).padStart(4)} classes   ${s(v.seconds)}   (${n(v.images)} images)`);
  lines.push(`  peak RSS ${(r.peak_rss_bytes / 2 ** 30).toFixed(2)} GiB`);
  return lines.join('\n');
}
