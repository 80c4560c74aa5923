/**
 * What a sweep file or a flag may ask of SLURM, and the one way each value reaches a job script. Sweep files
 * are shared like config files, so no value in them may ever become shell code: every value is checked
 * against what SLURM accepts for its option (a partition name, a time limit, a memory size, ...), anything
 * else is refused with a one-line error naming the key, and an accepted value is written as ONE double-quoted
 * `#SBATCH` directive. `#SBATCH` lines are comments to bash; only sbatch reads them (src/sbatch/opt.c
 * `_get_argument`: a quoted value is one argument, `#` inside quotes is literal, `\` escapes), and the
 * characters allowed here leave nothing for either to interpret. The extra `sbatch-args` are options from a
 * fixed list with the same kind of check: options that run code or redirect files (`--export` can set
 * LD_PRELOAD, `--chdir`, `--output`, `--wrap`, ...) are not on it.
 */
import { printable, UserError } from '../util/errors.js';

/** The SLURM settings of a submission (sweep file `slurm:` block, or the executor flags). */
export interface SlurmSettings {
  partition?: string;
  account?: string;
  qos?: string;
  gres?: string;
  cpusPerTask?: number;
  mem?: string;
  time?: string;
  /** more `#SBATCH` options, each `--name=value` or `--name` (from a fixed list, checked) */
  sbatchArgs?: string[];
}

/** A value SLURM accepts for one option: the pattern it must match, and how to say so. */
interface Accepts {
  pattern: RegExp;
  /** what the error shows as the valid form */
  form: string;
}

const NAME = '[A-Za-z0-9_.-]+';
const name: Accepts = { pattern: new RegExp(`^${NAME}$`), form: 'a name of letters, digits, . _ -' };
const names: Accepts = { pattern: new RegExp(`^${NAME}(,${NAME})*$`), form: 'names of letters, digits, . _ - separated by commas' };
// minutes | MM:SS | HH:MM:SS | D-HH | D-HH:MM | D-HH:MM:SS | UNLIMITED (sbatch --time)
const time: Accepts = {
  pattern: /^(\d{1,9}(:\d{1,2}){0,2}|\d{1,5}-\d{1,2}(:\d{1,2}){0,2}|UNLIMITED|INFINITE|unlimited|infinite)$/,
  form: 'minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS, e.g. 12:00:00',
};
const size: Accepts = { pattern: /^\d{1,12}[KMGTkmgt]?$/, form: 'megabytes, or a number with K, M, G or T, e.g. 32G' };
const count: Accepts = { pattern: /^[1-9]\d{0,5}$/, form: 'a whole number from 1' };
// name[:type][:count], comma-separated (gpu:1, gpu:a100:2, shard:4)
const GRES = `${NAME}(:${NAME}){0,2}`;
const gres: Accepts = { pattern: new RegExp(`^${GRES}(,${GRES})*$`), form: 'name[:type][:count], comma-separated, e.g. gpu:1 or gpu:a100:2' };
const gpus: Accepts = { pattern: new RegExp(`^(${NAME}:)?\\d{1,6}(,(${NAME}:)?\\d{1,6})*$`), form: '[type:]count, e.g. 2 or a100:2' };
const hosts: Accepts = { pattern: /^[A-Za-z0-9_.,[\]-]+$/, form: 'a host list, e.g. node[01-04],gpu7' };

/** The settings with a key of their own (sweep file `slurm.<key>`, flag `--<key>`), in directive order. */
export const SLURM_KEYS: ReadonlyArray<{ key: Exclude<keyof SlurmSettings, 'sbatchArgs' | 'cpusPerTask'>; sweepKey: string; option: string; accepts: Accepts }> = [
  { key: 'partition', sweepKey: 'partition', option: '--partition', accepts: names },
  { key: 'gres', sweepKey: 'gres', option: '--gres', accepts: gres },
  { key: 'mem', sweepKey: 'mem', option: '--mem', accepts: size },
  { key: 'time', sweepKey: 'time', option: '--time', accepts: time },
  { key: 'account', sweepKey: 'account', option: '--account', accepts: name },
  { key: 'qos', sweepKey: 'qos', option: '--qos', accepts: name },
];

