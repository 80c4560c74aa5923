/**
 * Hand-crafted text templates of the official code (CoOp `trainers/zsclip.py`, PromptSRC
 * `trainers/imagenet_templates.py`), by dataset name as used on the CLI.
 */

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

/** ZeroshotCLIP2's ensemble: these 7, plus the dataset's custom template except for ImageNet. */
export const IMAGENET_TEMPLATES_SELECT = [
  'itap of a {}.',
  'a bad photo of the {}.',
  'a origami {}.',
  'a photo of the large {}.',
  'a {} in a video game.',
  'art of the {}.',
  'a photo of the small {}.',
];

/** PromptSRC's 60 templates for its frozen text teacher (a subset of CLIP's 80 ImageNet templates). */
export const PROMPTSRC_TEMPLATES = [
  'a photo of a {}.', 'a bad photo of a {}.', 'a photo of many {}.', 'a sculpture of a {}.',
  'a photo of the hard to see {}.', 'a low resolution photo of the {}.', 'a rendering of a {}.', 'graffiti of a {}.',
  'a bad photo of the {}.', 'a cropped photo of the {}.', 'a tattoo of a {}.', 'the embroidered {}.',
  'a photo of a hard to see {}.', 'a bright photo of a {}.', 'a photo of a clean {}.', 'a photo of a dirty {}.',
  'a dark photo of the {}.', 'a drawing of a {}.', 'a photo of my {}.', 'the plastic {}.',
  'a photo of the cool {}.', 'a close-up photo of a {}.', 'a black and white photo of the {}.', 'a painting of the {}.',
  'a painting of a {}.', 'a pixelated photo of the {}.', 'a sculpture of the {}.', 'a bright photo of the {}.',
  'a cropped photo of a {}.', 'a plastic {}.', 'a photo of the dirty {}.', 'a jpeg corrupted photo of a {}.',
  'a blurry photo of the {}.', 'a photo of the {}.', 'a good photo of the {}.', 'a rendering of the {}.',
  'a {} in a video game.', 'a photo of one {}.', 'a doodle of a {}.', 'a close-up photo of the {}.',
  'the origami {}.', 'the {} in a video game.', 'a sketch of a {}.', 'a doodle of the {}.',
  'a origami {}.', 'a low resolution photo of a {}.', 'the toy {}.', 'a rendition of the {}.',
  'a photo of the clean {}.', 'a photo of a large {}.', 'a rendition of a {}.', 'a photo of a nice {}.',
  'a photo of a weird {}.', 'a blurry photo of a {}.', 'a cartoon {}.', 'art of a {}.',
  'a sketch of the {}.', 'a embroidered {}.', 'a pixelated photo of a {}.', 'itap of the {}.',
];

/** Fills a template's {} with a class name (official code: str.format / replace). */
export function fill(template: string, classname: string): string {
  return template.replace('{}', classname);
}
