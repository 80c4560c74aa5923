import * as os from 'node:os';
import * as path from 'node:path';

/**
 * The folder where downloaded model weights are kept between runs. In order of precedence:
 *   1. `$MPL_CACHE` (the whole cache, used as given),
 *   2. `$XDG_CACHE_HOME/modular-prompt-learning` (the XDG base-directory convention),
 *   3. `~/.cache/modular-prompt-learning`.
 * Only read here so that every caller (CLI, library, tests) agrees on one place; tests pass their own `env`.
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MPL_CACHE) return path.resolve(env.MPL_CACHE);
  if (env.XDG_CACHE_HOME) return path.resolve(env.XDG_CACHE_HOME, 'modular-prompt-learning');
  return path.join(os.homedir(), '.cache', 'modular-prompt-learning');
}

/** `<cache>/hub`: Hugging Face hub files, laid out as `<repo>/<revision>/<file>`. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(cacheDir(env), 'hub');
}
