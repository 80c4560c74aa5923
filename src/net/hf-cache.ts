/**
 * The Hugging Face hub's own cache, so that weights a user already downloaded with `transformers` or
 * `huggingface_hub` are reused instead of fetched again:
 *
 *   $HF_HUB_CACHE (default $HF_HOME/hub, HF_HOME default $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface)
 *     models--openai--clip-vit-base-patch16/
 *       refs/main                      the commit a revision name resolved to
 *       snapshots/<commit>/<file>      the files (symlinks into blobs/)
 *       blobs/<sha256>                 LFS files are named by their sha256
 *
 * Only read here, never written. A file found this way is still checked: against a digest this program pins
 * (cheaply, by its blob name, which the hub library sets to the file's sha256), and by the caller against the
 * requested architecture.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`. */
export function hfHubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return path.resolve(env.HF_HUB_CACHE);
  if (env.HUGGINGFACE_HUB_CACHE) return path.resolve(env.HUGGINGFACE_HUB_CACHE);
  if (env.HF_HOME) return path.resolve(env.HF_HOME, 'hub');
  const xdg = env.XDG_CACHE_HOME ? path.resolve(env.XDG_CACHE_HOME) : path.join(os.homedir(), '.cache');
  return path.join(xdg, 'huggingface', 'hub');
}

/** `models--openai--clip-vit-base-patch16` for `openai/clip-vit-base-patch16`. */
export function hfRepoFolder(repo: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(hfHubCacheDir(env), `models--${repo.split('/').join('--')}`);
}

export interface HfCachedFile {
  /** the snapshot path (a symlink into blobs/ in a normal cache) */
  path: string;
  /** the commit folder it was found in */
  commit: string;
  /** the blob's name when it is a sha256 (LFS files), else undefined */
  blobSha256?: string;
}

function blobSha(file: string): string | undefined {
  try {
    const name = path.basename(fs.realpathSync(file));
    return /^[0-9a-f]{64}$/.test(name) ? name : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A file of a repo at a revision in the HF cache: the revision resolved through refs/ (a branch or a PR ref
 * such as refs/pr/10), or used as the commit folder when it is a commit hash. Undefined when absent.
 */
export function findHfCached(repo: string, revision: string, file: string, env: NodeJS.ProcessEnv = process.env): HfCachedFile | undefined {
  const dir = hfRepoFolder(repo, env);
  let commit: string | undefined;
  const ref = path.join(dir, 'refs', ...revision.split('/'));
  if (/^[0-9a-f]{40}$/.test(revision)) commit = revision;
  else if (fs.existsSync(ref) && fs.statSync(ref).isFile()) commit = fs.readFileSync(ref, 'utf8').trim();
  if (!commit) return undefined;
  const p = path.join(dir, 'snapshots', commit, file);
  if (!fs.existsSync(p) || !fs.statSync(p).isFile()) return undefined;
  return { path: p, commit, blobSha256: blobSha(p) };
}

/** Every snapshot of a repo in the HF cache that holds `file` (for listings): newest first. */
export function hfSnapshotsWith(repo: string, file: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const snaps = path.join(hfRepoFolder(repo, env), 'snapshots');
  if (!fs.existsSync(snaps)) return [];
  return fs
    .readdirSync(snaps)
    .map((c) => path.join(snaps, c, file))
    .filter((p) => fs.existsSync(p) && fs.statSync(p).isFile())
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
}

/** The weight files a snapshot folder (or any folder) may hold, in the order they are preferred. */
export const WEIGHT_FILES = ['model.safetensors', 'open_clip_model.safetensors', 'open_clip_pytorch_model.bin', 'pytorch_model.bin'];

/**
 * The weights file inside a folder: a snapshot folder (`.../snapshots/<commit>/`), a repo folder of the HF
 * cache (`models--org--name/`, through refs/main), or any folder holding one of WEIGHT_FILES. Undefined when
 * none is there; the caller says what was looked for.
 */
export function weightsFileInFolder(dir: string): string | undefined {
  for (const f of WEIGHT_FILES) {
    const p = path.join(dir, f);
    if (fs.existsSync(p) && fs.statSync(p).isFile()) return p;
  }
  const ref = path.join(dir, 'refs', 'main');
  if (fs.existsSync(ref)) {
    const snap = path.join(dir, 'snapshots', fs.readFileSync(ref, 'utf8').trim());
    if (fs.existsSync(snap)) return weightsFileInFolder(snap);
  }
  return undefined;
}
