/**
 * `--config FILE` for the protocol commands, and Dassl's `KEY VALUE` overrides.
 *
 * Two kinds of file are read (YAML or JSON, told apart by their keys):
 *  - this tool's own: flat keys named like the command's flags (`method: mpl`, `epochs: 2`, `batch-size`,
 *    `batch_size` or `batchSize`), values as on the command line (lists may be YAML lists);
 *  - the official Dassl / MPL configuration files as they are (upper-case sections: OPTIM, TRAINER.<NAME>,
 *    DATALOADER, DATASET, INPUT, ...), e.g. `trainers/MPL/vit_b4_c1_add2_rm1.yaml` with
 *    `datasets/eurosat.yaml`, plus overrides such as `DATASET.NUM_SHOTS 16` after the flags.
 * Each Dassl key is either mapped onto a flag, accepted because it cannot change what is computed (print or
 * checkpoint frequency, the evaluation batch size, settings of components that are not used), or refused
 * when it asks for behaviour this tool does not have (another optimiser or scheduler, other transforms,
 * best-validation model selection, ...): a refused key is a one-line error naming it, never silently ignored.
 * Flags typed on the command line always win over the files (commander records where a value came from).
 */
import type { Command, Option } from 'commander';
import { CLIP_MEAN, CLIP_STD } from '../data/image.js';
import { UserError, fileError, printable } from '../util/errors.js';
import { parseYamlText, readConfigText } from '../util/parse.js';
import { RUN_SETTINGS } from '../eval/run-settings.js';
import { OPTION_SPECS, checkMethod, dasslTrainer, dasslTrainerNames, methodDef, type OptionKey } from '../prompting/methods/index.js';

/** A value as read from a file (or an override), before the flag's own parser checks it. */
type Raw = unknown;
type Tree = Record<string, Raw>;

const isTree = (v: Raw): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads a YAML (or JSON, a subset of YAML) file into an object; a clear error for anything else. Within the
 * parsing limits of src/util/parse.ts (1 MiB, 64 levels, linear time).
 */
export function readConfigFile(file: string): Tree {
  const v = readConfigText(file, 'config file');
  if (v === null || v === undefined) return {};
  if (!isTree(v)) throw fileError(file, 'a config file must hold a mapping of keys to values');
  return v;
}

/** Dassl's files have upper-case keys only (DATASET, OPTIM, TRAINER, ...). */
export function isDasslConfig(tree: Tree): boolean {
  const keys = Object.keys(tree);
  return keys.length > 0 && keys.every((k) => /^[A-Z][A-Z0-9_]*$/.test(k));
}

// ---------------------------------------------------------------------------------------------------------
// Dassl keys

/** TRAINER.<NAME>.KEY → the flag's attribute name, from the method options' table (IVLP/PromptSRC's N_CTX_TEXT is our --n-ctx). */
const TRAINER_KEYS: Record<string, string> = Object.fromEntries(OPTION_SPECS.flatMap((o) => (o.dassl ?? []).filter((k) => !k.includes('.')).map((k) => [k, o.key])));
/** Whole keys of the options table outside TRAINER (ProGrad's LOSS.LAMBDA, LOSS.T) → the flag's attribute name. */
const OPTION_KEYS: Record<string, OptionKey> = Object.fromEntries(OPTION_SPECS.flatMap((o) => (o.dassl ?? []).filter((k) => k.includes('.')).map((k) => [k, o.key])));

/**
 * Keys mapped onto a flag (attribute name): every run setting's Dassl key from the settings table
 * (src/eval/run-settings.ts: OPTIM.LR, OPTIM.MAX_EPOCH, OPTIM.WARMUP_CONS_LR, DATALOADER.TRAIN_X.BATCH_SIZE,
 * DATASET.NUM_SHOTS, SEED, ...), and the keys that name the data, the model and the output folder.
 */
const MAPPED: Record<string, string> = {
  ...Object.fromEntries(RUN_SETTINGS.filter((s) => s.dassl && s.flag).map((s) => [s.dassl!, s.key])),
  'DATASET.NAME': 'dataset',
  'DATASET.ROOT': 'root',
  'MODEL.BACKBONE.NAME': 'model',
  OUTPUT_DIR: 'out',
};

/**
 * Keys that must keep the value this tool implements (compared after normalising case, tuples and numbers);
 * anything else is refused, naming the key and what is supported.
 */
