/**
 * The model card of a prompt package: README.md with YAML front matter, as the Hugging Face hub shows it
 * (library_name, license, tags, base_model, plus this tool's fields: method, backbone and its sha256, dataset,
 * classes, shots, seeds, accuracy with its protocol), then what the prompts are and how to use them.
 * Every field comes from the package's config.json: the card says nothing config.json does not.
 */
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { datasetDisplayName, methodDisplayName } from '../report/names.js';
import type { PackageConfig } from './package.js';

/** Hugging Face repositories of the backbones known by name (the card's base_model). */
const HUB_REPOS: Record<string, string> = {
  'ViT-B/16': 'openai/clip-vit-base-patch16',
  'ViT-B/32': 'openai/clip-vit-base-patch32',
  'ViT-L/14': 'openai/clip-vit-large-patch14',
  'ViT-L/14@336px': 'openai/clip-vit-large-patch14-336',
};

/** The card's front matter (also what tests compare with config.json). */
export function cardMetadata(c: PackageConfig): Record<string, unknown> {
  const base = HUB_REPOS[c.backbone.name];
  return {
    library_name: c.library_name,
    license: c.license,
    tags: ['prompt-learning', 'clip', 'image-classification', c.method],
    pipeline_tag: 'image-classification',
    ...(base ? { base_model: base } : {}),
    method: c.method,
    method_options: c.method_options,
    backbone: c.backbone.name,
    backbone_sha256: c.backbone.sha256,
    dataset: c.dataset,
    classes: c.classnames,
    shots: c.training?.shots ?? null,
    seeds: c.training ? [c.training.seed] : [],
    precision: c.precision,
    accuracy: c.accuracy,
  };
}

const pct = (v: number) => `${v.toFixed(2)} %`;

function accuracyLines(c: PackageConfig): string[] {
  const a = c.accuracy;
  if (!a) return ['Not measured by this tool (the prompts were imported, not trained here).'];
  const subset = a.max_test_images ? ` (on an evenly strided subset of at most ${a.max_test_images} test images per split, not the full test sets)` : '';
  const lines = [`Protocol: **${a.protocol}**${subset}, ${a.test_images} test images in all.`, ''];
  if (a.protocol === 'base2new') {
    lines.push('| base | new | HM |', '|---|---|---|', `| ${pct(a.base!)} | ${pct(a.new!)} | ${pct(a.hm!)} |`);
  } else {
    const names = Object.keys(a.datasets ?? {});
    lines.push(`| ${names.join(' | ')} |`, `|${names.map(() => '---|').join('')}`, `| ${names.map((n) => pct(a.datasets![n])).join(' | ')} |`);
  }
  return lines;
}

/** README.md of a package. */
export function renderCard(c: PackageConfig): string {
  const front = stringifyYaml(cardMetadata(c), { lineWidth: 0 }).trimEnd();
  const t = c.training;
  const use = [
    '```sh',
    `mpl predict --${c.backbone.name in HUB_REPOS ? `model ${c.backbone.name}` : 'weights WEIGHTS_FILE'} --prompts THIS_FOLDER photo.jpg`,
    `mpl serve --${c.backbone.name in HUB_REPOS ? `model ${c.backbone.name}` : 'weights WEIGHTS_FILE'} --prompts THIS_FOLDER`,
    '```',
    '',
    '```ts',
    "import { loadClip, loadPromptPackage } from 'modular-prompt-learning';",
    `const clip = await loadClip(${c.backbone.name in HUB_REPOS ? `'${c.backbone.name}'` : "{ weights: 'WEIGHTS_FILE' }"});`,
    "const learner = await loadPromptPackage('THIS_FOLDER', { model: clip });   // refuses any other backbone",
    '```',
  ];
  return [
    '---',
    front,
    '---',
    '',
    `# ${methodDisplayName(c.method)} prompts for ${c.backbone.name}${c.dataset ? ` on ${datasetDisplayName(c.dataset)}` : ''}`,
    '',
    `Learned prompts (${c.trainable_parameters.toLocaleString('en-US')} parameters) that turn the frozen CLIP **${c.backbone.name}** into a classifier of ${c.classnames.length} classes`,
    `with ${methodDisplayName(c.method)}, written by modular-prompt-learning ${c.library_version}. The backbone is not included: the prompts work only with the`,
    `weights whose sha256 is \`${c.backbone.sha256}\`, and the tool refuses any other.`,
    '',
    '## Accuracy',
    '',
    ...accuracyLines(c),
    '',
    '## How to use',
    '',
    ...use,
    '',
    '## Training',
    '',
    t
      ? `${t.protocol}, ${t.shots === -1 ? 'all' : t.shots} shots per class, seed ${t.seed}, ${t.epochs} epochs, learning rate ${t.lr}, batch size ${t.batch_size}, precision ${c.precision}.`
      : `Imported from ${c.source}.`,
    '',
    `Classes: ${c.classnames.join(', ')}.`,
    '',
    '## Files',
    '',
    '- `prompts.safetensors`: the learned tensors under the official code\'s state-dict keys.',
    '- `config.json`: method and options, class names, templates, precision, backbone (name, sha256, architecture).',
    '',
  ].join('\n');
}

/** The front matter of a card (for tests and tools that read cards). */
export function readCardMetadata(text: string): Record<string, unknown> {
  const m = /^---\n([\s\S]*?)\n---\n/.exec(text);
  if (!m) throw new Error('no YAML front matter');
  return parseYaml(m[1]) as Record<string, unknown>;
}
