/**
 * The method flags shared by every command that builds a prompt learner (plan, base2new, predict, ...).
 * Names are the same everywhere: --n-ctx, --n-add, --n-rm, --depth, --ctx-init, ...
 */
import { Option, type Command } from 'commander';
import { UserError } from '../util/errors.js';
import { checkMethod, type MethodName, type MethodOptions } from '../prompting/methods.js';
import { intFlag } from './flags.js';

/**
 * Token counts and depths: a sanity bound only (the largest CLIP has 48 blocks and a 77-token text context);
 * the method design and the prompt plan check the real limits against the model.
 */
const tokens = (flag: string) => intFlag(flag, { max: 1000 });

/** A positive finite number (weights and widths of PromptSRC's aggregation). */
function positive(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new UserError(`${name} must be a positive number, got '${v}'`);
    return n;
  };
}

/**
 * Every method flag, by its CLI name, with the MethodOptions key it sets and the type of its value: what a
 * sweep file's `options` may hold (src/sweep). A test checks it lists exactly the flags added below.
 */
export const METHOD_FLAGS: ReadonlyArray<{ flag: string; key: keyof MethodOptions; kind: 'int' | 'number' | 'string' | 'boolean' }> = [
  { flag: 'n-ctx', key: 'nCtx', kind: 'int' },
  { flag: 'n-add', key: 'nAdd', kind: 'int' },
  { flag: 'n-rm', key: 'nRm', kind: 'int' },
  { flag: 'depth', key: 'depth', kind: 'int' },
  { flag: 'depth-text', key: 'depthText', kind: 'int' },
  { flag: 'depth-vision', key: 'depthVision', kind: 'int' },
  { flag: 'n-ctx-vision', key: 'nCtxVision', kind: 'int' },
  { flag: 'ctx-init', key: 'ctxInit', kind: 'string' },
  { flag: 'schedule', key: 'schedule', kind: 'string' },
  { flag: 'csc', key: 'csc', kind: 'boolean' },
  { flag: 'class-token-position', key: 'classTokenPosition', kind: 'string' },
  { flag: 'template', key: 'template', kind: 'string' },
  { flag: 'ensemble', key: 'ensemble', kind: 'boolean' },
  { flag: 'text-loss-weight', key: 'textLossWeight', kind: 'number' },
  { flag: 'image-loss-weight', key: 'imageLossWeight', kind: 'number' },
  { flag: 'gpa-mean', key: 'gpaMean', kind: 'number' },
  { flag: 'gpa-std', key: 'gpaStd', kind: 'number' },
];

export function addMethodOptions(cmd: Command, defaultMethod?: string): Command {
  const method = new Option('--method <name>', 'zeroshot | coop | cocoop | vpt | ivlp | maple | mpl | promptsrc');
  if (defaultMethod) method.default(defaultMethod);
  return cmd
    .addOption(method)
    .option('--n-ctx <n>', 'learnable text context tokens (MPL N_CTX, MaPLe N_CTX, IVLP/PromptSRC text tokens)', tokens('--n-ctx'))
    .option('--n-add <n>', 'MPL: prompts added per deep layer (N_ADD_OP)', tokens('--n-add'))
    .option('--n-rm <n>', 'MPL: prompts removed per deep layer (N_RM_OP)', tokens('--n-rm'))
    .option('--depth <n>', 'prompt depth: layers 0..depth-1 carry prompts', tokens('--depth'))
    .option('--depth-text <n>', 'IVLP/PromptSRC: text prompt depth', tokens('--depth-text'))
    .option('--depth-vision <n>', 'VPT/IVLP/PromptSRC: vision prompt depth', tokens('--depth-vision'))
    .option('--n-ctx-vision <n>', 'VPT/IVLP/PromptSRC: vision prompt tokens', tokens('--n-ctx-vision'))
    .option('--ctx-init <words>', 'words initialising the text context ("" for random N(0, 0.02))')
    .option('--schedule <spec>', 'MPL: per-layer vision add/remove, e.g. "1:add3,rm1;2-4:add3,rm2;5-8:add1,rm1" (removes never more than are there)')
    .option('--csc', 'CoOp: class-specific context')
    .option('--class-token-position <pos>', 'CoOp: end | middle | front')
    .option('--template <text>', 'zero-shot/VPT: the hand-crafted template, e.g. "a photo of a {}."')
    .option('--ensemble', 'zero-shot: the 7-template ensemble (ZeroshotCLIP2)')
    .option('--text-loss-weight <x>', 'PromptSRC: weight of the text consistency loss (TEXT_LOSS_WEIGHT, default 25)', positive('--text-loss-weight'))
    .option('--image-loss-weight <x>', 'PromptSRC: weight of the image consistency loss (IMAGE_LOSS_WEIGHT, default 10)', positive('--image-loss-weight'))
    .option('--gpa-mean <x>', 'PromptSRC: epoch at the centre of the Gaussian prompt aggregation (GPA_MEAN)', positive('--gpa-mean'))
    .option('--gpa-std <x>', 'PromptSRC: width of the Gaussian prompt aggregation (GPA_STD)', positive('--gpa-std'));
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
