#!/usr/bin/env node
// Locates a libtorch installation for the addon build (binding.gyp calls this script).
// Search order, first match wins:
//   1. $LIBTORCH            a folder with include/ and lib/ (the libtorch zip from pytorch.org, or any build)
//   2. Debian's libtorch-dev /usr/include/torch + /usr/lib/<multiarch>/libtorch.so (CPU build, 1.13)
//   3. a Python PyTorch      `python3 -c "import torch"` (how a CUDA build of PyTorch 2.x is used)
// Usage: find-libtorch.js --check | --include | --libdir | --libs | --defines | --describe
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

function fromRoot(root, source) {
  const inc = path.join(root, 'include');
  const lib = path.join(root, 'lib');
  if (!fs.existsSync(path.join(inc, 'torch', 'csrc', 'api', 'include', 'torch', 'torch.h'))) return null;
  if (!fs.existsSync(path.join(lib, 'libtorch.so')) && !fs.existsSync(path.join(lib, 'libtorch_cpu.so'))) return null;
  return {
    source,
    includes: [inc, path.join(inc, 'torch', 'csrc', 'api', 'include')],
    libdir: lib,
    cuda: fs.existsSync(path.join(lib, 'libtorch_cuda.so')),
    cxx11abi: null,
  };
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
  return {
    source: 'Debian libtorch-dev',
    includes: ['/usr/include', '/usr/include/torch/csrc/api/include'],
    libdir,
    cuda: fs.existsSync(path.join(libdir, 'libtorch_cuda.so')),
    cxx11abi: null,
  };
}

function fromPython() {
  const python = process.env.PYTHON || 'python3';
  let out;
  try {
    out = execFileSync(python, ['-c',
      'import os, torch; print(os.path.dirname(torch.__file__)); print(int(torch._C._GLIBCXX_USE_CXX11_ABI)); print(torch.version.cuda or "")'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return null;
  }
  const [dir, abi, cudaVersion] = out.trim().split('\n');
  const found = fromRoot(dir, `Python PyTorch at ${dir}`);
  if (!found) return null;
  found.cxx11abi = abi === '1' ? 1 : 0;
  found.cuda = found.cuda || Boolean(cudaVersion);
  return found;
}

function fail(message) {
  process.stderr.write(`\nmodular-prompt-learning: ${message}\n\n`);
  process.exit(1);
}

function find() {
  const found = fromEnv() || fromDebian() || fromPython();
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

module.exports = { find };

if (require.main === module) {
  const arg = process.argv[2] || '--describe';
  const t = find();
  switch (arg) {
    case '--check':
      process.stderr.write(`modular-prompt-learning: building against ${t.source} (${t.libdir}${t.cuda ? ', CUDA' : ''})\n`);
      break;
    case '--include': console.log(t.includes.join(' ')); break;
    case '--libdir': console.log(t.libdir); break;
    case '--libs': {
      const libs = ['-ltorch', '-ltorch_cpu', '-lc10'];
      if (t.cuda) libs.push('-Wl,--no-as-needed', '-ltorch_cuda', '-lc10_cuda', '-Wl,--as-needed');
      console.log(libs.join(' '));
      break;
    }
    case '--defines': {
      const defs = [];
      if (t.cxx11abi !== null) defs.push(`_GLIBCXX_USE_CXX11_ABI=${t.cxx11abi}`);
      if (t.cuda) defs.push('MPL_WITH_CUDA=1');
      console.log(defs.join(' '));
      break;
    }
    default: console.log(JSON.stringify(t, null, 2));
  }
}