const FIXED: Record<string, Raw[]> = {
  // the settings without a flag (the warm-up's type, the scheduler): what the table says is implemented
  ...Object.fromEntries(RUN_SETTINGS.filter((s) => s.dassl && s.implements).map((s) => [s.dassl!, [...s.implements!]])),
  'OPTIM.NAME': ['sgd'],
  'OPTIM.SGD_DAMPNING': [0],
  'OPTIM.SGD_NESTEROV': [false],
  'OPTIM.STAGED_LR': [false],
  'OPTIM.WARMUP_RECOUNT': [true],
  'INPUT.INTERPOLATION': ['bicubic'],
  'INPUT.TRANSFORMS': [['random_resized_crop', 'random_flip', 'normalize']],
  'INPUT.PIXEL_MEAN': [[...CLIP_MEAN]],
  'INPUT.PIXEL_STD': [[...CLIP_STD]],
  'INPUT.NO_TRANSFORM': [false],
  'INPUT.RRCROP_SCALE': [[0.08, 1.0]],
  'DATALOADER.TRAIN_X.SAMPLER': ['randomsampler'],
  'DATALOADER.TEST.SAMPLER': ['sequentialsampler'],
  'DATALOADER.K_TRANSFORMS': [1],
  'DATALOADER.RETURN_IMG0': [false],
  'DATASET.SOURCE_DOMAINS': [[], ''],
  'DATASET.TARGET_DOMAINS': [[], ''],
  'TEST.FINAL_MODEL': ['last_step'],
  'TEST.EVALUATOR': ['classification'],
  'TEST.SPLIT': ['test'],
  'TEST.NO_TEST': [false],
  'TRAIN.COUNT_ITER': ['train_x'],
  'MODEL.BACKBONE.PRETRAINED': [true],
  'MODEL.INIT_WEIGHTS': [''],
  RESUME: [''],
  'LOSS.NAME': ['prograd', ''], // the loss of ProGrad's trainer (its only one)
};

/**
 * Keys that cannot change the numbers: how often to print or checkpoint (every epoch here), the evaluation
 * batch size, settings of optimisers, schedulers, heads and datasets that these runs do not use.
 */
const HARMLESS = new Set([
  'DATALOADER.TEST.BATCH_SIZE',
  'DATALOADER.TRAIN_X.N_DOMAIN',
  'DATALOADER.TRAIN_X.N_INS',
  'TRAIN.CHECKPOINT_FREQ',
  'TEST.PER_CLASS_RESULT',
  'TEST.COMPUTE_CMAT',
  'OPTIM.ADAM_BETA1',
  'OPTIM.ADAM_BETA2',
  'OPTIM.RMSPROP_ALPHA',
  'OPTIM.STEPSIZE',
  'OPTIM.GAMMA',
  'OPTIM.WARMUP_MIN_LR',
  'OPTIM.NEW_LAYERS',
  'OPTIM.BASE_LR_MULT',
  'MODEL.HEAD.NAME',
  'MODEL.HEAD.HIDDEN_LAYERS',
  'MODEL.HEAD.ACTIVATION',
  'MODEL.HEAD.BN',
  'MODEL.HEAD.DROPOUT',
  'DATASET.NUM_LABELED',
  'DATASET.VAL_PERCENT',
  'DATASET.STL10_FOLD',
  'DATASET.CIFAR_C_TYPE',
  'DATASET.CIFAR_C_LEVEL',
  'DATASET.ALL_AS_UNLABELED',
  'INPUT.CROP_PADDING',
  'INPUT.CUTOUT_N',
  'INPUT.CUTOUT_LEN',
  'INPUT.GN_MEAN',
  'INPUT.GN_STD',
  'INPUT.RANDAUGMENT_N',
  'INPUT.RANDAUGMENT_M',
  'INPUT.COLORJITTER_B',
  'INPUT.COLORJITTER_C',
  'INPUT.COLORJITTER_S',
  'INPUT.COLORJITTER_H',
  'INPUT.RGS_P',
  'INPUT.GB_P',
  'INPUT.GB_K',
  'VERBOSE',
  'USE_CUDA',
]);