/** The largest --cpus-per-task asked for (a sanity bound, far above any node). */
export const MAX_CPUS_PER_TASK = 4096;

/** Options `sbatch-args` may add (value pattern, or null for a switch), beyond the keyed ones. */
const EXTRA: Record<string, Accepts | null> = {
  constraint: { pattern: /^[A-Za-z0-9_.,&|*[\]()!:-]+$/, form: 'features joined by & | , with [] () * (e.g. a100&nvlink)' },
  reservation: name,
  nodes: { pattern: /^\d{1,6}(-\d{1,6})?$/, form: 'N or MIN-MAX' },
  ntasks: count,
  'ntasks-per-node': count,
  'cpus-per-gpu': count,
  gpus,
  'gpus-per-node': gpus,
  'gpus-per-task': gpus,
  'mem-per-cpu': size,
  'mem-per-gpu': size,
  tmp: size,
  'time-min': time,
  nodelist: hosts,
  exclude: hosts,
  exclusive: null,
  requeue: null,
  'no-requeue': null,
  'mail-type': { pattern: /^[A-Za-z_0-9]+(,[A-Za-z_0-9]+)*$/, form: 'event names separated by commas, e.g. END,FAIL' },
  'mail-user': { pattern: /^[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+$/, form: 'an e-mail address' },
  signal: { pattern: /^(R:|B:|RB:|BR:)?[A-Za-z0-9]{1,10}(@\d{1,6})?$/, form: '[R:|B:]SIG[@seconds], e.g. B:USR1@90' },
  dependency: { pattern: /^(singleton|[a-z_]+:\d+(:\d+)*([,?][a-z_]+:\d+(:\d+)*)*)$/, form: 'type:jobid[:jobid], e.g. afterok:1234' },
  begin: { pattern: /^[A-Za-z0-9:+-]{1,40}$/, form: 'a time such as now+1hour or 2025-01-31T20:00:00' },
  deadline: { pattern: /^[A-Za-z0-9:+-]{1,40}$/, form: 'a time such as 2025-01-31T20:00:00' },
  nice: { pattern: /^-?\d{1,6}$/, form: 'an integer' },
  licenses: { pattern: /^[A-Za-z0-9_.@]+(:\d{1,6})?(,[A-Za-z0-9_.@]+(:\d{1,6})?)*$/, form: 'name[:count], comma-separated' },
  hint: { pattern: /^[a-z_]+$/, form: 'a hint such as nomultithread' },
  comment: { pattern: /^[A-Za-z0-9 _.,:;=+@/()[\]-]{1,200}$/, form: 'up to 200 letters, digits, spaces and . , : ; = + @ / ( ) [ ] _ -' },
};

function refuse(where: string, what: string): never {
  throw new UserError(printable(`${where}: ${what}`));
}

function checkValue(where: string, value: string, accepts: Accepts): string {
  if (!accepts.pattern.test(value)) refuse(where, `'${value}' is not what SLURM accepts here (${accepts.form})`);
  return value;
}

/** A keyed setting's value, checked; `where` names it as the user wrote it (`slurm.partition`, `--partition`). */
export function checkSlurmValue(key: (typeof SLURM_KEYS)[number]['key'], value: string, where: string): string {
  return checkValue(where, value, SLURM_KEYS.find((k) => k.key === key)!.accepts);
}

/** --cpus-per-task, checked. */
export function checkCpusPerTask(n: number, where: string): number {
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_CPUS_PER_TASK) refuse(where, `expected a whole number from 1 to ${MAX_CPUS_PER_TASK}, got ${JSON.stringify(n)}`);
  return n;
}

