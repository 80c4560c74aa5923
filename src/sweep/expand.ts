/**
 * Sweep expansion: a checked sweep (./spec.ts reads and checks the file) expanded into its runs, in order
 * (protocol, dataset, method, options, shots, precision, seed), each with its configuration, the folder the
 * run-identity scheme gives it (src/eval/run-config.ts) and the `mpl` arguments that perform it. Two entries
 * that are the same run are an error naming the file.
 */
import * as path from 'node:path';
import { getDataset } from '../data/datasets/index.js';
import { DG_TARGETS, FEWSHOT_SHOTS, XD_TARGETS } from '../eval/protocols.js';
import type { Protocol } from '../eval/results.js';
import { buildRunConfig, runDirOf, type RunConfig } from '../eval/run-config.js';
import { DEFAULT_PRECISION, DEFAULT_SEEDS, DEFAULT_SHOTS, RUN_SETTINGS, type GivenRunSettings } from '../eval/run-settings.js';
import { OPTION_SPECS, methodDef, type MethodName, type MethodOptions } from '../prompting/methods/index.js';
import { UserError } from '../util/errors.js';
import type { DatasetEntry, OptionValue, Override, Settings, Sweep } from './spec.js';

/** One run of a sweep: its configuration, its folder and the `mpl` arguments that perform it. */
export interface PlannedRun {
  /** position in the sweep (stable while the file is unchanged) */
  index: number;
  config: RunConfig;
  runDir: string;
  /** arguments after `mpl` */
  argv: string[];
  /** device requested for the run (not part of its identity) */
  device?: string;
}

/** The settings table's rows a sweep gives one value of (epochs, lr, batch-size, warm-up, ..., workers). */
const ONE_SETTINGS = RUN_SETTINGS.filter((r) => r.sweep === 'one');

/** The one-value run settings a merged entry sets. */
function oneSettings(st: Settings): GivenRunSettings {
  const given = st as Record<string, unknown>;
  return Object.fromEntries(ONE_SETTINGS.filter((r) => given[r.key] !== undefined).map((r) => [r.key, given[r.key]])) as GivenRunSettings;
}

/** Later settings win; options merge flag by flag. */
function merge(...layers: Settings[]): Settings {
  const out: Settings = {};
  for (const l of layers) {
    const { options, ...rest } = l;
    Object.assign(out, Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)));
    if (options) out.options = { ...out.options, ...options };
  }
  return out;
}

/** Every combination of the option lists: [{depth: 3, n-ctx: 1}, {depth: 9, n-ctx: 1}, ...]. */
function optionGrid(options: Record<string, OptionValue[]> = {}): Array<Record<string, OptionValue>> {
  let grid: Array<Record<string, OptionValue>> = [{}];
  for (const [flag, values] of Object.entries(options)) grid = grid.flatMap((g) => values.map((v) => ({ ...g, [flag]: v })));
  return grid;
}

function methodOptionsOf(flags: Record<string, OptionValue>): MethodOptions {
  const o: Record<string, OptionValue> = {};
  for (const [flag, v] of Object.entries(flags)) {
    const def = OPTION_SPECS.find((f) => f.flag === flag)!;
    if (def.kind === 'boolean' && v === false) continue; // a boolean flag is either given or not
    o[def.key] = v;
  }
  return o as MethodOptions;
}

function matches(
  o: Override,
  r: { protocol: string; dataset: string; label: string; method: string; shots: number; precision: string; seed: number },
): boolean {
  const w = o.when;
  const sameDataset = (x: string) => {
    try {
      return x === r.label || getDataset(x).name === r.dataset;
    } catch {
      return false;
    }
  };
  return (
    (w.protocol === undefined || w.protocol === r.protocol) &&
    (w.dataset === undefined || sameDataset(w.dataset)) &&
    (w.method === undefined || w.method === r.method) &&
    (w.shots === undefined || w.shots === r.shots) &&
    (w.precision === undefined || w.precision === r.precision) &&
    (w.seed === undefined || w.seed === r.seed)
  );
}

/** The backbone name a run will record (as loadClip names it: the weights file's base name, or the model). */
export function sweepBackbone(s: Pick<Sweep, 'weights' | 'model'>): string {
  return s.weights ? path.basename(s.weights) : s.model!;
}

/** Whether a method takes a method flag (by its CLI name). */
function methodTakesFlag(method: MethodName, flag: string): boolean {
  const spec = OPTION_SPECS.find((o) => o.flag === flag);
  return spec !== undefined && (methodDef(method).options as readonly string[]).includes(spec.key);
}

