/**
 * The model catalogue: every model known by name (`--model NAME`, `mpl models`, `mpl download`), one entry each
 * with its family, its architecture and where its files come from on the Hugging Face hub (src/net/hub.ts fetches
 * them: cache, resume, verification). Adding a checkpoint = one entry here.
 *
 * open_clip's pretrained zoo: only checkpoints of the same architecture as OpenAI's ViTs are listed -- MetaCLIP
 * (trained with QuickGELU, published as Hugging Face CLIPModel folders). open_clip's LAION-2B and DataComp ViTs use
 * GELU instead of QuickGELU: a different activation the CLIP encoders do not compute, so they are left out (and
 * refused by name when given as a folder whose config.json says so).
 */
import { resolveWeights, type ClipModelSpec } from '../net/hub.js';
import { checkBlas, isCuda, type Device } from '../torch/index.js';
import { UserError } from '../util/errors.js';
import { silentReporter, type Reporter } from '../util/reporter.js';
import { knownArchitectures } from './clip/config.js';
import { siglipArchitectures } from './siglip/family.js';
import type { BackboneArchitecture, FamilyName } from './model.js';

export interface CatalogueEntry extends ClipModelSpec {
  family: FamilyName;
  arch: BackboneArchitecture;
  /** where the weights come from, for `mpl models` */
  origin: string;
}

/** A hub repo's `main`: model.safetensors, else pytorch_model.bin. */
const MAIN_SAFETENSORS_OR_BIN: ClipModelSpec['revisions'] = [{ revision: 'main' }, { revision: 'main', file: 'pytorch_model.bin' }];

/** The files a SigLIP folder needs beside model.safetensors. */
const SIGLIP_FILES = ['config.json', 'preprocessor_config.json', 'spiece.model', 'tokenizer_config.json'];

/*
 * Sources of the pinned digests (all read from the hub's own "Git LFS / Large File Pointer details" pages
 * or from independent manifests that pin the same file):
 * - openai/clip-vit-large-patch14 @ 32bd64288804d66eefd0ccbe215aa642df71cc41, model.safetensors:
 *   sha256 a2bf730a…6dcb, 1,710,540,580 bytes (identical in several independent manifests and in copies
 *   of the repo).
 * - openai/clip-vit-base-patch16 @ refs/pr/10 and refs/pr/4 (SFconvertbot "Adding safetensors variant"):
 *   846bf12e…209e and 5147d2a4…bd95 (the hub's file pages for those refs). `main` is tried first, unpinned,
 *   in case the official repo gains the file; then only the hub's header checks it.
 * - openai/clip-vit-base-patch32: no digest could be confirmed and no safetensors ref is known; `main` is
 *   tried and verified against the hub's header only. If it has no model.safetensors, the error says what
 *   to do (--revision refs/pr/N or --weights).
 */
export const CLIP_MODELS: readonly ClipModelSpec[] = [
  {
    name: 'ViT-B/16',
    aliases: ['vit-b-16', 'vit-b16', 'openai/clip-vit-base-patch16'],
    repo: 'openai/clip-vit-base-patch16',
    file: 'model.safetensors',
    revisions: [
      { revision: 'main' },
      { revision: 'refs/pr/10', sha256: '846bf12e84b91c2a65b44833a915241443b39356f1000ac1345c61d7bf8a209e' },
      { revision: 'refs/pr/4', sha256: '5147d2a4e6211123df2534cabb78d22ba27166022a0110517277ca7415ecbd95' },
      { revision: 'main', file: 'pytorch_model.bin' },
    ],
  },
  {
    name: 'ViT-B/32',
    aliases: ['vit-b-32', 'vit-b32', 'openai/clip-vit-base-patch32'],
    repo: 'openai/clip-vit-base-patch32',
    file: 'model.safetensors',
    revisions: MAIN_SAFETENSORS_OR_BIN,
  },
  {
    name: 'ViT-L/14',
    aliases: ['vit-l-14', 'vit-l14', 'openai/clip-vit-large-patch14'],
    repo: 'openai/clip-vit-large-patch14',
    file: 'model.safetensors',
    revisions: [
      {
        revision: '32bd64288804d66eefd0ccbe215aa642df71cc41',
        sha256: 'a2bf730a0c7debf160f7a6b50b3aaf3703e7e88ac73de7a314903141db026dcb',
        size: 1710540580,
      },
    ],
  },
  {
    name: 'ViT-L/14@336px',
    aliases: ['vit-l-14-336', 'vit-l/14-336', 'vit-l14-336', 'vit-l-14@336px', 'openai/clip-vit-large-patch14-336'],
    repo: 'openai/clip-vit-large-patch14-336',
    file: 'model.safetensors',
    revisions: MAIN_SAFETENSORS_OR_BIN,
  },
];

