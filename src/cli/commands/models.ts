import type { Command } from 'commander';
import { knownArchitectures, parameterCount } from '../../backbones/clip/config.js';
import { hfHubCacheDir } from '../../net/hf-cache.js';
import { CLIP_MODELS, cachedCopies, type CachedCopy } from '../../net/hub.js';
import { cacheDir } from '../../net/cache.js';

/** One row of `mpl models --json`. */
export interface ModelListing {
  name: string;
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
  return CLIP_MODELS.map((m) => {
    const arch = knownArchitectures[m.name];
    const params = arch ? parameterCount(arch) : null;
    const pinned = m.revisions.find((r) => r.size !== undefined)?.size;
    return {
      name: m.name,
      aliases: m.aliases,
      repo: m.repo,
      sources: m.revisions.map((r) => `${r.revision}:${r.file ?? m.file}`),
      image_size: arch?.vision.image_size ?? null,
      parameters: params,
      size_bytes: pinned ?? (params === null ? null : params * 4),
      size_exact: pinned !== undefined,
      cached: cachedCopies(m, env),
    };
  });
}

const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;

/** `mpl models`: the CLIPs known by name, their sizes, and which are on this machine (open_clip's list_pretrained). */
export function register(program: Command): void {
  program
    .command('models')
    .description('list the CLIP models known by name (for --model), their sizes, and the copies already on this machine')
    .option('--json', 'one JSON array: [{"name", "aliases", "repo", "image_size", "parameters", "size_bytes", "cached": [{"cache", "path"}]}]')
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
      const lines: string[] = [];
      for (const r of rows) {
        const size = r.size_bytes === null ? '' : `${r.size_exact ? '' : '~'}${mb(r.size_bytes)}`;
        const params = r.parameters === null ? '' : `${(r.parameters / 1e6).toFixed(1)}M parameters, ${r.image_size} px, `;
        lines.push(`${r.name}  (${r.aliases.join(', ')})`);
        lines.push(`  ${params}${size} from ${r.repo}`);
        if (r.cached.length === 0) lines.push('  not on this machine (downloaded on first use)');
        for (const c of r.cached) lines.push(`  cached (${c.cache === 'mpl' ? 'mpl cache' : 'Hugging Face cache'}, ${c.revision}): ${c.path} ${mb(c.size)}`);
      }
      process.stdout.write(lines.join('\n') + '\n');
    });
}
