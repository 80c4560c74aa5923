import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { IMAGE_EXTENSIONS } from '../../data/datasets/common.js';
import { PromptLearner } from '../../prompting/learner.js';
import { checkBackbone } from '../../packages/backbone.js';
import { loadPromptsSource } from '../../packages/package.js';
import type { MethodOptions } from '../../prompting/methods/index.js';
import { Classifier } from '../../train/classifier.js';
import { UserError } from '../../util/errors.js';
import { addMaxImagePixelsOption, intFlag } from '../flags.js';
import { addMethodOptions, methodFrom, type MethodFlags } from '../method-options.js';
import { addComputeOptions, computeFrom, type ComputeFlags } from '../compute-options.js';
import { modelFrom } from '../model.js';

/** Image files given directly or found (recursively, sorted) in folders. */
export function collectImageInputs(inputs: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    if (!fs.existsSync(p)) throw new UserError(`${p}: no such file or folder`);
    if (fs.statSync(p).isDirectory()) {
      for (const e of fs.readdirSync(p).sort()) if (!e.startsWith('.')) walk(path.join(p, e));
    } else if (IMAGE_EXTENSIONS.has(path.extname(p).toLowerCase()) || inputs.includes(p)) out.push(p);
  };
  inputs.forEach(walk);
  if (out.length === 0) throw new UserError('no images given (files or folders with .jpg/.png/.webp/.gif/.tif images)');
  return out;
}

interface ClassifyFlags extends MethodFlags, ComputeFlags {
  weights?: string;
  model?: string;
  classes?: string;
  prompts?: string;
  top: number;
  json?: boolean;
}

async function classify(images: string[], f: ClassifyFlags, mode: 'zeroshot' | 'predict'): Promise<void> {
  let method = 'zeroshot' as ReturnType<typeof methodFrom>['method'];
  let options: MethodOptions = { template: f.template, ensemble: f.ensemble };
  let classnames = f.classes ? f.classes.split(',').map((c) => c.trim()).filter(Boolean) : [];
  let prompts: ReturnType<typeof loadPromptsSource> | null = null;
  if (mode === 'predict') {
    if (!f.prompts) throw new UserError('--prompts FILE is required (prompts.safetensors or an official model.pth.tar-N)');
    prompts = loadPromptsSource(f.prompts); // a file, a run folder or a package (src/packages/)
    const cfg = prompts.config;
    if (cfg && !f.method) {
      method = cfg.method;
      options = { ...cfg.options };
    } else {
      ({ method, options } = methodFrom({ ...f, method: f.method ?? cfg?.method }));
    }
    if (classnames.length === 0 && cfg) classnames = cfg.classnames;
  }
  if (classnames.length === 0) throw new UserError('--classes "a,b,c" is required');
  const files = collectImageInputs(images);
  const compute = computeFrom(f);
  const loaded = await modelFrom(f, compute);
  if (prompts) await checkBackbone(prompts.requirement, loaded, f.prompts!); // before any image is read
  const learner = new PromptLearner(loaded.model, loaded.tokenizer, method, classnames, options);
  try {
    if (prompts) learner.loadSaved(prompts, f.prompts!);
    const size = loaded.model.arch.vision.image_size;
    const results: Array<{ image: string; probabilities: Record<string, number> }> = [];
    const classifier = new Classifier(learner); // shared with mpl serve
    for (let s = 0; s < files.length; s += 32) {
      const chunk = files.slice(s, s + 32);
      const pixels = await Promise.all(chunk.map((file) => loaded.preprocess(file, { onWarning: (m) => process.stderr.write(`warning: ${m}\n`) })));
      const probs = classifier.probabilities(pixels);
      chunk.forEach((file, i) => {
        const p: Record<string, number> = {};
        classnames.forEach((c, j) => (p[c] = probs[i][j]));
        // Weights and prompts are checked at load; this catches anything else (an overflow in the model)
        if (Object.values(p).some((x) => !Number.isFinite(x))) {
          throw new UserError(`${file}: the model produced non-finite probabilities (NaN) for this image; nothing is printed. Check the weights${prompts ? ` and ${f.prompts}` : ''}`);
        }
        results.push({ image: file, probabilities: p });
      });
    }
    classifier.dispose();
    const topOf = (r: (typeof results)[number]) => Object.entries(r.probabilities).sort((a, b) => b[1] - a[1]).slice(0, f.top);
    if (f.json) {
      // every class's probability, and the --top best (most probable first)
      process.stdout.write(JSON.stringify(results.map((r) => ({ ...r, top: topOf(r).map(([c, p]) => ({ class: c, probability: p })) }))) + '\n');
    } else {
      for (const r of results) {
        process.stdout.write(`${r.image}\n${topOf(r).map(([c, p]) => `  ${(100 * p).toFixed(2).padStart(6)}%  ${c}`).join('\n')}\n`);
      }
    }
  } finally {
    learner.dispose();
    loaded.model.dispose();
  }
}

export function register(program: Command): void {
  const zeroshot = program
    .command('zeroshot')
    .description('classify images with zero-shot CLIP or SigLIP (a hand-crafted template per class; SigLIP: a sigmoid probability per class)')
    .argument('<images...>', 'image files or folders')
    .option('--weights <file>', 'CLIP weights file')
    .option('--model <name>', 'pretrained CLIP by name (ViT-B/16, ...)')
    .requiredOption('--classes <list>', 'comma-separated class names')
    .option('--template <text>', 'the template, {} = class name', 'a photo of a {}.')
    .option('--ensemble', 'average the 7-template ensemble (ZeroshotCLIP2)')
    .option('--top <k>', 'classes shown per image', intFlag('--top', { min: 1 }), 5)
    .option('--json', 'one JSON array: [{"image", "probabilities": {class: p}, "top": [{"class", "probability"}]}] in the order given (top: the --top best)');
  addComputeOptions(zeroshot)
    .addHelpText('after', `\nExample:\n  mpl zeroshot --model ViT-B/16 --classes "cat,dog,car" photos/ --json`)
    .action((images: string[], f: ClassifyFlags) => classify(images, f, 'zeroshot'));
  addMaxImagePixelsOption(zeroshot);

  const predict = program
    .command('predict')
    .description('classify images with learned prompts (prompts.safetensors from a run, or an official Dassl checkpoint)')
    .argument('<images...>', 'image files or folders')
    .option('--weights <file>', 'CLIP weights file')
    .option('--model <name>', 'pretrained CLIP by name (ViT-B/16, ...)')
    .option('--prompts <file|dir>', 'learned prompts: a prompt package, a run folder, prompts.safetensors (its prompts.json beside it makes method flags optional) or model.pth.tar-N')
    .option('--classes <list>', 'comma-separated class names (default: the classes the prompts were trained on)')
    .option('--top <k>', 'classes shown per image', intFlag('--top', { min: 1 }), 5)
    .option('--json', 'one JSON array: [{"image", "probabilities": {class: p}, "top": [{"class", "probability"}]}] in the order given (top: the --top best)');
  addMethodOptions(addComputeOptions(addMaxImagePixelsOption(predict)))
    .addHelpText(
      'after',
      `
Examples:
  mpl predict --model ViT-B/16 --prompts output/base2new/eurosat/shots_16/mpl/vit_b16_c1_add2_rm1_d9_ep5-*/seed1/prompts.safetensors photos/
  mpl predict --weights clip.safetensors --prompts model.pth.tar-5 --method mpl --n-ctx 1 --n-add 2 --n-rm 1 --depth 9 --classes "a,b,c" --json img.jpg`,
    )
    .action((images: string[], f: ClassifyFlags) => classify(images, f, 'predict'));
}
