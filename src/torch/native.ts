/**
 * Loads the N-API addon (build/Release/mpl_torch.node, built by node-gyp at `npm install`), sets the
 * intra-op thread count, and checks the BLAS once. Everything else in src/torch goes through `native`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** An opaque native tensor handle (an N-API External). */
export type Handle = { readonly __brand: 'TensorHandle' };
/** An opaque native generator handle. */
export type GenHandle = { readonly __brand: 'GeneratorHandle' };

// The addon's surface is wide and uniform (one function per op); it is typed loosely here and strictly in
// tensor.ts, which is the only caller.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type NativeAddon = Record<string, (...args: any[]) => any>;

function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'binding.gyp'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('modular-prompt-learning: package root not found from ' + __dirname);
    dir = up;
  }
}

function loadAddon(): NativeAddon {
  const root = packageRoot();
  const candidates = [
    process.env.MPL_ADDON ? path.resolve(process.env.MPL_ADDON) : undefined,
    path.join(root, 'build', 'Release', 'mpl_torch.node'),
    path.join(root, 'build', 'Debug', 'mpl_torch.node'),
  ].filter((p): p is string => Boolean(p));
  const file = candidates.find((p) => fs.existsSync(p));
  if (!file) {
    throw new Error(
      'modular-prompt-learning: the native addon is not built (build/Release/mpl_torch.node is missing). ' +
        'Install libtorch (Debian: apt-get install libtorch-dev libopenblas0-openmp) and run `npm rebuild` ' +
        'in ' + root + '. See README.md, "Install".',
    );
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(file) as NativeAddon;
}

export const native: NativeAddon = loadAddon();

/** Threads for intra-op parallelism: $MPL_NUM_THREADS, else the machine's cores. */
export function defaultThreads(): number {
  const env = process.env.MPL_NUM_THREADS;
  if (env) {
    const n = Number.parseInt(env, 10);
    if (Number.isInteger(n) && n > 0) return n;
    throw new Error(`MPL_NUM_THREADS must be a positive integer, got '${env}'`);
  }
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`thread count must be a positive integer, got ${n}`);
  native.setNumThreads(n);
}

export function getNumThreads(): number {
  return native.getNumThreads() as number;
}

setNumThreads(defaultThreads());

// ---- BLAS check -------------------------------------------------------------------------------------

export interface BlasInfo {
  /** the BLAS shared library mapped into this process, when it can be told (Linux /proc/self/maps) */
  library: string | null;
  kind: 'openblas' | 'mkl' | 'reference' | 'unknown';
  /** measured single-call float32 matmul speed (512x512x512), GFLOP/s */
  gflops: number;
  slow: boolean;
}

let blasInfoCache: BlasInfo | null = null;

/**
 * Which BLAS libtorch uses and how fast it is. Debian's libtorch links the generic libblas.so.3; when
 * the reference BLAS provides it, matmuls are ~25x slower than with OpenBLAS. We read the mapped
 * libraries and also time one matmul, so a slow BLAS is caught whatever its file name.
 */
export function blasInfo(): BlasInfo {
  if (blasInfoCache) return blasInfoCache;
  // 1. the library that actually provides sgemm_ in this process (dladdr), 2. else the mapped libraries
  let library: string | null = (native.blasLibrary() as string | null) ?? null;
  if (!library) {
    try {
      const maps = fs.readFileSync('/proc/self/maps', 'utf8');
      library = maps.split('\n').map((l) => l.slice(l.indexOf('/'))).find((p) => p.startsWith('/') && /lib(open)?blas|mkl_/.test(p)) ?? null;
    } catch {
      // not Linux: rely on the timing alone
    }
  }
  if (library && fs.existsSync(library)) library = fs.realpathSync(library);

  let kind = classifyBlas(library);
  // PyPI's libtorch carries MKL inside libtorch_cpu and never calls the system's sgemm_: whatever provides
  // that symbol (even a preloaded reference BLAS) is not what its matmuls use
  if (bundledMkl()) {
    kind = 'mkl';
    library = 'MKL inside libtorch_cpu';
  }
  const n = 512;
  const a = native.randn([n, n], null, 'float32');
  const b = native.randn([n, n], null, 'float32');
  native.dispose(native.matmul(a, b)); // warm-up
  const reps = 3;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) native.dispose(native.matmul(a, b));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  native.dispose(a);
  native.dispose(b);
  const gflops = (2 * n * n * n * reps) / seconds / 1e9;
  blasInfoCache = { library, kind, gflops, slow: isSlowBlas(kind, gflops) };
  return blasInfoCache;
}

/** True when libtorch was built with MKL linked in (PyPI's wheels): its matmuls do not go through libblas. */
export function bundledMkl(): boolean {
  return /BLAS_INFO=mkl/.test(native.showConfig() as string);
}

/** What kind of BLAS a library path is (Debian: .../blas/libblas.so.3 is the reference implementation). */
export function classifyBlas(library: string | null): BlasInfo['kind'] {
  if (!library) return 'unknown';
  if (/openblas/i.test(library)) return 'openblas';
  if (/mkl/i.test(library)) return 'mkl';
  if (/\/blas\/libblas|libblas\.so|librefblas/.test(library)) return 'reference';
  return 'unknown';
}

/**
 * Slow: the reference BLAS (~25x slower than OpenBLAS on matmuls), or an unidentified BLAS whose 512³
 * float32 matmul runs under 10 GFLOP/s (OpenBLAS on one modern core does 30+).
 */
export function isSlowBlas(kind: BlasInfo['kind'], gflops: number): boolean {
  return kind === 'reference' || (kind === 'unknown' && gflops < 10);
}

let blasWarned = false;

/** Warns once (process warning MPL_SLOW_BLAS) when the BLAS is slow, with the fix. */
export function checkBlas(): BlasInfo {
  const info = blasInfo();
  if (info.slow && !blasWarned && !process.env.MPL_NO_BLAS_CHECK) {
    blasWarned = true;
    process.emitWarning(
      `libtorch is using a slow BLAS (${info.library ?? 'unknown library'}, ${info.gflops.toFixed(1)} GFLOP/s on a ` +
        `512x512 matmul): training will be ~25x slower. Fix: apt-get install libopenblas0-openmp ` +
        `(or: update-alternatives --config libblas.so.3-x86_64-linux-gnu, choosing openblas).`,
      { code: 'MPL_SLOW_BLAS' },
    );
  }
  return info;
}
