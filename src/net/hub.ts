import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { UserError } from '../util/errors.js';
import { writeJsonAtomic } from '../util/fs.js';
import { silentReporter, type Reporter } from '../util/reporter.js';
import { hubCacheDir } from './cache.js';
import { findHfCached, weightsFileInFolder, WEIGHT_FILES } from './hf-cache.js';
import { DownloadError, downloadFile, hashFile, isOfflineError, normalizeHex, type FirstResponse } from './download.js';

/**
 * Pretrained CLIP weights from the Hugging Face hub, by model name (`ViT-B/16`, ...), cached under
 * `<cache>/hub/<repo>/<revision>/model.safetensors` with a JSON sidecar. A cached file is used without
 * touching the network.
 *
 * Integrity: for LFS files the hub's `resolve` response (the one that redirects to the CDN) carries the
 * file's sha256 as `X-Linked-Etag` and its size as `X-Linked-Size`; every download is checked against
 * them. Where a sha256 could be confirmed from public sources it is also pinned below, so a changed or
 * substituted file on the hub is caught too.
 */

/** One place a model's `model.safetensors` can be fetched from: a revision, with its pinned digest if known. */
export interface HubRevision {
  revision: string;
  /** the file at this revision when it is not the spec's (e.g. the official pytorch_model.bin) */
  file?: string;
  /** sha256 of the file at this revision, confirmed from public sources (not the hub response). */
  sha256?: string;
  size?: number;
}

export interface ClipModelSpec {
  /** The name users type, as in OpenAI's `clip.load`. */
  name: string;
  aliases: string[];
  repo: string;
  file: string;
  /**
   * Revisions tried in order until one has the file (HTTP 404 → next). The official `openai/clip-vit-base-*`
   * repos ship only `pytorch_model.bin` on `main`; the hub's safetensors conversions of them live on
   * pull-request refs (`refs/pr/N`), whose digests are pinned here so that the unofficial ref cannot serve
   * anything else. The official `pytorch_model.bin` (a torch.save zip, read without executing pickle code,
   * src/io/torchzip.ts) is the last candidate.
   */
  revisions: HubRevision[];
  /**
   * Small files the model needs beside its weights, from the same revision into the same cache folder (a SigLIP
   * folder: config.json, spiece.model, ...). Each is verified against the hub's digest: the LFS sha256, or, for
   * a file kept in git, the git blob id (sha1 of "blob <size>\0" + content) the hub sends as its ETag.
   */
  extraFiles?: readonly string[];
}

/** The spec for a model name (case-insensitive; `ViT-B/16`, `vit-b-16` and the repo id all work). */
export function findClipModel(name: string, models: readonly ClipModelSpec[]): ClipModelSpec {
  const key = name.trim().toLowerCase();
  const spec = models.find((m) => m.name.toLowerCase() === key || m.aliases.includes(key));
  if (!spec) {
    throw new UserError(`unknown model '${name}': known models are ${models.map((m) => m.name).join(', ')} (or pass --weights FILE)`);
  }
  return spec;
}

export interface HubOptions {
  /** `--revision`: only this revision is tried (its pinned digest is used if it is one of the table's). */
  revision?: string;
  reporter?: Reporter;
  /** Environment to read MPL_CACHE / XDG_CACHE_HOME / HF_ENDPOINT / HF_TOKEN / HF_HUB_OFFLINE from. */
  env?: NodeJS.ProcessEnv;
  /** Re-hash a cached file instead of trusting its sidecar (size and digest recorded when it was verified). */
  verify?: boolean;
  /**
   * Accept weights that no sha256 checks (neither pinned here nor sent by the hub), and hand-placed cache
   * files without a known digest. Default: `MPL_ALLOW_UNVERIFIED=1` in the environment, else refused.
   */
  allowUnverified?: boolean;
  /** The model table: the catalogue of src/backbones/catalogue.ts (tests use their own). */
  models?: readonly ClipModelSpec[];
  /** Passed to the downloader (tests make retries fast). */
  retries?: number;
  retryDelayMs?: number;
  timeoutMs?: number;
}

export interface FetchedModel {
  path: string;
  /** where it came from: this tool's cache (default), the Hugging Face cache, or a download */
  source?: 'cache' | 'hf-cache' | 'download';
  repo: string;
  revision: string;
  sha256: string;
  size: number;
  fromCache: boolean;
}

