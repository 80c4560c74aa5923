#!/usr/bin/env node
// Locates a libtorch installation for the addon build (binding.gyp calls this script).
// Search order, first match wins:
//   1. $LIBTORCH            a folder with include/ and lib/ (the libtorch zip from pytorch.org, or any build)
//   2. a Python PyTorch whose CUDA libraries all resolve (python3, or $PYTHON): how GPUs are used
//   3. Debian's libtorch-dev /usr/include/torch + /usr/lib/<multiarch>/libtorch.so (CPU build, 1.13)
//   4. a Python PyTorch without usable CUDA (linked as a CPU libtorch)
//
// CUDA: the CUDA libraries are linked only when libtorch_cuda.so and everything it needs resolve (ldd). A
// CUDA wheel installed without its nvidia-* runtime packages (pip install --no-deps torch) is used as a CPU
// libtorch, and --check says so. MPL_NO_CUDA=1 forces a CPU-only link.
// The C++ ABI (_GLIBCXX_USE_CXX11_ABI) is read off libc10.so's symbols, so no Python import is needed.
// Usage: find-libtorch.js --check | --include | --libdir | --libs | --defines | --std | --describe
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

function fromRoot(root, source) {
  const inc = path.join(root, 'include');
  const lib = path.join(root, 'lib');
  if (!fs.existsSync(path.join(inc, 'torch', 'csrc', 'api', 'include', 'torch', 'torch.h'))) return null;
  if (!fs.existsSync(path.join(lib, 'libtorch.so')) && !fs.existsSync(path.join(lib, 'libtorch_cpu.so'))) return null;
  return withCuda({
    source,
    includes: [inc, path.join(inc, 'torch', 'csrc', 'api', 'include')],
    libdir: lib,
    cuda: false,
    cudaNote: null,
    cxx11abi: cxx11AbiOf(lib),
  });
}

/** 1 or 0 from the mangled names in libc10.so (std::__cxx11::basic_string appears only with the new ABI). */
function cxx11AbiOf(libdir) {
  const file = path.join(libdir, 'libc10.so');
  if (!fs.existsSync(file)) return null;
  return fs.readFileSync(file).includes('St7__cxx1112basic_string') ? 1 : 0;
}