/** Every run of the sweep, in order: protocol, dataset, method, options, shots, precision, seed. */
export function expandSweep(s: Sweep): PlannedRun[] {
  const runs: PlannedRun[] = [];
  const byDir = new Map<string, number>();
  for (const protocol of s.protocols) {
    for (const d of s.datasets) {
      for (const m of s.methods) {
        // a method's own entry naming a flag it does not take is a mistake; the sweep's common options are not
        const foreign = Object.keys(m.options ?? {}).filter((f) => !methodTakesFlag(m.method, f));
        if (foreign.length)
          throw new UserError(`${s.origin}: methods: ${m.method}: options ${foreign.join(', ')} do not apply to ${m.method}; remove them`);
        const base = merge(s.top, d, m);
        const shotsList = base.shots ?? (protocol === 'fewshot' ? FEWSHOT_SHOTS : [DEFAULT_SHOTS]);
        for (const flags of optionGrid(base.options)) {
          for (const shots of shotsList) {
            for (const precision of base.precision ?? [DEFAULT_PRECISION]) {
              for (const seed of base.seeds ?? DEFAULT_SEEDS) {
                const label = d.name ?? d.dataset;
                const when = { protocol, dataset: d.dataset, label, method: m.method, shots, precision, seed };
                const extra = s.overrides.filter((o) => matches(o, when)).map((o) => o.set);
                const st = merge(base, { options: Object.fromEntries(Object.entries(flags).map(([k, v]) => [k, [v]])) }, ...extra);
                // options given for the whole sweep reach the methods that take them (n-ctx: CoOp and MPL, not VPT)
                const runFlags = Object.fromEntries(
                  Object.entries(st.options ?? {})
                    .filter(([k]) => methodTakesFlag(m.method, k))
                    .map(([k, v]) => [k, v[0]]),
                );
                const targets = protocol === 'xd' || protocol === 'dg' ? (st.targets ?? (protocol === 'xd' ? XD_TARGETS : DG_TARGETS)) : undefined;
                const root = d.root ?? s.root!;
                const config = buildRunConfig({
                  ...oneSettings(st),
                  protocol,
                  dataset: d.dataset,
                  name: d.name,
                  root,
                  method: m.method,
                  methodOptions: methodOptionsOf(runFlags),
                  seed,
                  shots,
                  backbone: sweepBackbone(s),
                  precision: precision === DEFAULT_PRECISION ? undefined : precision,
                  targets,
                });
                const runDir = runDirOf(s.out, config);
                const index = runs.length;
                const twin = byDir.get(runDir);
                if (twin !== undefined)
                  throw new UserError(`${s.origin}: runs ${twin + 1} and ${index + 1} are the same run (${runDir}): check the lists for repeats`);
                byDir.set(runDir, index);
                runs.push({
                  index,
                  config,
                  runDir,
                  argv: commandOf(s, protocol, d, m.method, runFlags, st, shots, precision, seed, targets),
                  device: st.device,
                });
              }
            }
          }
        }
      }
    }
  }
  return runs;
}

/** The `mpl` arguments of one run: exactly what a user would type. */
function commandOf(
  s: Sweep,
  protocol: Protocol,
  d: DatasetEntry,
  method: MethodName,
  flags: Record<string, OptionValue>,
  st: Settings,
  shots: number,
  precision: string,
  seed: number,
  targets: string[] | undefined,
): string[] {
  const a: string[] = [protocol, '--dataset', d.dataset, '--root', d.root ?? s.root!];
  if (d.name) a.push('--name', d.name);
  a.push('--method', method);
  for (const [flag, v] of Object.entries(flags)) {
    if (v === true) a.push(`--${flag}`);
    else if (v !== false) a.push(`--${flag}`, String(v));
  }
  a.push('--seeds', String(seed));
  if (protocol === 'fewshot') a.push('--k', String(shots));
  else if (shots !== DEFAULT_SHOTS) a.push('--shots', String(shots));
  const given = oneSettings(st) as Record<string, unknown>;
  const settingFlags = (recorded: boolean) => {
    for (const r of ONE_SETTINGS) if (Boolean(r.recorded) === recorded && given[r.key] !== undefined) a.push(`--${r.flag}`, String(given[r.key]));
  };
  settingFlags(true);
  // the precision is always explicit: it is part of the run's identity (folder), and the CLI's own default
  // (auto) would resolve per machine; the device only when the sweep sets it (auto picks the GPU the
  // executor hands out through CUDA_VISIBLE_DEVICES)
  a.push('--precision', precision);
  if (st.device !== undefined) a.push('--device', st.device);
  if (targets && st.targets) a.push('--targets', targets.join(','));
  // settings outside the run's identity (workers) after it
  settingFlags(false);
  if (s.skipBadImages) a.push('--skip-bad-images');
  if (s.allowGeneratedSplit) a.push('--allow-generated-split');
  a.push('--out', s.out);
  if (s.weights) a.push('--weights', s.weights);
  else a.push('--model', s.model!);
  return a;
}