/** What is stored beside a cached file. */
export interface HubSidecar {
  repo: string;
  revision: string;
  /** The commit the hub resolved the revision to (X-Repo-Commit), when it said. */
  commit?: string;
  file: string;
  url: string;
  sha256: string;
  size: number;
  /** What the digest was checked against: a digest pinned in this program, the hub's header, or nothing. */
  verified_against: 'pinned' | 'hub-header' | 'pinned+hub-header' | 'none';
  fetched_at: string;
}

export function hubEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return (env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '');
}

/** `{endpoint}/{repo}/resolve/{revision}/{file}`; the revision is URL-encoded (refs/pr/4 → refs%2Fpr%2F4) as the hub expects. */
export function hubFileUrl(repo: string, revision: string, file: string, env: NodeJS.ProcessEnv = process.env): string {
  return `${hubEndpoint(env)}/${repo}/resolve/${encodeURIComponent(revision)}/${file}`;
}

/** `<cache>/hub/<repo>/<revision>/<file>`; slashes in a revision become `--` so it stays one folder. */
export function hubCachePath(repo: string, revision: string, file: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(hubCacheDir(env), ...repo.split('/'), revision.replace(/\//g, '--'), file);
}

/**
 * The local path of a model's weights, downloading them into the cache when needed. Tries the spec's
 * revisions in order (or only `options.revision`).
 */
export async function fetchModel(name: string, options: HubOptions = {}): Promise<FetchedModel> {
  const env = options.env ?? process.env;
  const reporter = options.reporter ?? silentReporter;
  if (!options.models) throw new Error('fetchModel: no model table (options.models)');
  const spec = findClipModel(name, options.models);
  const candidates: HubRevision[] = options.revision
    ? [spec.revisions.find((r) => r.revision === options.revision) ?? { revision: options.revision }]
    : spec.revisions;

  const allowUnverified = options.allowUnverified ?? env.MPL_ALLOW_UNVERIFIED === '1';
  const withExtras = async (cand: HubRevision, got: FetchedModel): Promise<FetchedModel> => {
    await fetchExtraFiles(spec, cand, got, env, reporter, { ...options, allowUnverified });
    return got;
  };
  // 1. The cache, without network.
  for (const cand of candidates) {
    const cached = await readCache(spec, cand, env, options.verify ?? false, allowUnverified);
    if (cached) return withExtras(cand, cached);
  }
  // 1b. The Hugging Face hub's own cache ($HF_HUB_CACHE / $HF_HOME/hub: transformers' downloads), read-only.
  for (const cand of candidates) {
    const cached = await readHfCache(spec, cand, env, reporter);
    if (cached) return cached;
  }

  // 2. The hub.
  if (env.HF_HUB_OFFLINE && env.HF_HUB_OFFLINE !== '0') {
    throw offlineError(spec, candidates, env, 'HF_HUB_OFFLINE is set');
  }
  const missing: string[] = [];
  for (const cand of candidates) {
    let got: FetchedModel;
    try {
      got = await downloadRevision(spec, cand, env, reporter, { ...options, allowUnverified });
    } catch (err) {
      if (err instanceof DownloadError && err.kind === 'http' && err.status === 404) {
        missing.push(cand.revision);
        continue;
      }
      if (isOfflineError(err)) throw offlineError(spec, candidates, env, (err as DownloadError).message);
      if (err instanceof DownloadError && err.kind === 'http' && (err.status === 401 || err.status === 403)) {
        const token = env.HF_TOKEN
          ? 'HF_TOKEN is set but the hub refused it: check that the token is valid and that its account has accepted the repository\'s terms'
          : 'set HF_TOKEN to an access token (https://huggingface.co/settings/tokens) of an account that has accepted the repository\'s terms';
        throw new UserError(
          `${err.url}: HTTP ${err.status} from the hub — the repository ${spec.repo} may be gated or private; ${token}. Or download ${spec.file} yourself and pass --weights FILE.`,
        );
      }
      throw err;
    }
    return withExtras(cand, got);
  }
  const tried = missing.map((r) => `'${r}'`).join(', ');
  throw new UserError(
    `${spec.repo} has ${files(spec, candidates)} at revision ${tried} on ${hubEndpoint(env)} (HTTP 404). ` +
      `Pass --revision REV (e.g. a "safetensors variant" pull request: refs/pr/N) or download the weights yourself and pass --weights FILE.`,
  );
}

/** "no a" or "neither a nor b": the files the candidates looked for. */
function files(spec: ClipModelSpec, candidates: HubRevision[]): string {
  const names = [...new Set(candidates.map((c) => fileOf(spec, c)))];
  return names.length === 1 ? `no ${names[0]}` : `neither ${names.join(' nor ')}`;
}

/** The file a candidate revision serves. */
function fileOf(spec: ClipModelSpec, cand: HubRevision): string {
  return cand.file ?? spec.file;
}

/** A cached file if it is there and checks out; undefined otherwise (the caller downloads). */
async function readCache(spec: ClipModelSpec, cand: HubRevision, env: NodeJS.ProcessEnv, verify: boolean, allowUnverified: boolean): Promise<FetchedModel | undefined> {
  const file = hubCachePath(spec.repo, cand.revision, fileOf(spec, cand), env);
  if (!fs.existsSync(file)) return undefined;
  const stat = fs.statSync(file);
  const sidecarPath = file + '.json';
  let sidecar: HubSidecar | undefined;
  try {
    sidecar = JSON.parse(fs.readFileSync(sidecarPath, 'utf8')) as HubSidecar;
  } catch {
    sidecar = undefined;
  }
  const base = { path: file, repo: spec.repo, revision: cand.revision, fromCache: true };
  if (sidecar && !verify && sidecar.size === stat.size && (!cand.sha256 || sidecar.sha256 === cand.sha256)) {
    // Verified when it was written (sha256 and size); re-hashing 600 MB on every run is not worth it.
    return { ...base, sha256: sidecar.sha256, size: sidecar.size };
  }
  // No sidecar (placed by hand, as the offline message suggests), or --verify: hash it now.
  if (!sidecar && !cand.sha256 && !allowUnverified) {
    throw new UserError(
      `${file}: placed in the cache by hand, but no digest is known for ${spec.name} at '${cand.revision}', so it cannot be verified. Pass it as --weights FILE instead, or delete it and let the download (online) verify a fresh copy, or set MPL_ALLOW_UNVERIFIED=1 to accept it.`,
    );
  }
  const sha256 = await hashFile(file, 'sha256');
  if ((cand.sha256 && sha256 !== cand.sha256) || (cand.size !== undefined && stat.size !== cand.size) || (sidecar && !cand.sha256 && sidecar.sha256 !== sha256)) {
    const expected = cand.sha256 ?? sidecar?.sha256;
    throw new UserError(
      `${file}: cached ${fileOf(spec, cand)} does not match (sha256 ${sha256}${expected ? `, expected ${expected}` : ''}, ${stat.size} bytes). Delete it and run again to download a fresh copy.`,
    );
  }
  const url = hubFileUrl(spec.repo, cand.revision, fileOf(spec, cand), env);
  writeJsonAtomic(sidecarPath, {
    repo: spec.repo,
    revision: cand.revision,
    commit: sidecar?.commit,
    file: fileOf(spec, cand),
    url,
    sha256,
    size: stat.size,
    verified_against: cand.sha256 ? 'pinned' : sidecar ? sidecar.verified_against : 'none',
    fetched_at: sidecar?.fetched_at ?? new Date().toISOString(),
  } satisfies HubSidecar);
  return { ...base, sha256, size: stat.size };
}

/**
 * A file of the HF cache for a candidate revision, when there and acceptable: a pinned digest must match (the
 * blob's name is its sha256 for LFS files, so usually no hashing is needed); an unpinned file is taken as the
 * hub library verified it. The caller checks the architecture.
 */
async function readHfCache(spec: ClipModelSpec, cand: HubRevision, env: NodeJS.ProcessEnv, reporter: Reporter): Promise<FetchedModel | undefined> {
  const found = findHfCached(spec.repo, cand.revision, fileOf(spec, cand), env);
  if (!found) return undefined;
  // a model folder (SigLIP) is used from the HF cache only whole: its small files in the same snapshot
  if ((spec.extraFiles ?? []).some((f) => !fs.existsSync(path.join(path.dirname(found.path), f)))) return undefined;
  const size = fs.statSync(found.path).size;
  let sha256 = found.blobSha256;
  if (cand.sha256 && sha256 !== cand.sha256) {
    sha256 = await hashFile(found.path, 'sha256');
    if (sha256 !== cand.sha256) {
      reporter.warn(`${found.path}: the Hugging Face cache holds another ${fileOf(spec, cand)} for ${spec.repo} @ ${cand.revision} than the one pinned here (sha256 ${sha256}); not used`);
      return undefined;
    }
  }
  sha256 ??= await hashFile(found.path, 'sha256');
  reporter.info(`using ${spec.name} from the Hugging Face cache: ${found.path}`);
  return { path: found.path, repo: spec.repo, revision: cand.revision, sha256, size, fromCache: true, source: 'hf-cache' };
}

async function downloadRevision(
  spec: ClipModelSpec,
  cand: HubRevision,
  env: NodeJS.ProcessEnv,
  reporter: Reporter,
  options: HubOptions,
): Promise<FetchedModel> {
  const url = hubFileUrl(spec.repo, cand.revision, fileOf(spec, cand), env);
  const dest = hubCachePath(spec.repo, cand.revision, fileOf(spec, cand), env);
  const headers: Record<string, string> = {};
  if (env.HF_TOKEN) headers.Authorization = `Bearer ${env.HF_TOKEN}`;
  let headerSha: string | undefined;
  let commit: string | undefined;

  const onFirstResponse = (res: FirstResponse): { sha256?: string; size?: number } | void => {
    if (res.status === 404) return;
    // The hub's LFS digest: X-Linked-Etag on the redirecting response (ETag when served directly). A
    // 40-hex ETag is a git blob id, not a sha256 of the content: ignored.
    const etag = normalizeHex(header(res, 'x-linked-etag')) ?? normalizeHex(header(res, 'etag'));
    const sizeText = header(res, 'x-linked-size');
    commit = header(res, 'x-repo-commit') ?? commit;
    const sha = etag && /^[0-9a-f]{64}$/.test(etag) ? etag : undefined;
    if (!sha && !cand.sha256 && !options.allowUnverified && res.status < 400) {
      throw new UserError(
        `${url}: the hub sends no sha256 for this file and none is pinned for ${spec.name} at '${cand.revision}', so the download could not be verified. Nothing was downloaded. Pass --weights FILE with weights you trust, or --allow-unverified (MPL_ALLOW_UNVERIFIED=1) to accept it.`,
      );
    }
    if (sha && cand.sha256 && sha !== cand.sha256) {
      throw new UserError(
        `${url}: the hub now serves a different ${fileOf(spec, cand)} (sha256 ${sha}) than the one this program pins for ${spec.name} at '${cand.revision}' (${cand.sha256}). Nothing was downloaded. Pass --weights FILE with weights you trust, or a --revision you have checked.`,
      );
    }
    headerSha = sha ?? headerSha;
    const size = sizeText !== undefined && /^\d+$/.test(sizeText) ? Number(sizeText) : undefined;
    return { sha256: sha, size };
  };

  reporter.info(`downloading ${spec.name} weights (${spec.repo} @ ${cand.revision}) from ${url}`);
  const result = await downloadFile({
    url,
    dest,
    sha256: cand.sha256,
    expectedSize: cand.size,
    headers,
    reporter,
    label: `${spec.name} ${fileOf(spec, cand)}`,
    onFirstResponse,
    retries: options.retries,
    retryDelayMs: options.retryDelayMs,
    timeoutMs: options.timeoutMs,
    allowUnverified: options.allowUnverified,
  });
  const verified: HubSidecar['verified_against'] =
    cand.sha256 && headerSha ? 'pinned+hub-header' : cand.sha256 ? 'pinned' : headerSha ? 'hub-header' : 'none';
  if (verified === 'none') {
    reporter.warn(
      result.sizeChecked
        ? `${url}: accepted without a sha256 (--allow-unverified); only its size was checked`
        : `${url}: accepted without a sha256 or a size (--allow-unverified); nothing about its bytes was checked`,
    );
  }
  writeJsonAtomic(dest + '.json', {
    repo: spec.repo,
    revision: cand.revision,
    commit,
    file: fileOf(spec, cand),
    url,
    sha256: result.sha256,
    size: result.size,
    verified_against: verified,
    fetched_at: new Date().toISOString(),
  } satisfies HubSidecar);
  return { path: dest, repo: spec.repo, revision: cand.revision, sha256: result.sha256, size: result.size, fromCache: false };
}

/** The git blob id of a file's content (what the hub sends as the ETag of a file kept in git, not LFS). */
function gitBlobSha1(file: string): string {
  const data = fs.readFileSync(file);
  return createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
}

/**
 * The spec's small files beside the weights (same revision, same cache folder), downloaded when absent. A file
 * already there was verified when it was written (its sidecar). Each download is checked against the hub's
 * digest: the LFS sha256 (X-Linked-Etag), or the git blob id (ETag) of a file kept in git.
 */
async function fetchExtraFiles(spec: ClipModelSpec, cand: HubRevision, got: FetchedModel, env: NodeJS.ProcessEnv, reporter: Reporter, options: HubOptions): Promise<void> {
  for (const name of spec.extraFiles ?? []) {
    const dest = path.join(path.dirname(got.path), name);
    if (fs.existsSync(dest) && fs.existsSync(dest + '.json')) continue;
    if (env.HF_HUB_OFFLINE && env.HF_HUB_OFFLINE !== '0') {
      throw new HubUnreachableError(`cannot download ${spec.repo}'s ${name} (HF_HUB_OFFLINE is set): ${spec.name} needs it beside its weights at ${dest}; download ${hubFileUrl(spec.repo, cand.revision, name, env)} there, or pass the model folder with --weights DIR`);
    }
    const url = hubFileUrl(spec.repo, cand.revision, name, env);
    const headers: Record<string, string> = {};
    if (env.HF_TOKEN) headers.Authorization = `Bearer ${env.HF_TOKEN}`;
    let lfsSha: string | undefined;
    let gitSha: string | undefined;
    const onFirstResponse = (res: FirstResponse): { sha256?: string; size?: number } | void => {
      if (res.status >= 400) return;
      const linked = normalizeHex(header(res, 'x-linked-etag'));
      const etag = normalizeHex(header(res, 'etag'));
      if (linked && /^[0-9a-f]{64}$/.test(linked)) lfsSha = linked;
      else if (etag && /^[0-9a-f]{64}$/.test(etag)) lfsSha = etag;
      else if (etag && /^[0-9a-f]{40}$/.test(etag)) gitSha = etag;
      if (!lfsSha && !gitSha && !options.allowUnverified) {
        throw new UserError(`${url}: the hub sends no digest for this file, so it could not be verified. Nothing was downloaded. Download the model folder yourself and pass --weights DIR, or --allow-unverified (MPL_ALLOW_UNVERIFIED=1) to accept it.`);
      }
      const size = header(res, 'x-linked-size');
      return { sha256: lfsSha, size: size && /^\d+$/.test(size) ? Number(size) : undefined };
    };
    reporter.info(`downloading ${spec.name}'s ${name} from ${url}`);
    let result;
    try {
      // a git-kept file's digest is a sha1 of the blob, checked below once the bytes are here
      result = await downloadFile({ url, dest, headers, reporter, label: `${spec.name} ${name}`, onFirstResponse, retries: options.retries, retryDelayMs: options.retryDelayMs, timeoutMs: options.timeoutMs, allowUnverified: true });
    } catch (err) {
      if (err instanceof DownloadError && err.kind === 'http' && err.status === 404) {
        throw new UserError(`${url}: HTTP 404 — ${spec.repo} has no ${name} at '${cand.revision}', which ${spec.name} needs beside its weights`);
      }
      throw err;
    }
    if (gitSha && !lfsSha) {
      const sha1 = gitBlobSha1(dest);
      if (sha1 !== gitSha) {
        fs.rmSync(dest, { force: true });
        throw new UserError(`${url}: the downloaded ${name} does not match the hub's digest (git blob ${sha1}, expected ${gitSha}); it was deleted. Run again.`);
      }
    }
    writeJsonAtomic(dest + '.json', {
      repo: spec.repo,
      revision: cand.revision,
      file: name,
      url,
      sha256: result.sha256,
      size: result.size,
      verified_against: lfsSha || gitSha ? 'hub-header' : 'none',
      fetched_at: new Date().toISOString(),
    } satisfies HubSidecar);
  }
}

function header(res: FirstResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The offline message: which file, from which URL, where to put it, or --weights. */
/** The hub cannot be reached (no network, or HF_HUB_OFFLINE): `mpl quickstart` falls back to its offline run on it. */
export class HubUnreachableError extends UserError {}

function offlineError(spec: ClipModelSpec, candidates: HubRevision[], env: NodeJS.ProcessEnv, reason: string): UserError {
  // Recommend a revision known to have the file (a pinned one) over one that only might.
  const cand = candidates.find((c) => c.sha256) ?? candidates[0]!;
  const url = hubFileUrl(spec.repo, cand.revision, fileOf(spec, cand), env);
  const dest = hubCachePath(spec.repo, cand.revision, fileOf(spec, cand), env);
  const digest = cand.sha256 ? ` (sha256 ${cand.sha256})` : '';
  return new HubUnreachableError(
    `cannot download the ${spec.name} weights: ${reason.replace(/\.$/, '')}. On a machine with internet access download ${url}${digest} and place it at ${dest} (it is checked on first use), or pass --weights FILE with a CLIP ${spec.file}.`,
  );
}

export interface ResolveWeightsOptions extends HubOptions {
  /** `--model NAME`: download (or reuse) pretrained weights by name. */
  model?: string;
  /** `--weights FILE|DIR`: a local weights file or a folder holding one; only checked to exist. Wins over `model`. */
  weights?: string;
}

/**
 * The weights file `--weights` names: a file as it is, or the weights inside a folder (a Hugging Face snapshot
 * folder, a `models--org--name` folder of the HF cache, an open_clip folder). Synchronous: also used where
 * only the architecture is read.
 */
export function resolveWeightsPath(weights: string): string {
  const file = path.resolve(weights);
  if (!fs.existsSync(file)) {
    throw new UserError(`${file}: weights file not found (--weights expects a CLIP weights file: .safetensors, OpenAI .pt or pytorch_model.bin, or a Hugging Face snapshot folder; or use --model NAME to download one: mpl models lists them)`);
  }
  if (fs.statSync(file).isDirectory()) {
    const inside = weightsFileInFolder(file);
    if (!inside) throw new UserError(`${file}: a folder without CLIP weights (looked for ${WEIGHT_FILES.join(', ')}, and refs/main of a Hugging Face cache folder)`);
    return inside;
  }
  return file;
}

/** The local path of the CLIP weights a command should load: `--weights FILE|DIR` as is, or `--model NAME` fetched. */
export async function resolveWeights(options: ResolveWeightsOptions): Promise<string> {
  if (options.weights) return resolveWeightsPath(options.weights);
  if (options.model) return (await fetchModel(options.model, options)).path;
  throw new UserError(`no model weights given: pass --model NAME (${(options.models ?? []).map((m) => m.name).join(', ')}) or --weights FILE`);
}

/** A copy of a model's weights on this machine. */
export interface CachedCopy {
  /** this tool's cache, or the Hugging Face hub's */
  cache: 'mpl' | 'huggingface';
  path: string;
  revision: string;
  size: number;
}

/** Every copy of a model's weights in this tool's cache and in the Hugging Face cache (nothing is hashed). */
export function cachedCopies(spec: ClipModelSpec, env: NodeJS.ProcessEnv = process.env): CachedCopy[] {
  const out: CachedCopy[] = [];
  const seen = new Set<string>();
  for (const cand of spec.revisions) {
    const file = fileOf(spec, cand);
    const own = hubCachePath(spec.repo, cand.revision, file, env);
    if (!seen.has(own) && fs.existsSync(own)) {
      seen.add(own);
      out.push({ cache: 'mpl', path: own, revision: cand.revision, size: fs.statSync(own).size });
    }
    const hf = findHfCached(spec.repo, cand.revision, file, env);
    if (hf && !seen.has(hf.path)) {
      seen.add(hf.path);
      out.push({ cache: 'huggingface', path: hf.path, revision: `${cand.revision} (${hf.commit.slice(0, 12)})`, size: fs.statSync(hf.path).size });
    }
  }
  return out;
}
