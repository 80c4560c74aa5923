/**
 * The method flags shared by every command that builds a prompt learner (plan, base2new, predict, ...).
 * Names are the same everywhere: --n-ctx, --n-add, --n-rm, --depth, --ctx-init, ...
 */
import { Option, type Command } from 'commander';
import { UserError } from '../util/errors.js';
import { checkMethod, type MethodName, type MethodOptions } from '../prompting/methods.js';

export function int(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new UserError(`${name} must be a non-negative integer, got '${v}'`);
    return n;
  };
}

export function addMethodOptions(cmd: Command, defaultMethod?: string): Command {
  const method = new Option('--method <name>', 'zeroshot | coop | cocoop | vpt | ivlp | maple | mpl | promptsrc');
  if (defaultMethod) method.default(defaultMethod);
  return cmd
    .addOption(method)
    .option('--n-ctx <n>', 'learnable text context tokens (MPL N_CTX, MaPLe N_CTX, IVLP/PromptSRC text tokens)', int('--n-ctx'))
    .option('--n-add <n>', 'MPL: prompts added per deep layer (N_ADD_OP)', int('--n-add'))
    .option('--n-rm <n>', 'MPL: prompts removed per deep layer (N_RM_OP)', int('--n-rm'))
    .option('--depth <n>', 'prompt depth: layers 0..depth-1 carry prompts', int('--depth'))
    .option('--depth-text <n>', 'IVLP/PromptSRC: text prompt depth', int('--depth-text'))
    .option('--depth-vision <n>', 'VPT/IVLP/PromptSRC: vision prompt depth', int('--depth-vision'))
    .option('--n-ctx-vision <n>', 'VPT/IVLP/PromptSRC: vision prompt tokens', int('--n-ctx-vision'))
    .option('--ctx-init <words>', 'words initialising the text context ("" for random N(0, 0.02))')
    .option('--schedule <spec>', 'MPL: per-layer vision add/remove, e.g. "1:add3,rm1;2-4:add3,rm2;5-8:add1,rm1" (removes never more than are there)')
    .option('--csc', 'CoOp: class-specific context')
    .option('--class-token-position <pos>', 'CoOp: end | middle | front')
    .option('--template <text>', 'zero-shot/VPT: the hand-crafted template, e.g. "a photo of a {}."')
    .option('--ensemble', 'zero-shot: the 7-template ensemble (ZeroshotCLIP2)')
    .option('--text-loss-weight <x>', 'PromptSRC: weight of the text consistency loss (TEXT_LOSS_WEIGHT, default 25)', number('--text-loss-weight'))
    .option('--image-loss-weight <x>', 'PromptSRC: weight of the image consistency loss (IMAGE_LOSS_WEIGHT, default 10)', number('--image-loss-weight'))
    .option('--gpa-mean <x>', 'PromptSRC: mean epoch of the Gaussian prompt aggregation (GPA_MEAN, default 15)', number('--gpa-mean'))
    .option('--gpa-std <x>', 'PromptSRC: std of the Gaussian prompt aggregation (GPA_STD, default 1)', number('--gpa-std'));
}

function number(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new UserError(`${name} must be a number, got '${v}'`);
    return n;
  };
}

/** The parsed flags: the method's options as typed on the command line (position still unchecked). */
export interface MethodFlags extends Omit<MethodOptions, 'classTokenPosition'> {
  method?: string;
  classTokenPosition?: string;
}

export function methodFrom(flags: MethodFlags): { method: MethodName; options: MethodOptions } {
  if (!flags.method) throw new UserError('--method is required');
  const method = checkMethod(flags.method);
  const pos = flags.classTokenPosition;
  if (pos !== undefined && !['end', 'middle', 'front'].includes(pos)) {
    throw new UserError(`--class-token-position must be end, middle or front, got '${pos}'`);
  }
  return {
    method,
    options: {
      nCtx: flags.nCtx,
      nAdd: flags.nAdd,
      nRm: flags.nRm,
      depth: flags.depth,
      depthText: flags.depthText,
      depthVision: flags.depthVision,
      nCtxVision: flags.nCtxVision,
      ctxInit: flags.ctxInit,
      schedule: flags.schedule,
      csc: flags.csc,
      classTokenPosition: pos as MethodOptions['classTokenPosition'],
      template: flags.template,
      ensemble: flags.ensemble,
      textLossWeight: flags.textLossWeight,
      imageLossWeight: flags.imageLossWeight,
      gpaMean: flags.gpaMean,
      gpaStd: flags.gpaStd,
    },
  };
}
