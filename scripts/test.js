#!/usr/bin/env node
// `npm test`: the whole suite (dist/test/) once per built addon -- the main build (build/Release, the
// libtorch found at install: Debian's 1.13, or a PyTorch's) and, when scripts/install.sh made it, the build
// against PyPI's libtorch 2.x (.cache/libtorch2/addon). Extra arguments go to `node --test` (e.g. a test file).
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const builds = [
  ['main build', path.join(root, 'build', 'Release', 'mpl_torch.node')],
  ['libtorch 2.x build', path.join(root, '.cache', 'libtorch2', 'addon', 'mpl_torch.node')],
].filter(([, file]) => fs.existsSync(file));
if (builds.length === 0) {
  process.stderr.write('npm test: no addon is built (build/Release/mpl_torch.node): run `bash scripts/install.sh` first\n');
  process.exit(1);
}
if (builds.length === 1) process.stderr.write('npm test: .cache/libtorch2/addon is absent, testing the main build only (scripts/install.sh makes it)\n');
const files = process.argv.slice(2);
let failed = 0;
for (const [name, file] of builds) {
  const version = spawnSync(process.execPath, ['-p', `require(${JSON.stringify(file)}).version()`], { encoding: 'utf8' }).stdout.trim();
  process.stdout.write(`\n=== tests against the ${name}: libtorch ${version} (${path.relative(root, file)})\n`);
  const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...(files.length ? files : ['dist/test/'])], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, MPL_ADDON: file },
  });
  if (r.status !== 0) {
    failed++;
    process.stdout.write(`=== FAILED against the ${name} (libtorch ${version})\n`);
  }
}
process.exit(failed ? 1 : 0);
