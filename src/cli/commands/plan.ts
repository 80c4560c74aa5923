import type { Command } from 'commander';
import { ClipTokenizer } from '../../backbones/clip/tokenizer.js';
import { detectFamily, familyOf, knownArchitectureNames } from '../../backbones/index.js';
import { resolveWeightsPath } from '../../net/hub.js';
import { textWordsOf } from '../../prompting/learner.js';
import { designMethod, countParameters } from '../../prompting/methods/index.js';
import { describeLayout, planLayout, validatePlan } from '../../prompting/plan.js';
import { addMethodOptions, methodFrom, type MethodFlags } from '../method-options.js';
import { architectureOf } from '../model.js';

/** `mpl plan`: the per-layer token layout of a method on a model, and its trainable parameter count. */
export function register(program: Command): void {
  const cmd = program
    .command('plan')
    .description("print a method's prompt plan: each layer's token layout for both encoders and the trainable parameters")
    .option('--arch <name>', `a known architecture without weights (${knownArchitectureNames().join(', ')})`)
    .option('--weights <file>', 'infer the architecture from a weights file')
    .option('--json', 'print {"trainable_parameters", "vision_lengths", "text_lengths", "layout"}');
  addMethodOptions(cmd, 'mpl')
    .addHelpText(
      'after',
      `
Examples:
  mpl plan --method mpl --arch ViT-B/16                 MPL defaults: 6,702,336 parameters, lengths 198..206
  mpl plan --method maple --arch ViT-B/16 --json
  mpl plan --method mpl --arch ViT-B/16 --schedule "1:add3,rm1;2-4:add3,rm2;5-8:add1,rm1"
  mpl plan --method mpl --weights model.safetensors --n-ctx 2 --n-add 2 --n-rm 1`,
    )
    .action(async (opts: MethodFlags & { arch?: string; weights?: string; json?: boolean }) => {
      const arch = await architectureOf(opts);
      const { method, options } = methodFrom(opts);
      const design = designMethod(method, options, arch);
      const lengths = validatePlan(design.plan, arch);
      const params = countParameters(design);
      // sizes that depend on the data: per class (CoOp's class-specific context, the linear probe), per cache entry (Tip-Adapter-F)
      const perClass = countParameters(design, 1, 0) - countParameters(design, 0, 0);
      const perEntry = countParameters(design, 1, 1) - countParameters(design, 1, 0);
      // the fixed words are counted by the model's own tokenizer (a SigLIP's from its folder); without weights, a
      // family other than CLIP has no vocabulary here and its layout shows the context and the end token only
      const tokenizer = opts.weights ? detectFamily(resolveWeightsPath(opts.weights)).tokenizer(resolveWeightsPath(opts.weights)) : familyOf(arch).name === 'clip' ? ClipTokenizer.default() : null;
      const layout = planLayout(design.plan, arch, params, tokenizer ? textWordsOf(design, tokenizer) : undefined);
      if (opts.json) {
        process.stdout.write(
          JSON.stringify({
            method,
            trainable_parameters: params,
            ...(perClass ? { trainable_parameters_per_class: perClass } : {}),
            ...(perEntry ? { trainable_parameters_per_cache_entry: perEntry } : {}),
            vision_lengths: lengths,
            text_lengths: Array.from({ length: arch.text.layers }, () => arch.text.context_length),
            layout,
          }) + '\n',
        );
      } else {
        process.stdout.write(describeLayout(layout) + '\n');
        if (perClass) process.stdout.write(`note: ${perClass.toLocaleString('en-US')} of the trainable parameters are per class (counted here for one class)\n`);
        if (perEntry) process.stdout.write(`note: plus ${perEntry.toLocaleString('en-US')} trainable parameters per cache entry (one per training image: shots x classes)\n`);
      }
    });
}