/** Lower-case strings, tuples "(0.08, 1.0)" as lists, "True"/"False" as booleans, numeric strings as numbers. */
function normalise(v: Raw): Raw {
  if (Array.isArray(v)) return v.map(normalise);
  if (typeof v !== 'string') return v;
  const s = v.trim();
  const tuple = /^\((.*)\)$/.exec(s);
  if (tuple) return tuple[1].split(',').map((x) => x.trim()).filter((x) => x !== '').map(normalise);
  if (/^(true|false)$/i.test(s)) return s.toLowerCase() === 'true';
  if (s !== '' && Number.isFinite(Number(s))) return Number(s);
  return s.toLowerCase();
}

function sameValue(a: Raw, b: Raw): boolean {
  const x = normalise(a);
  const y = normalise(b);
  if (Array.isArray(x) && Array.isArray(y)) return x.length === y.length && x.every((v, i) => sameValue(v, y[i]));
  if (typeof x === 'number' && typeof y === 'number') return Math.abs(x - y) <= 1e-6 * Math.max(1, Math.abs(y));
  return x === y;
}

/** Flattens {A: {B: 1}} to {"A.B": 1}. */
function flatten(tree: Tree, prefix = '', out: Record<string, Raw> = {}): Record<string, Raw> {
  for (const [k, v] of Object.entries(tree)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (isTree(v)) flatten(v, key, out);
    else out[key] = v;
  }
  return out;
}

/** Dassl's opts list: KEY VALUE KEY VALUE ..., values read as YAML scalars (yacs reads Python literals). */
export function parseOverrides(list: string[]): Record<string, Raw> {
  if (list.length % 2 !== 0) {
    throw new UserError(printable(`Dassl overrides come in KEY VALUE pairs; got ${list.length} words (${list.join(' ')})`));
  }
  const out: Record<string, Raw> = {};
  for (let i = 0; i < list.length; i += 2) {
    const key = list[i];
    if (!/^[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)*$/.test(key)) {
      throw new UserError(printable(`'${key}' is not a Dassl key (KEY.SUBKEY in capitals, e.g. DATASET.NUM_SHOTS 16); flags start with --`));
    }
    let value: Raw;
    try {
      value = parseYamlText(list[i + 1], key);
    } catch {
      value = list[i + 1];
    }
    out[key] = value ?? '';
  }
  return out;
}

/** Which protocol command is configured: decides what DATASET.SUBSAMPLE_CLASSES and NUM_SHOTS mean. */
export type ConfiguredCommand = 'base2new' | 'xd' | 'dg' | 'fewshot';

export interface MappedConfig {
  /** flag attribute name → value (as read; the flag's parser checks it) */
  flags: Record<string, Raw>;
  /** one line per adaptation worth saying (printed once, recorded in the log) */
  notes: string[];
}

/**
 * Maps Dassl keys (already flattened: "OPTIM.LR") onto flags; refuses unsupported behaviour-changing keys.
 * `where` names the files / overrides in error messages; `method`, the --method typed on the command line,
 * names the trainer when TRAINER.NAME does not (the official scripts give it as `--trainer`).
 */
