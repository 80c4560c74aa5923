/**
 * Hand-crafted text templates of the official code (CoOp `trainers/zsclip.py`, PromptSRC
 * `trainers/imagenet_templates.py`), by dataset name as used on the CLI.
 */
import type { DatasetPrompt } from './methods/method.js';

/** Zero-shot CLIP's single template per dataset (CUSTOM_TEMPLATES). */
export const CUSTOM_TEMPLATES: Record<string, string> = {
  oxford_pets: 'a photo of a {}, a type of pet.',
  oxford_flowers: 'a photo of a {}, a type of flower.',
  fgvc_aircraft: 'a photo of a {}, a type of aircraft.',
  dtd: '{} texture.',
  eurosat: 'a centered satellite photo of {}.',
  stanford_cars: 'a photo of a {}.',
  food101: 'a photo of {}, a type of food.',
  sun397: 'a photo of a {}.',
  caltech101: 'a photo of a {}.',
  ucf101: 'a photo of a person doing {}.',
  imagenet: 'a photo of a {}.',
  imagenet_sketch: 'a photo of a {}.',
  imagenet_v2: 'a photo of a {}.',
  imagenet_a: 'a photo of a {}.',
  imagenet_r: 'a photo of a {}.',
};

export const DEFAULT_TEMPLATE = 'a photo of a {}.';

/**
 * What a dataset tells hand-crafted prompts, by its CLI name: its zero-shot template (CUSTOM_TEMPLATES, else
 * "a photo of a {}."), and whether ZeroshotCLIP2's ensemble adds it (not for ImageNet and its variants).
 */
export function datasetPrompt(name: string): DatasetPrompt {
  return { template: CUSTOM_TEMPLATES[name] ?? DEFAULT_TEMPLATE, ensembleAddsTemplate: !name.startsWith('imagenet') };
}

/** Fills a template's {} with a class name (official code: str.format / replace). */
export function fill(template: string, classname: string): string {
  return template.replace('{}', classname);
}