/** Marks CUDA usable only when libtorch_cuda.so exists and every library it needs resolves. */
function withCuda(found) {
  const cudaLib = path.join(found.libdir, 'libtorch_cuda.so');
  if (!fs.existsSync(cudaLib)) return found;
  if (process.env.MPL_NO_CUDA === '1') {
    found.cudaNote = 'CUDA libraries present but MPL_NO_CUDA=1: CPU-only build';
    return found;
  }
  let out = '';
  try {
    out = execFileSync('ldd', [cudaLib], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    out = 'not found';
  }
  const missing = out.split('\n').filter((l) => l.includes('not found')).map((l) => l.trim().split(/\s+/)[0]);
  if (missing.length === 0) found.cuda = true;
  else found.cudaNote = `libtorch_cuda.so needs ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''} (not installed): CPU-only build`;
  return found;
}

function fromEnv() {
  const root = process.env.LIBTORCH;
  if (!root) return null;
  const found = fromRoot(root, `$LIBTORCH=${root}`);
  if (!found) fail(`$LIBTORCH is set to ${root}, but it does not hold include/torch/csrc/api/include/torch/torch.h and lib/libtorch.so.`);
  return found;
}

function fromDebian() {
  const header = '/usr/include/torch/csrc/api/include/torch/torch.h';
  if (!fs.existsSync(header)) return null;
  const candidates = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib'];
  const libdir = candidates.find((d) => fs.existsSync(path.join(d, 'libtorch.so')));
  if (!libdir) return null;
  return withCuda({
    source: 'Debian libtorch-dev',
    includes: ['/usr/include', '/usr/include/torch/csrc/api/include'],
    libdir,
    cuda: false,
    cudaNote: null,
    cxx11abi: null,
  });
}

function fromPython() {
  const python = process.env.PYTHON || 'python3';
  let dir;
  try {
    // find the package without importing it (an install made with --no-deps cannot be imported)
    dir = execFileSync(python, ['-c', 'import importlib.util as u; s = u.find_spec("torch"); print(s.submodule_search_locations[0])'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
  return dir ? fromRoot(dir, `Python PyTorch at ${dir}`) : null;
}

function fail(message) {
  process.stderr.write(`\nmodular-prompt-learning: ${message}\n\n`);
  process.exit(1);
}

function find() {
  // a CUDA-capable PyTorch wins over Debian's CPU-only libtorch: that is how GPUs get used
  const python = fromEnv() ? null : fromPython();
  const found = fromEnv() || (python && python.cuda ? python : null) || fromDebian() || python;
  if (!found) {
    fail([
      'libtorch was not found, so the native addon cannot be built. Install one of:',
      '  - Debian/Ubuntu (CPU):  apt-get install libtorch-dev libopenblas0-openmp',
      '  - any libtorch folder:  export LIBTORCH=/path/to/libtorch   (must contain include/ and lib/)',
      '  - a Python PyTorch:     pip install torch   (used through `python3 -c "import torch"`; this is the CUDA path)',
      'then run `npm install` (or `npm rebuild modular-prompt-learning`) again.',
    ].join('\n'));
  }
  return found;
}

/** Linker inputs: libtorch.so pulls libtorch_cuda.so in CUDA wheels, so a CPU-only link names only the CPU libraries. */
function libsOf(t) {
  const libs = ['-ltorch_cpu', '-lc10'];
  if (t.cuda) libs.push('-Wl,--no-as-needed', '-ltorch', '-ltorch_cuda', '-lc10_cuda', '-Wl,--as-needed');
  else if (!fs.existsSync(path.join(t.libdir, 'libtorch_cuda.so'))) libs.unshift('-ltorch');
  return libs;
}

/** libtorch's version from its version.h ("2.15.0"), or null. */
function versionOf(t) {
  // 2.x keeps the numbers in torch/headeronly/version.h; 1.x in the C++ API's torch/version.h
  const candidates = t.includes.flatMap((inc) => [path.join(inc, 'torch', 'headeronly', 'version.h'), path.join(inc, 'torch', 'version.h')]);
  for (const file of candidates) {
    if (!fs.existsSync(file)) continue;
    const m = /#define TORCH_VERSION_MAJOR (\d+)[\s\S]*?#define TORCH_VERSION_MINOR (\d+)/.exec(fs.readFileSync(file, 'utf8'));
    if (m) return { major: Number(m[1]), minor: Number(m[2]) };
  }
  return null;
}

/** The C++ standard the headers need: recent libtorch 2.x headers require C++20, 1.x builds with C++17. */
function cxxStdOf(t) {
  const v = versionOf(t);
  return v && v.major >= 2 ? 'c++20' : 'c++17';
}

function definesOf(t) {
  const defs = [];
  if (t.cxx11abi !== null) defs.push(`_GLIBCXX_USE_CXX11_ABI=${t.cxx11abi}`);
  if (t.cuda) defs.push('MPL_WITH_CUDA=1');
  return defs;
}

module.exports = { find, libsOf, definesOf, cxxStdOf };

if (require.main === module) {
  const arg = process.argv[2] || '--describe';
  const t = find();
  switch (arg) {
    case '--check':
      process.stderr.write(`modular-prompt-learning: building against ${t.source} (${t.libdir}${t.cuda ? ', CUDA' : ''})\n`);
      if (t.cudaNote) process.stderr.write(`modular-prompt-learning: ${t.cudaNote}\n`);
      break;
    case '--include': console.log(t.includes.join(' ')); break;
    case '--libdir': console.log(t.libdir); break;
    case '--libs': console.log(libsOf(t).join(' ')); break;
    case '--defines': console.log(definesOf(t).join(' ')); break;
    case '--std': console.log(`-std=${cxxStdOf(t)}`); break;
    default: console.log(JSON.stringify(t, null, 2));
  }
}