/** One extra sbatch argument (`--constraint=a100`, `--exclusive`), checked: the option's name and its value. */
export function checkSbatchArg(arg: string, where: string): { option: string; value?: string } {
  const m = /^--([a-z][a-z-]*)(?:=(.*))?$/s.exec(arg);
  if (!m) refuse(where, `'${arg}' is not an sbatch option written --name=value or --name`);
  const [, opt, value] = m;
  // the keyed options are accepted here too (sweep files wrote --qos=long here before it had its key)
  const keyed = SLURM_KEYS.find((k) => k.option === `--${opt}`)?.accepts ?? (opt === 'cpus-per-task' ? count : undefined);
  if (!keyed && !Object.hasOwn(EXTRA, opt)) {
    refuse(where, `--${opt} is not one of the sbatch options a sweep may set (${Object.keys(EXTRA).map((o) => `--${o}`).join(', ')}); options that choose files, the environment or the command are set by mpl itself`);
  }
  const accepts = keyed ?? EXTRA[opt];
  if (accepts === null) {
    if (value !== undefined) refuse(where, `--${opt} takes no value`);
    return { option: `--${opt}` };
  }
  if (value === undefined || value === '') refuse(where, `--${opt} needs a value (${accepts!.form})`);
  return { option: `--${opt}`, value: checkValue(where, value, accepts!) };
}

/**
 * Every setting checked at once (what a library caller passes goes through the same checks as a file);
 * `prefix` names the settings in errors (`slurm.` for a sweep file).
 */
export function checkSlurmSettings(s: SlurmSettings, prefix = 'slurm.'): void {
  for (const k of SLURM_KEYS) {
    const v = s[k.key];
    if (v !== undefined) checkSlurmValue(k.key, v, `${prefix}${k.sweepKey}`);
  }
  if (s.cpusPerTask !== undefined) checkCpusPerTask(s.cpusPerTask, `${prefix}cpus-per-task`);
  (s.sbatchArgs ?? []).forEach((a, i) => checkSbatchArg(a, `${prefix}sbatch-args[${i}]`));
}

/**
 * `#SBATCH --option="value"`: one directive, the value double-quoted so that sbatch reads it as one argument
 * (`"` and `\` escaped with a backslash, as sbatch unescapes them). Values from the settings were checked (no
 * quote, backslash or line break can be in them); a line break would end the comment, so it is never written.
 */
export function directive(option: string, value?: string): string {
  if (value === undefined) return `#SBATCH ${option}`;
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new Error(`directive ${option}: a control character in ${JSON.stringify(value)}`);
  return `#SBATCH ${option}="${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * `#SBATCH --output="<file>"` for a file in `dir` whose name holds sbatch's patterns (%A, %a): the folder's own
 * `%` are doubled (sbatch reads `%%` as `%`). A folder with a control character or a backslash (which turns
 * sbatch's patterns off) cannot be named: refused, naming `where`.
 */
export function outputDirective(dir: string, patternName: string, where: string): string {
  if (/[\u0000-\u001f\u007f\\]/.test(dir)) refuse(where, `${dir} holds a line break, control character or backslash: SLURM cannot write its output there; use another folder`);
  return directive('--output', `${dir.replace(/%/g, '%%')}/${patternName}`);
}

/** The directives of the settings, in a fixed order (the checks run again: a library caller may pass anything). */
export function settingDirectives(s: SlurmSettings): string[] {
  checkSlurmSettings(s);
  const lines = [directive('--cpus-per-task', String(s.cpusPerTask ?? 1))];
  for (const k of SLURM_KEYS) {
    const v = s[k.key];
    if (v !== undefined) lines.push(directive(k.option, v));
  }
  for (const a of s.sbatchArgs ?? []) {
    const { option, value } = checkSbatchArg(a, 'slurm.sbatch-args');
    lines.push(directive(option, value));
  }
  return lines;
}
