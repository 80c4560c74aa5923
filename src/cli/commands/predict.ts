import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { IMAGE_EXTENSIONS } from '../../data/datasets/common.js';
import { PromptLearner } from '../../prompting/learner.js';
import { checkBackbone } from '../../packages/backbone.js';
import { loadPromptsSource } from '../../packages/package.js';
import { PROMPTS_FILE, type LoadedPrompts } from '../../prompting/checkpoint.js';
import { readResultFile } from '../../report/result-files.js';
import type { MethodOptions } from '../../prompting/methods/index.js';
import { Classifier } from '../../train/classifier.js';
import { UserError } from '../../util/errors.js';
import { addMaxImagePixelsOption, intFlag } from '../flags.js';
import { addMethodOptions, methodFrom, methodOfPrompts, type MethodFlags } from '../method-options.js';
import { addComputeOptions, computeFrom, type ComputeFlags } from '../compute-options.js';
import { modelFrom } from '../model.js';
import { percent } from '../../util/format.js';

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

const CLASS_SETS = ['base', 'new', 'all'] as const;
type ClassSet = (typeof CLASS_SETS)[number];

/** The class lists of the run the prompts come from: base and new for a base-to-new run (its result.json). */
function runClasses(file: string, prompts: LoadedPrompts): { base: string[]; novel: string[] } | null {
  const resultFile = path.join(path.dirname(file), 'result.json');
  if (!prompts.config || !fs.existsSync(resultFile)) return null;
  const r = readResultFile(resultFile);
  const c = r.config as { base_classes?: unknown; new_classes?: unknown };
  if (r.protocol !== 'base2new' || !Array.isArray(c.base_classes) || !Array.isArray(c.new_classes)) return null;
  return { base: c.base_classes.map(String), novel: c.new_classes.map(String) };
}

/**
 * The classes `mpl predict` scores and the line that says which: a list given with --classes; else, for the
 * prompts of a base-to-new run, `--classes base|new|all` (default all: the run's base classes, trained on, and
 * its new ones); else the classes the prompts were trained on. An official checkpoint names no classes.
 */
export function predictClasses(spec: string | undefined, prompts: LoadedPrompts, file: string): { classnames: string[]; note?: string } {
  const set = CLASS_SETS.includes(spec as ClassSet) ? (spec as ClassSet) : undefined;
  if (spec !== undefined && !set) {
    const list = spec.split(',').map((c) => c.trim()).filter(Boolean);
    if (list.length === 0) throw new UserError(`--classes: no class names in '${spec}'`);
    return { classnames: list };
  }
  if (!prompts.config) throw new UserError(`--classes "a,b,c" is required: ${file} (an official checkpoint) names no classes`);
  const run = runClasses(file, prompts);
  if (!run) {
    if (set === 'base' || set === 'new') throw new UserError(`--classes ${set}: ${file} is not from a finished base-to-new run (no result.json with its base and new classes beside it); give --classes "a,b,c"`);
    const n = prompts.config.classnames.length;
    return { classnames: prompts.config.classnames, note: `scoring the ${n} classes the prompts were trained on (--classes "a,b,c" for others)` };
  }
  const chosen = set ?? 'all';
  const classnames = chosen === 'base' ? run.base : chosen === 'new' ? run.novel : [...run.base, ...run.novel];
  const what = chosen === 'base' ? 'the base classes (trained on)' : chosen === 'new' ? 'the new classes (not trained on)' : `all classes of the run (${run.base.length} base, trained on, + ${run.novel.length} new)`;
  return { classnames, note: `scoring ${classnames.length} classes: ${what}${set ? '' : ', the default'}; --classes base|new|all of a base-to-new run, or a list` };
}

async function classify(images: string[], f: ClassifyFlags, mode: 'zeroshot' | 'predict'): Promise<void> {
  let method = 'zeroshot' as ReturnType<typeof methodFrom>['method'];
  let options: MethodOptions = { template: f.template, ensemble: f.ensemble };
  let classnames = f.classes ? f.classes.split(',').map((c) => c.trim()).filter(Boolean) : [];
  let prompts: ReturnType<typeof loadPromptsSource> | null = null;
  let note: string | undefined;
  if (mode === 'predict') {
    if (!f.prompts) throw new UserError('--prompts FILE is required (prompts.safetensors or an official model.pth.tar-N)');
    prompts = loadPromptsSource(f.prompts); // a file, a run folder or a package (src/packages/)
    // as mpl eval: the flags, else prompts.json (or the package's config.json), else the official checkpoint's tensors
    ({ method, options } = methodOfPrompts(f, prompts, f.prompts));
    // the prompts file itself (a run folder's or a package's prompts.safetensors): its run's result.json lies beside it
    const file = fs.statSync(f.prompts).isDirectory() ? path.join(f.prompts, PROMPTS_FILE) : f.prompts;
    const chosen = predictClasses(f.classes, prompts, file);
    classnames = chosen.classnames;
    note = chosen.note;
  }
  if (classnames.length === 0) throw new UserError('--classes "a,b,c" is required');
  const files = collectImageInputs(images);
  const compute = computeFrom(f);
  const loaded = await modelFrom(f, compute);
  if (prompts) await checkBackbone(prompts.requirement, loaded, f.prompts!); // before any image is read
  if (note) process.stderr.write(`${note}\n`); // which classes are scored, once the backbone is accepted
  const learner = new PromptLearner(loaded.model, loaded.tokenizer, method, classnames, options);
  try {
    if (prompts) learner.loadSaved(prompts, f.prompts!);
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
        process.stdout.write(`${r.image}\n${topOf(r).map(([c, p]) => `  ${percent(100 * p).padStart(6)}%  ${c}`).join('\n')}\n`);
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
    .option('--prompts <file|dir>', 'learned prompts: a prompt package, a run folder, prompts.safetensors (its prompts.json gives the method) or an official model.pth.tar-N (method and shapes read off its tensors, as mpl eval does)')
    .option('--classes <list>', 'comma-separated class names; for the prompts of a base-to-new run also base, new or all (default all: base + new, said on stderr); else default: the classes the prompts were trained on')
    .option('--top <k>', 'classes shown per image', intFlag('--top', { min: 1 }), 5)
    .option('--json', 'one JSON array: [{"image", "probabilities": {class: p}, "top": [{"class", "probability"}]}] in the order given (top: the --top best)');
  addMethodOptions(addComputeOptions(addMaxImagePixelsOption(predict)))
    .addHelpText(
      'after',
      `
Examples:
  mpl predict --model ViT-B/16 --prompts output/base2new/eurosat/shots_16/mpl/vit_b16_c1_add2_rm1_d9_ep5-*/seed1/prompts.safetensors photos/
  mpl predict --weights clip.safetensors --prompts runs/base2new/photos/shots_16/mpl/*/seed1/prompts.safetensors --classes new photos/
  mpl predict --weights clip.safetensors --prompts dassl/MultiModalPromptLearner/model.pth.tar-5 --classes "a,b,c" --json photos/
                                   an official checkpoint: method, depth and N_ADD_OP read off its tensors
Prompts of a base-to-new run score all of its classes (base + new) unless --classes base or new; the line
on stderr says which.`,
    )
    .action((images: string[], f: ClassifyFlags) => classify(images, f, 'predict'));
}
