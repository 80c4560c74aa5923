import type { Command } from 'commander';
import { downloadDataset, listDatasets } from '../../data/download.js';
import { fetchModel, hubCachePath } from '../../net/hub.js';
import { MODEL_CATALOGUE } from '../../backbones/catalogue.js';
import { UserError } from '../../util/errors.js';
import { terminalReporter } from '../reporter.js';

/**
 * `mpl data download <name> --root DIR` and `mpl fetch-model <name>`: thin shells over
 * src/data/download.ts and src/net/hub.ts. Results go to stdout (a path, a listing, manual steps);
 * progress and notes go to stderr through the terminal reporter.
 */

/** Adds `download` to the `data` command (src/cli/commands/data.ts calls this). */
export function registerDataDownload(dataCommand: Command): void {
  dataCommand
    .command('download')
    .description('download a benchmark dataset into the CoOp layout (or print how to get it)')
    .argument('[name]', "dataset name, e.g. EuroSAT, dtd, OxfordPets (see --list)")
    .option('--root <dir>', 'folder holding one folder per dataset ($DATA in CoOp\'s instructions)')
    .option('--list', 'list the supported datasets and whether they download automatically')
    .option('--keep-archives', 'keep the downloaded archives in <root>/.mpl-downloads after extraction')
    .option('--quiet', 'no progress bars or notes')
    .addHelpText(
      'after',
      `
Examples:
  mpl data download --list
  mpl data download EuroSAT --root ~/data
  mpl data download dtd --root ~/data --keep-archives
  mpl data download ImageNet --root ~/data      # prints the manual steps (exit status 1 until it is in place)

Downloads resume when interrupted (run the same command again) and are checked
against published md5/sha256 sums. What is already in place is skipped.`,
    )
    .action(async (name: string | undefined, opts: { root?: string; list?: boolean; keepArchives?: boolean; quiet?: boolean }) => {
      if (opts.list) {
        const rows = listDatasets();
        const w = Math.max(...rows.map((r) => r.name.length));
        const d = Math.max(...rows.map((r) => r.dir.length));
        process.stdout.write(`${'dataset'.padEnd(w)}  ${'folder'.padEnd(d)}  download\n`);
        for (const r of rows) process.stdout.write(`${r.name.padEnd(w)}  ${r.dir.padEnd(d)}  ${r.mode}\n`);
        return;
      }
      if (!name) throw new UserError("data download: name a dataset (see 'mpl data download --list')");
      if (!opts.root) throw new UserError('data download: --root DIR is required (the folder that holds the datasets)');
      const result = await downloadDataset(name, {
        root: opts.root,
        keepArchives: opts.keepArchives,
        reporter: terminalReporter({ quiet: opts.quiet }),
      });
      if (result.manual.length) {
        process.stdout.write(`${result.name} needs manual steps:\n${result.manual.map((l) => '  ' + l).join('\n')}\n`);
      }
      if (result.complete) process.stdout.write(`${result.dir}\n`);
      // nothing (or not everything) could be fetched: a script must not go on as if the data were there
      else throw new UserError(`${result.name} is not ready in ${result.dir}${result.manual.length ? ': do the manual steps above, then run this command again' : ''}`);
    });
}

/** Top-level `mpl fetch-model <name>`: downloads (or finds in the cache) CLIP weights; prints the path. */
export function register(program: Command): void {
  program
    .command('fetch-model')
    .description('download pretrained weights (model.safetensors; a SigLIP with its folder files) from the Hugging Face hub into the cache')
    .argument('<name>', `model name: ${MODEL_CATALOGUE.map((m) => m.name).join(', ')}`)
    .option('--revision <rev>', 'hub revision (branch, tag, commit or refs/pr/N); default: the known-good ones')
    .option('--verify', 're-hash a cached file instead of trusting its sidecar')
    .option('--allow-unverified', 'accept weights no sha256 can check (none pinned, none sent by the hub); also MPL_ALLOW_UNVERIFIED=1')
    .option('--quiet', 'no progress bar')
    .addHelpText(
      'after',
      `
Examples:
  mpl fetch-model ViT-B/16
  mpl fetch-model ViT-L/14 --revision main
  MPL_CACHE=/big/disk/mpl mpl fetch-model ViT-B/32

Prints the local path of the weights (a SigLIP's other files lie beside them). Cached at
  ${hubCachePath('<repo>', '<revision>', 'model.safetensors').replace(/\\/g, '/')}
Environment: MPL_CACHE (cache folder), HF_ENDPOINT (hub mirror), HF_TOKEN (gated repos),
HF_HUB_OFFLINE=1 (cache only), MPL_ALLOW_UNVERIFIED=1 (as --allow-unverified).`,
    )
    .action(async (name: string, opts: { revision?: string; verify?: boolean; allowUnverified?: boolean; quiet?: boolean }) => {
      const fetched = await fetchModel(name, {
        revision: opts.revision,
        verify: opts.verify,
        allowUnverified: opts.allowUnverified || undefined,
        reporter: terminalReporter({ quiet: opts.quiet }),
        models: MODEL_CATALOGUE,
      });
      process.stdout.write(`${fetched.path}\n`);
    });
}