export function mapDassl(keys: Record<string, Raw>, command: ConfiguredCommand, where: string, method?: string): MappedConfig {
  const flags: Record<string, Raw> = {};
  const notes: string[] = [];
  const refuse = (key: string, why: string): never => {
    throw new UserError(`${where}: ${key} ${why}`);
  };
  // the method: TRAINER.NAME, else the one TRAINER.<NAME> section
  const sections = [...new Set(Object.keys(keys).filter((k) => k.startsWith('TRAINER.') && k !== 'TRAINER.NAME').map((k) => k.split('.')[1]))];
  let trainer: string | undefined;
  let takes: readonly OptionKey[] = [];
  if (keys['TRAINER.NAME'] !== undefined) {
    const name = String(keys['TRAINER.NAME']);
    trainer = name.toUpperCase().replace(/[^A-Z0-9]/g, '');
    if (!dasslTrainer(trainer)) refuse('TRAINER.NAME', `'${name}' is not a trainer this tool has (${dasslTrainerNames().join(', ')})`);
  } else if (method) {
    trainer = Object.keys(methodDef(checkMethod(method)).dassl.trainers)[0];
  } else if (sections.length === 1) {
    trainer = sections[0].toUpperCase();
  } else if (sections.length > 1) {
    refuse('TRAINER', `has sections for ${sections.join(', ')}: say which trainer with TRAINER.NAME`);
  }
  // the TRAINER.<SECTION> the trainer reads its settings from (KgCoOp and ProGrad read TRAINER.COOP)
  let section = trainer;
  let ctxInitSwitch: string | undefined;
  if (trainer) {
    const found = dasslTrainer(trainer);
    if (!found) refuse(`TRAINER.${trainer}`, `is not a trainer this tool has (${dasslTrainerNames().join(', ')})`);
    flags.method = found!.method;
    Object.assign(flags, found!.options); // e.g. ZEROSHOTCLIP2: the template ensemble
    const def = methodDef(found!.method);
    takes = def.options;
    section = def.dassl.section ?? trainer;
    ctxInitSwitch = (def.defaults as { ctxInit?: string }).ctxInit;
  }
  for (const [key, value] of Object.entries(keys)) {
    if (key === 'TRAINER.NAME') continue;
    if (key.startsWith('TRAINER.')) {
      const [, keySection, sub, ...rest] = key.split('.');
      if (keySection.toUpperCase() !== section) continue; // another trainer's section cannot change this run
      if (!sub || rest.length) refuse(key, 'is not a trainer setting this tool knows');
      if (sub === 'PREC') {
        const p = String(value).toLowerCase();
        if (p === 'fp16') {
          // the official GPU recipe; `auto` picks exactly it on a GPU and the best CPU precision otherwise
          flags.precision = 'auto';
          notes.push(`${key} fp16: --precision auto (fp16 on a GPU as the official recipe; on a CPU bf16 or fp32)`);
        } else if (p === 'fp32' || p === 'amp') flags.precision = p;
        else refuse(key, `'${value}' is not a precision (fp16, fp32 or amp)`);
        continue;
      }
      const attr = TRAINER_KEYS[sub];
      if (!attr) refuse(key, `is not supported (known: ${Object.keys(TRAINER_KEYS).join(', ')}, PREC)`);
      if (attr === 'ctxInit' && !takes.includes('ctxInit')) continue; // a fixed text side (VPT's template) has no context words
      const b = normalise(value);
      if (attr === 'ctxInit' && typeof b === 'boolean') {
        // KgCoOp's and ProGrad's CTX_INIT is a switch: True = their own words ("a photo of a"; the dataset's
        // template), False = a random context
        flags[attr] = b ? (ctxInitSwitch ?? '') : '';
        continue;
      }
      flags[attr] = value;
      continue;
    }
    if (key in OPTION_KEYS) {
      // another method's loss setting (the official train.py defines LOSS.* for every trainer) cannot change this run
      if (takes.includes(OPTION_KEYS[key])) flags[OPTION_KEYS[key]] = value;
      continue;
    }
    if (key in MAPPED) {
      flags[MAPPED[key]] = value;
      continue;
    }
    if (key in FIXED) {
      if (!FIXED[key].some((ok) => sameValue(value, ok))) {
        refuse(key, `${JSON.stringify(value)} is not supported: this tool implements ${FIXED[key].map((v) => JSON.stringify(v)).join(' or ')}`);
      }
      continue;
    }
    if (key === 'INPUT.SIZE') {
      const size = normalise(value);
      if (!Array.isArray(size) || size.length !== 2 || size[0] !== size[1]) refuse(key, `${JSON.stringify(value)}: only square inputs exist for a CLIP ViT`);
      flags.inputSize = (size as number[])[0];
      continue;
    }
    if (key === 'DATASET.SUBSAMPLE_CLASSES') {
      const v = String(value).toLowerCase();
      const ok = command === 'base2new' ? ['base', 'all'] : ['all'];
      if (!ok.includes(v)) {
        refuse(key, command === 'base2new'
          ? `${value}: base2new trains on the base classes and tests base and new itself (use mpl eval --subsample new to test prompts on new classes)`
          : `${value}: ${command} uses all classes`);
      }
      continue;
    }
    if (key === 'USE_CUDA') {
      if (normalise(value) === false) flags.device = 'cpu';
      continue;
    }
    if (HARMLESS.has(key)) continue;
    refuse(key, 'is not supported by this tool (it is neither mapped onto a flag nor known to leave the results unchanged)');
  }
  if (command === 'fewshot' && flags.shots !== undefined) {
    flags.k = flags.shots;
    delete flags.shots;
  }
  return { flags, notes };
}

