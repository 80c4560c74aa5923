/**
 * Hand-crafted text templates: the default one and a dataset's own (CoOp `trainers/zsclip.py`
 * CUSTOM_TEMPLATES, which each DatasetDef holds); the methods' template sets live with the methods
 * (ZeroshotCLIP2's ensemble in methods/zeroshot.ts, PromptSRC's 60 in methods/promptsrc.ts).
 */
import { findDatasetDef } from '../data/datasets/index.js';
import type { DatasetPrompt } from './methods/method.js';

export const DEFAULT_TEMPLATE = 'a photo of a {}.';

/**
 * What a dataset tells hand-crafted prompts, by any of its names: its zero-shot template (CoOp's
 * CUSTOM_TEMPLATES, held by its DatasetDef), whether ZeroshotCLIP2's ensemble adds it and its Dassl name (the
 * key of a method's own template table); "a photo of a {}." for a name the dataset registry does not know.
 */
export function datasetPrompt(name: string): DatasetPrompt {
  const d = findDatasetDef(name);
  return d ? { template: d.template, ensembleAddsTemplate: d.ensembleAddsTemplate ?? true, displayName: d.displayName } : { template: DEFAULT_TEMPLATE };
}

/** Fills a template's {} with a class name (official code: str.format / replace). */
export function fill(template: string, classname: string): string {
  return template.replace('{}', classname);
}