export const MODEL_CATALOGUE: readonly CatalogueEntry[] = [
  // OpenAI's CLIPs, as above
  ...CLIP_MODELS.map(({ name, ...spec }): CatalogueEntry => ({ name, family: 'clip', arch: knownArchitectures[name]!, origin: 'OpenAI', ...spec })),
  {
    name: 'ViT-B/16-metaclip-2.5b',
    family: 'clip',
    arch: knownArchitectures['ViT-B/16']!,
    origin: "MetaCLIP (open_clip's ViT-B-16-quickgelu metaclip_fullcc)",
    aliases: ['vit-b-16-metaclip', 'metaclip-b16', 'facebook/metaclip-b16-fullcc2.5b'],
    repo: 'facebook/metaclip-b16-fullcc2.5b',
    file: 'model.safetensors',
    revisions: MAIN_SAFETENSORS_OR_BIN,
    extraFiles: ['config.json'],
  },
  {
    name: 'ViT-B/32-metaclip-400m',
    family: 'clip',
    arch: knownArchitectures['ViT-B/32']!,
    origin: "MetaCLIP (open_clip's ViT-B-32-quickgelu metaclip_400m)",
    aliases: ['vit-b-32-metaclip', 'metaclip-b32', 'facebook/metaclip-b32-400m'],
    repo: 'facebook/metaclip-b32-400m',
    file: 'model.safetensors',
    revisions: MAIN_SAFETENSORS_OR_BIN,
    extraFiles: ['config.json'],
  },
  {
    name: 'siglip-base-patch16-224',
    family: 'siglip',
    arch: siglipArchitectures['siglip-base-patch16-224']!,
    origin: 'Google (SigLIP, WebLI)',
    aliases: ['siglip-b16', 'siglip-b/16', 'google/siglip-base-patch16-224'],
    repo: 'google/siglip-base-patch16-224',
    file: 'model.safetensors',
    revisions: [{ revision: 'main' }],
    extraFiles: SIGLIP_FILES,
  },
  {
    name: 'siglip-so400m-patch14-384',
    family: 'siglip',
    arch: siglipArchitectures['siglip-so400m-patch14-384']!,
    origin: 'Google (SigLIP, WebLI)',
    aliases: ['siglip-so400m', 'google/siglip-so400m-patch14-384'],
    repo: 'google/siglip-so400m-patch14-384',
    file: 'model.safetensors',
    revisions: [{ revision: 'main' }],
    extraFiles: SIGLIP_FILES,
  },
];

/**
 * The weights file a model name (this catalogue, the caches, a download) or a path stands for, after the CPU's BLAS
 * check; and what a load error of that file ends with when it is a downloaded copy (how to get rid of it).
 * `missing` is the error when neither is given; `weightsFlag` is how the caller's users pass a file.
 */
export async function catalogueWeights(
  o: { model?: string; weights?: string; device?: Device; reporter?: Reporter },
  missing: string,
  weightsFlag: string,
): Promise<{ file: string; cached: string }> {
  if (!o.model && !o.weights) throw new UserError(missing);
  if (!o.device || !isCuda(o.device)) checkBlas();
  const file = await resolveWeights({
    model: o.weights ? undefined : o.model,
    weights: o.weights,
    reporter: o.reporter ?? silentReporter,
    models: MODEL_CATALOGUE,
  });
  const cached = o.weights
    ? ''
    : `; it is a downloaded copy in the cache: delete it (rm '${file}' '${file}.json') and run again to download it afresh, or pass ${weightsFlag}`;
  return { file, cached };
}
