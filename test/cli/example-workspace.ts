/**
 * The example workspace (docs/examples.md): a folder that holds every file the runnable examples of the docs
 * and of --help name, so that they run as written, with `~` = the workspace:
 *
 *   clip.safetensors (= model.safetensors = clip-vit-b16.safetensors)  a random CLIP with ViT-B/16's 12 layers
 *                               per tower and tiny widths (32), so every method's default depth fits
 *   ViT-B-16.pt                 a micro CLIP saved as OpenAI saves theirs (test/fixtures)
 *   clip-vit-base-patch16/      a Hugging Face snapshot folder (the golden tiny CLIP in HF names)
 *   assets -> the repository's assets/ (the shipped tiny CLIP)
 *   data/synthshapes/           the generated dataset; data/eurosat/split_zhou_EuroSAT.json and
 *                               data/oxford_pets/split_zhou_OxfordPets.json (images need not exist for them)
 *   photos/ (8 classes), my_images/ flowers/ my_photos/ (4 classes): image folders; my_split.json (a jsonlist)
 *   runs/                       runs of clip.safetensors on photos/ (--name photos): base2new (mpl seed 1, coop),
 *                               xd (photos -> imagefolder), fewshot (coop, 1 and 2 shots); machine2/ (=
 *                               other-machine/) the MPL base2new seed 2
 *   dassl/                      runs' MPL seed 1 exported (dassl/MultiModalPromptLearner/model.pth.tar-5)
 *   plan.json                   `mpl plan --json`; sweep.yaml: a one-run sweep that runs/ already holds
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { expectedShapes, type ClipConfig } from '../../src/backbones/clip/config.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import type { RawTensor } from '../../src/io/tensor.js';
import { writeSynthDataset } from '../../src/synth/dataset.js';
import { fixturesDir, repoRoot, sharedDir } from '../helpers.js';
import { makeImageFolder } from '../data/fixtures.js';

/** ViT-B/16's depth (12 + 12 layers) at widths a CPU test affords. */
export const MICRO_B16: ClipConfig = {
  vision: { width: 32, layers: 12, heads: 1, patch_size: 8, image_size: 32, mlp_width: 128 },
  text: { width: 32, layers: 12, heads: 1, context_length: 77, vocab_size: 49408, mlp_width: 128 },
  embed_dim: 32,
};

/** A random CLIP of `arch` in OpenAI's names (deterministic: a linear congruential sequence, N(0, ~0.02)-sized). */
export function writeRandomClip(file: string, arch: ClipConfig, seed = 1): void {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 0.07;
  const tensors = new Map<string, RawTensor>();
  for (const [name, shape] of expectedShapes(arch)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const x = new Float32Array(n);
    if (name === 'logit_scale') x[0] = Math.log(1 / 0.07);
    else if (/ln_|ln_final/.test(name) && name.endsWith('weight')) x.fill(1);
    else if (!name.endsWith('bias')) for (let i = 0; i < n; i++) x[i] = next();
    tensors.set(name, { dtype: 'float32', shape, data: new Uint8Array(x.buffer) });
  }
  writeSafetensors(file, tensors, { format: 'pt' });
}

/** The commands that fill runs/, machine2/, dassl/ and plan.json (run by the test with the CLI, in the workspace). */
const ON_PHOTOS = ['--weights', 'clip.safetensors', '--dataset', 'imagefolder', '--root', 'photos', '--name', 'photos', '--precision', 'fp32'];
export const SETUP_COMMANDS: string[][] = [
  ['base2new', ...ON_PHOTOS, '--method', 'mpl', '--seeds', '1', '--out', 'runs'],
  ['base2new', ...ON_PHOTOS, '--method', 'coop', '--epochs', '1', '--seeds', '1', '--out', 'runs'],
  ['xd', ...ON_PHOTOS, '--method', 'mpl', '--epochs', '1', '--seeds', '1', '--targets', 'imagefolder', '--target', 'imagefolder=my_images', '--out', 'runs'],
  ['fewshot', ...ON_PHOTOS, '--method', 'coop', '--epochs', '1', '--k', '1,2', '--seeds', '1', '--out', 'runs'],
  ['base2new', ...ON_PHOTOS, '--method', 'mpl', '--seeds', '2', '--out', 'machine2'],
];

/** Writes the files of the workspace (the runs come from SETUP_COMMANDS, then `exportAndPlan`). */
export async function makeExampleWorkspace(dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  writeRandomClip(path.join(dir, 'clip.safetensors'), MICRO_B16);
  for (const alias of ['model.safetensors', 'clip-vit-b16.safetensors']) fs.symlinkSync('clip.safetensors', path.join(dir, alias));
  fs.copyFileSync(path.join(fixturesDir, 'micro_clip_torchscript.pt'), path.join(dir, 'ViT-B-16.pt'));
  fs.mkdirSync(path.join(dir, 'clip-vit-base-patch16'));
  fs.writeFileSync(path.join(dir, 'clip-vit-base-patch16', 'model.safetensors'), zlib.gunzipSync(fs.readFileSync(path.join(repoRoot, 'test', 'fixtures', 'shared', 'golden', 'tiny_clip_hf.safetensors.gz'))));
  fs.symlinkSync(path.join(repoRoot, 'assets'), path.join(dir, 'assets'));
  await writeSynthDataset(path.join(dir, 'data'));
  // where `mpl data download` puts them (only there: a split file named without its folder is not found)
  const splits = path.join(sharedDir, 'data', 'splits');
  for (const [folder, f] of [['eurosat', 'split_zhou_EuroSAT.json'], ['oxford_pets', 'split_zhou_OxfordPets.json']]) {
    fs.mkdirSync(path.join(dir, 'data', folder), { recursive: true });
    fs.copyFileSync(path.join(splits, f), path.join(dir, 'data', folder, f));
  }
  for (const name of ['my_images', 'flowers', 'my_photos']) await makeImageFolder(path.join(dir, name), ['cat', 'dog', 'red_car', 'blue_sky'], 6);
  await makeImageFolder(path.join(dir, 'photos'), ['cat', 'dog', 'red_car', 'blue_sky', 'green_tree', 'sun', 'moon', 'boat'], 6);
  const list = (from: number, to: number) => ['cat', 'dog'].flatMap((c, label) => Array.from({ length: to - from }, (_, i) => [`my_images/${c}/${from + i}.png`, label, c]));
  fs.writeFileSync(path.join(dir, 'my_split.json'), JSON.stringify({ train: list(0, 4), val: list(4, 5), test: list(5, 6) }));
  fs.writeFileSync(
    path.join(dir, 'sweep.yaml'),
    ['out: runs', 'weights: clip.safetensors', 'root: data', 'protocol: base2new', 'datasets: [{ name: photos, root: ./photos }]', 'methods: [mpl]', 'seeds: [1]', 'precision: fp32', ''].join('\n'),
  );
  fs.symlinkSync('machine2', path.join(dir, 'other-machine'));
}
