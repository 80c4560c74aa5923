import type { Command } from 'commander';
import { MODEL_CATALOGUE, architectureParameters, families } from '../../backbones/index.js';
import { hfHubCacheDir } from '../../net/hf-cache.js';
import { cachedCopies, type CachedCopy } from '../../net/hub.js';
import { cacheDir } from '../../net/cache.js';

/** One row of `mpl models --json`. */
export interface ModelListing {
  name: string;
  /** the backbone family (`mpl models` lists the families first) */
  family: string;
  /** where the weights come from (OpenAI, MetaCLIP, Google SigLIP) */
  origin: string;
  aliases: string[];
  repo: string;
  /** the files tried, in order, as "revision:file" */
  sources: string[];
  image_size: number | null;
  parameters: number | null;
  /** the download's size in bytes: pinned where known, else parameters × 4 (the hub's float32 files) */
  size_bytes: number | null;
  size_exact: boolean;
  cached: CachedCopy[];
}

export function listModels(env: NodeJS.ProcessEnv = process.env): ModelListing[] {
  return MODEL_CATALOGUE.map((m) => {
    const arch = m.arch;
    const params = architectureParameters(arch);
    const pinned = m.revisions.find((r) => r.size !== undefined)?.size;
    return {
      name: m.name,
      family: m.family,
      origin: m.origin,
      aliases: m.aliases,
      repo: m.repo,
      sources: m.revisions.map((r) => `${r.revision}:${r.file ?? m.file}`),
      image_size: arch.vision.image_size,
      parameters: params,
      size_bytes: pinned ?? params * 4,
      size_exact: pinned !== undefined,
      cached: cachedCopies(m, env),
    };
  });
}

const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;

/** `mpl models`: the backbone families, the models known by name, their sizes, and which are on this machine (open_clip's list_pretrained). */
export function register(program: Command): void {
  program
    .command('models')
    .description('list the backbone families and the models known by name (for --model), their sizes, and the copies already on this machine')
    .option('--json', 'one JSON array of models: [{"name", "family", "origin", "aliases", "repo", "image_size", "parameters", "size_bytes", "cached": [{"cache", "path"}]}]')
    .addHelpText(
      'after',
      `
Copies are looked for in this tool's cache (${cacheDir()}) and in the Hugging Face cache
(${hfHubCacheDir()}; $HF_HUB_CACHE or $HF_HOME), which --model also reuses before downloading.`,
    )
    .action((opts: { json?: boolean }) => {
      const rows = listModels();
      if (opts.json) {
        process.stdout.write(JSON.stringify(rows) + '\n');
        return;
      }
      const lines: string[] = ['families (--weights takes any of their files or folders; the family is read from what they hold):'];
      for (const f of families()) lines.push(`  ${f.name.padEnd(7)} ${f.title}`);
      lines.push('', 'models by name (--model NAME):');
      for (const r of rows) {
        const size = r.size_bytes === null ? '' : `${r.size_exact ? '' : '~'}${mb(r.size_bytes)}`;
        const params = r.parameters === null ? '' : `${(r.parameters / 1e6).toFixed(1)}M parameters, ${r.image_size} px, `;
        lines.push(`${r.name}  [${r.family}, ${r.origin}]  (${r.aliases.join(', ')})`);
        lines.push(`  ${params}${size} from ${r.repo}`);
        if (r.cached.length === 0) lines.push('  not on this machine (downloaded on first use)');
        for (const c of r.cached) lines.push(`  cached (${c.cache === 'mpl' ? 'mpl cache' : 'Hugging Face cache'}, ${c.revision}): ${c.path} ${mb(c.size)}`);
      }
      process.stdout.write(lines.join('\n') + '\n');
    });
}
