#!/usr/bin/env node
'use strict';
/**
 * The cross-dataset and domain-generalisation protocols at ImageNet scale, timed (docs/scale.md): a generated
 * 1,000-class ImageNet-layout tree (bench/imagenet-tree.ts: JPEG files, `--train` per class, 50 val per class,
 * V2 and Sketch with 10 per class, A and R with their 200 classes), then `mpl xd` trained on it with the shipped
 * tiny CLIP and the official cross-dataset recipe (16 shots, batch 4, 2 epochs, LR 0.0035; depth 3, the most
 * the tiny CLIP's 6 layers take), tested on ImageNet's val and on the four variants -- the DG targets, so one
 * training serves both protocols, as the official scripts test one checkpoint on both. Prints the times and
 * this process's peak resident memory (the run is in-process), and leaves the runs in DIR/out.
 *   npm run build && node scripts/imagenet-scale-protocol.js [--dir DIR] [--shots 16] [--epochs 2] [--train 20]
 * Set MPL_NUM_THREADS to choose the threads (the tiny CLIP: 1 or 2).
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const dist = path.join(__dirname, '..', 'dist');
const { writeImagenetTree } = require(path.join(dist, 'bench', 'imagenet-tree.js'));
const { main } = require(path.join(dist, 'src', 'cli', 'main.js'));

async function run() {
  const dir = flag('--dir', null) ?? fs.mkdtempSync(path.join(os.tmpdir(), 'mpl-imagenet-protocol-'));
  const root = path.join(dir, 'data');
  const shots = flag('--shots', '16');
  const t0 = Date.now();
  if (!fs.existsSync(path.join(root, 'imagenet'))) {
    await writeImagenetTree(root, { trainPerClass: Number(flag('--train', '20')), valPerClass: 50, variantPerClass: 10, content: 'jpeg' });
  }
  const generated = (Date.now() - t0) / 1000;
  const weights = path.join(__dirname, '..', 'assets', 'tiny-clip', 'tiny-clip.safetensors');
  const t1 = Date.now();
  const code = await main([
    process.execPath, 'mpl', 'xd', '--weights', weights, '--root', root, '--method', 'mpl', '--depth', '3',
    '--shots', shots, '--epochs', flag('--epochs', '2'), '--batch-size', '4', '--lr', '0.0035', '--seeds', '1',
    '--targets', 'imagenet_v2,imagenet_sketch,imagenet_a,imagenet_r', '--no-augment', '--device', 'cpu', '--precision', 'fp32',
    '--out', path.join(dir, 'out'), '--print-freq', '500',
  ]);
  const seconds = (Date.now() - t1) / 1000;
  const results = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else if (e.name === 'result.json') results.push(JSON.parse(fs.readFileSync(path.join(d, e.name), 'utf8')));
    }
  };
  walk(path.join(dir, 'out'));
  const r = results[0] ?? {};
  console.log(JSON.stringify({
    exit_code: code,
    dir,
    shots: Number(shots),
    threads: process.env.MPL_NUM_THREADS ?? os.availableParallelism(),
    cpu: os.cpus()[0]?.model,
    generate_seconds: generated,
    protocol_seconds: seconds,
    train_seconds: r.train_seconds,
    train_images_per_s: r.train_images_per_s,
    eval_seconds: r.eval_seconds,
    eval_images: r.eval_images,
    accuracy: r.accuracy,
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
  }, null, 1));
  return code;
}

run().then((code) => { process.exitCode = code; }, (e) => { console.error(e); process.exitCode = 1; });
