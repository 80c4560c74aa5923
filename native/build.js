#!/usr/bin/env node
// Builds the addon with the C++ compiler directly, without node-gyp, into a chosen file. Used for a second
// build against another libtorch (scripts/install.sh builds one against PyPI's torch 2.x for the tests)
// and on machines without node-gyp or network (scripts/gpu-check.sh). `npm install` keeps using node-gyp
// (binding.gyp); both take their libtorch flags from find-libtorch.js, so they build the same addon.
//   node native/build.js --out build-torch2/mpl_torch.node [--libtorch DIR] [--node-include DIR] [--jobs N]
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const root = path.resolve(__dirname, '..');
const out = path.resolve(arg('--out', path.join(root, 'build', 'Release', 'mpl_torch.node')));
if (arg('--libtorch')) process.env.LIBTORCH = path.resolve(arg('--libtorch'));
const { find, libsOf, definesOf, cxxStdOf } = require('./find-libtorch.js');
const t = find();

// Node's own headers: beside the node binary (official tarballs, Debian's /usr/include/node) unless given
const nodeInclude = arg('--node-include', process.env.NODE_INCLUDE || path.join(path.dirname(process.execPath), '..', 'include', 'node'));
if (!fs.existsSync(path.join(nodeInclude, 'node_api.h'))) {
  process.stderr.write(`native/build.js: node_api.h not found in ${nodeInclude} (pass --node-include DIR)\n`);
  process.exit(1);
}
let addonApi;
try {
  addonApi = require('node-addon-api').include_dir;
} catch {
  addonApi = path.join(root, 'node_modules', 'node-addon-api');
}
addonApi = path.isAbsolute(addonApi) ? addonApi : path.join(root, addonApi);

const cxx = process.env.CXX || 'g++';
const args = [
  `-std=${cxxStdOf(t)}`, '-O2', '-fPIC', '-shared', '-pthread', '-fexceptions', '-frtti',
  '-Wno-unused-parameter', '-Wno-deprecated-declarations',
  '-DNAPI_VERSION=8', '-DNAPI_CPP_EXCEPTIONS', '-DBUILDING_NODE_EXTENSION',
  ...definesOf(t).map((d) => `-D${d}`),
  `-I${nodeInclude}`, `-I${addonApi}`, ...t.includes.map((i) => `-I${i}`),
  path.join(root, 'native', 'addon.cc'),
  '-o', out,
  `-L${t.libdir}`, `-Wl,-rpath,${t.libdir}`, ...libsOf(t),
];
fs.mkdirSync(path.dirname(out), { recursive: true });
process.stderr.write(`native/build.js: ${t.source}${t.cuda ? ' (CUDA)' : ''} -> ${out}\n`);
if (t.cudaNote) process.stderr.write(`native/build.js: ${t.cudaNote}\n`);
execFileSync(cxx, args, { stdio: 'inherit' });
