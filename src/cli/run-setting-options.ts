/**
 * The run-setting flags of the protocol commands (base2new, xd, dg, fewshot), generated from the settings
 * table (src/eval/run-settings.ts): one flag per row it declares for them, with the row's parser (range) and
 * help, in the table's order. --precision (compute-options.ts) and --workers / --no-augment (flags.ts) are
 * shared with other commands and declared there, reading the same rows.
 */
import type { Command } from 'commander';
import { RUN_SETTINGS, type RunSettingSpec } from '../eval/run-settings.js';
import { rangedFlag } from './flags.js';

/** How the CLI parses one setting's value (its range from the table). */
export function settingParser(s: RunSettingSpec): ((v: string) => unknown) | undefined {
  return rangedFlag(`--${s.flag}`, s.kind, s.range);
}

/** Adds the protocol commands' run-setting flags; a list (`seeds`) shows its default, which no recipe changes. */
export function addRunSettingOptions(cmd: Command): Command {
  for (const s of RUN_SETTINGS) {
    if (s.declaredBy !== 'protocol' || !s.flag) continue;
    const placeholder = s.kind === 'boolean' ? '' : ` <${s.value ?? 'x'}>`;
    const parse = settingParser(s)!;
    if (s.kind === 'int-list') cmd.option(`--${s.flag}${placeholder}`, s.help, parse, s.default?.(undefined as never));
    else cmd.option(`--${s.flag}${placeholder}`, s.help, parse);
  }
  return cmd;
}