// ---------------------------------------------------------------------------------------------------------
// Applying a configuration to a command

/** "batch-size", "batch_size", "batchSize" and "BATCH_SIZE" all name the flag attribute `batchSize`. */
function attributeOf(key: string): string {
  const k = key.replace(/^-+/, '');
  if (!/[-_]/.test(k)) return k;
  return k.toLowerCase().replace(/[-_]([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function optionFor(cmd: Command, attr: string): Option | undefined {
  return cmd.options.find((o) => o.attributeName() === attr);
}

/** A file value as the text a flag's parser takes: lists joined by commas (seeds, targets, k). */
function asFlagText(v: Raw): string {
  if (Array.isArray(v)) return v.map(asFlagText).join(',');
  return String(v);
}

/** Sets values on the command where the command line did not set them; the flag's own parser checks each. */
function setFlags(cmd: Command, values: Record<string, Raw>, where: string): void {
  for (const [attr, value] of Object.entries(values)) {
    const opt = optionFor(cmd, attr);
    if (!opt) throw new UserError(`${where}: '${attr}' is not an option of mpl ${cmd.name()}`);
    if (cmd.getOptionValueSource(attr) === 'cli') continue; // a flag typed on the command line wins
    let v: Raw;
    if (opt.isBoolean()) {
      const b = normalise(value);
      if (typeof b !== 'boolean') throw new UserError(`${where}: ${attr} must be true or false, got ${JSON.stringify(value)}`);
      v = b;
    } else {
      const text = asFlagText(value);
      try {
        v = opt.parseArg ? opt.parseArg(text, undefined) : text;
      } catch (e) {
        throw new UserError(`${where}: ${attr}: ${(e as Error).message}`);
      }
    }
    cmd.setOptionValueWithSource(attr, v, 'config');
  }
}

export interface AppliedConfig {
  notes: string[];
  /** INPUT.SIZE of a Dassl file: compared with the model's input size once it is loaded */
  inputSize?: number;
}

/**
 * Reads every --config file and the Dassl overrides and sets the command's options from them (command-line
 * flags win). Own-format files and Dassl files may be combined; overrides apply to the Dassl keys.
 */
export function applyConfig(cmd: Command, files: string[], overrides: string[], command: ConfiguredCommand): AppliedConfig {
  const dassl: Record<string, Raw> = {};
  const dasslSources: string[] = [];
  const own: Array<[string, Tree]> = [];
  for (const file of files) {
    const tree = readConfigFile(file);
    if (isDasslConfig(tree)) {
      Object.assign(dassl, flatten(tree));
      dasslSources.push(file);
    } else {
      if (Object.keys(tree).some((k) => /^[A-Z][A-Z0-9_]*$/.test(k) && isTree(tree[k]))) {
        throw fileError(file, 'mixes Dassl sections (upper case) with flag names: use one kind per file');
      }
      own.push([file, tree]);
    }
  }
  if (overrides.length) {
    Object.assign(dassl, parseOverrides(overrides));
    dasslSources.push('overrides');
  }
  const notes: string[] = [];
  let inputSize: number | undefined;
  // own files first, Dassl after: where both set a flag, the later one wins; the command line beats both
  const merged: Record<string, Raw> = {};
  for (const [file, tree] of own) {
    for (const [k, v] of Object.entries(tree)) {
      const attr = attributeOf(k);
      if (!optionFor(cmd, attr) || attr === 'config') {
        throw fileError(file, `'${k}' is not an option of mpl ${cmd.name()} (see mpl ${cmd.name()} --help)`);
      }
      merged[attr] = v;
    }
  }
  if (dasslSources.length) {
    const method = cmd.getOptionValueSource('method') === 'cli' ? String(cmd.getOptionValue('method')) : undefined;
    const m = mapDassl(dassl, command, dasslSources.join(' + '), method);
    if ('inputSize' in m.flags) {
      inputSize = m.flags.inputSize as number;
      delete m.flags.inputSize;
    }
    Object.assign(merged, m.flags);
    notes.push(...m.notes);
  }
  setFlags(cmd, merged, [...files, ...(overrides.length ? ['overrides'] : [])].join(' + '));
  return { notes, inputSize };
}

/** Collects a repeatable option's values (`--config a.yaml --config b.yaml`). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
