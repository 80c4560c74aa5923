/**
 * The method flags shared by every command that builds a prompt learner (plan, base2new, predict, ...),
 * generated from the method registry: one flag per option of the options table (src/prompting/methods/
 * options.ts), its help prefixed with the methods that take it. Names are the same everywhere: --n-ctx,
 * --n-add, --n-rm, --depth, --ctx-init, ...
 */
import { Option, type Command } from 'commander';
import { UserError, printable } from '../util/errors.js';
import { METHODS, OPTION_SPECS, checkMethod, inferMethod, methodDef, methodDefs, type MethodName, type MethodOptions, type OptionSpec } from '../prompting/methods/index.js';
import type { LoadedPrompts } from '../prompting/checkpoint.js';
import { rangedFlag } from './flags.js';

/** Commander's attribute for a flag: `--n-ctx` → `nCtx` (the option's key in the table). */
type FlagValue = string | number | boolean | undefined;

/** How the CLI parses one option's value. */
function parserOf(s: OptionSpec): ((v: string) => FlagValue) | undefined {
  const flag = `--${s.flag}`;
  // ints and numbers: the option's stated range (options.ts); the design and the plan check the model's own limits
  const ranged = rangedFlag(flag, s.kind, s.range) as ((v: string) => FlagValue) | undefined;
  if (ranged) return ranged;
  switch (s.kind) {
    case 'choice':
      return (v) => {
        if (!s.choices!.includes(v)) throw new UserError(`${flag} must be ${s.choices!.join(', ')}, got '${printable(v)}'`);
        return v;
      };
    default:
      return undefined;
  }
}

/** "CoOp/CoCoOp: " before an option's help: the methods that take it. */
function takenBy(s: OptionSpec): string {
  const names = methodDefs().filter((d) => (d.options as readonly string[]).includes(s.key)).map((d) => d.display.name);
  return names.length ? `${names.join('/')}: ` : '';
}

export function addMethodOptions(cmd: Command, defaultMethod?: MethodName): Command {
  const method = new Option('--method <name>', `${METHODS.join(' | ')} (listed below)`);
  if (defaultMethod) method.default(defaultMethod);
  cmd.addOption(method);
  cmd.addHelpText('after', `\nMethods:\n${methodDefs().map((d) => `  ${d.name.padEnd(10)} ${d.summary}`).join('\n')}`);
  for (const s of OPTION_SPECS) {
    const value = s.kind === 'boolean' ? '' : ` <${s.value ?? 'n'}>`;
    const parse = parserOf(s);
    const help = `${takenBy(s)}${s.help}`;
    if (parse) cmd.option(`--${s.flag}${value}`, help, parse);
    else cmd.option(`--${s.flag}${value}`, help);
  }
  return cmd;
}

/** The parsed flags: the method's options as typed on the command line. */
export interface MethodFlags extends MethodOptions {
  method?: string;
}

/**
 * The method and its options as given (undefined = not given). A flag the method does not take is refused
 * (`--depth` with VPT, `--n-add` with CoOp): it would otherwise be ignored without a word. `check: false`
 * when the method is not known yet (mpl eval reads it from the prompts file).
 */
export function methodFrom(flags: MethodFlags, { check = true } = {}): { method: MethodName; options: MethodOptions } {
  if (!flags.method) throw new UserError('--method is required');
  const method = checkMethod(flags.method);
  const options = Object.fromEntries(OPTION_SPECS.map((s) => [s.key, flags[s.key]])) as MethodOptions;
  if (check) {
    const takes = methodDef(method).options as readonly string[];
    const foreign = OPTION_SPECS.filter((s) => options[s.key] !== undefined && !takes.includes(s.key));
    if (foreign.length) {
      const its = OPTION_SPECS.filter((s) => takes.includes(s.key)).map((s) => `--${s.flag}`);
      throw new UserError(
        `${foreign.map((s) => `--${s.flag}`).join(', ')} ${foreign.length > 1 ? 'do' : 'does'} not apply to --method ${method} ` +
          `(${its.length ? `it takes ${its.join(', ')}` : 'it takes no method flags'}); remove ${foreign.length > 1 ? 'them' : 'it'}`,
      );
    }
  }
  return { method, options };
}

/**
 * The method and options of learned prompts, as `mpl eval` and `mpl predict` both read them: the flags, else
 * the prompts' own prompts.json, else what the tensors' shapes say (an official model.pth.tar-N: MPL's depth
 * and N_ADD_OP, MaPLe's depth, CoOp's CSC, ...). Flags given win over what is read; with no prompts, the
 * flags (default zero-shot CLIP).
 */
export function methodOfPrompts(f: MethodFlags, prompts: LoadedPrompts | null, file?: string): { method: MethodName; options: MethodOptions } {
  if (!prompts) return methodFrom({ ...f, method: f.method ?? 'zeroshot' });
  // the method may come from the prompts file: the flags are checked against it by the learner's design
  const given = methodFrom({ ...f, method: f.method ?? 'zeroshot' }, { check: false }).options;
  const stated = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as MethodOptions;
  if (prompts.config) {
    const method = f.method ? checkMethod(f.method) : prompts.config.method;
    return { method, options: { ...prompts.config.options, ...stated } };
  }
  const inferred = inferMethod(prompts.tensors);
  const method = f.method ? checkMethod(f.method) : inferred.method;
  if (!method) {
    const which = inferred.candidates.length ? `the tensors fit ${inferred.candidates.join(' and ')}: say which with --method` : 'no method has these tensors: say which method wrote them with --method';
    throw new UserError(`${file ?? 'the prompts'}: ${which}`);
  }
  return { method, options: { ...(method === inferred.method || !inferred.method ? inferred.options : {}), ...stated } };
}
