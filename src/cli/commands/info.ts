import type { Command } from 'commander';
import { describeConfig, gridSize, knownArchitectures, type ClipConfig } from '../../backbones/clip/config.js';
import { loadClipWeights, storedBytes } from '../../backbones/clip/weights.js';
import { architectureParameters, describeArchitecture, detectFamily } from '../../backbones/index.js';
import { resolveWeightsPath } from '../../net/hub.js';

/** The known architecture a config equals, if any (ignoring nothing: every dimension must match). */
function knownName(config: ClipConfig): string | undefined {
  const same = JSON.stringify(config);
  return Object.entries(knownArchitectures).find(([, c]) => JSON.stringify(c) === same)?.[0];
}

const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;

/** `mpl info <weights>`: reads a CLIP weights file, validates every tensor, prints the inferred architecture. */
export function register(program: Command): void {
  program
    .command('info')
    .description('read a CLIP ViT weights file (safetensors, PyTorch .pt/.bin, OpenAI TorchScript .pt; OpenAI or Hugging Face names) and print its architecture')
    .argument('<weights>', 'weights file, or a model folder holding model.safetensors / pytorch_model.bin')
    .option('--json', 'print {"vision": {...}, "text": {...}, "embed_dim", "parameters"} as one JSON line')
    .addHelpText(
      'after',
      `
The architecture is inferred from the tensor shapes as openai/CLIP's build_model does (heads = width / 64).

Examples:
  mpl info ViT-B-16.pt                        OpenAI's TorchScript checkpoint
  mpl info clip-vit-base-patch16/             a Hugging Face model folder (model.safetensors)
  mpl info model.safetensors --json           {"vision":{"width":768,"layers":12,...},...,"parameters":149620737}`,
    )
    .action((file: string, opts: { json?: boolean }) => {
      const resolved = resolveWeightsPath(file);
      const family = detectFamily(resolved);
      if (family.name !== 'clip') {
        // another family (SigLIP): its architecture from its folder, validated tensor by tensor
        const arch = family.readArchitecture(resolved);
        const described = { ...arch, parameters: architectureParameters(arch) };
        if (opts.json) process.stdout.write(JSON.stringify(described) + '\n');
        else process.stdout.write(`file        ${resolved}\nfamily      ${family.name}: ${family.title}\narchitecture ${describeArchitecture(arch)}; ${arch.vision.heads} / ${arch.text.heads} heads, text length ${arch.text.context_length}, vocabulary ${arch.text.vocab_size}\nparameters  ${described.parameters.toLocaleString('en-US')}\n`);
        return;
      }
      const w = loadClipWeights(file);
      if (opts.json) {
        process.stdout.write(JSON.stringify(describeConfig(w.config)) + '\n');
        return;
      }
      const { vision: v, text: t } = w.config;
      const g = gridSize(w.config);
      const dtypes = Object.entries(w.dtypes)
        .map(([d, n]) => `${d} x${n}`)
        .join(', ');
      const names = w.format === 'hf' ? 'Hugging Face CLIPModel' : 'OpenAI/open_clip';
      const known = knownName(w.config);
      const lines = [
        `file        ${w.file}`,
        `format      ${w.container}, ${names} key names; ${w.tensors.size} tensors (${dtypes})`,
        `vision      width ${v.width}, ${plural(v.layers, 'layer')}, ${plural(v.heads, 'head')}, patch ${v.patch_size}, image ${v.image_size} (${g}x${g} patches + class token), MLP ${v.mlp_width}`,
        `text        width ${t.width}, ${plural(t.layers, 'layer')}, ${plural(t.heads, 'head')}, context ${t.context_length}, vocabulary ${t.vocab_size}, MLP ${t.mlp_width}`,
        `embedding   ${w.config.embed_dim}`,
        `parameters  ${w.parameters.toLocaleString('en-US')} (${(storedBytes(w) / 1e6).toFixed(1)} MB as stored)`,
      ];
      if (known) lines.push(`matches     ${known}`);
      if (w.ignored.length) lines.push(`ignored     ${w.ignored.length} other tensors (${w.ignored.slice(0, 3).join(', ')}${w.ignored.length > 3 ? ', ...' : ''})`);
      process.stdout.write(lines.join('\n') + '\n');
    });
}
