import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { blasInfo, bundledMkl, classifyBlas, isSlowBlas } from '../../src/torch/native.js';
import { repoRoot } from '../helpers.js';

// Debian's reference BLAS (package libblas3, installed by scripts/install.sh beside OpenBLAS).
const REFERENCE_BLAS = '/usr/lib/x86_64-linux-gnu/blas/libblas.so.3';

test('BLAS kinds and the slowness rule', () => {
  assert.equal(classifyBlas('/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3'), 'openblas');
  assert.equal(classifyBlas('/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0'), 'reference');
  assert.equal(classifyBlas('/opt/intel/mkl/lib/libmkl_rt.so'), 'mkl');
  assert.equal(classifyBlas(null), 'unknown');
  assert.equal(isSlowBlas('reference', 100), true);
  assert.equal(isSlowBlas('openblas', 5), false);
  assert.equal(isSlowBlas('unknown', 3), true);
  assert.equal(isSlowBlas('unknown', 40), false);
});

// Debian's libtorch calls the system BLAS (OpenBLAS via scripts/install.sh); PyPI's carries MKL inside itself.
const expected = bundledMkl() ? 'mkl' : 'openblas';

test(`this installation uses ${expected} and is not flagged`, () => {
  const info = blasInfo();
  assert.equal(info.kind, expected, `BLAS in use: ${info.library}`);
  assert.equal(info.slow, false);
  assert.ok(info.gflops > 0);
});

test(`with the reference BLAS in front, ${bundledMkl() ? 'MKL inside libtorch is still what is used: no warning' : 'the slow BLAS is detected and the warning printed once'}`, () => {
  const r = spawnSync(
    process.execPath,
    ['-e', "const t = require('./dist/src/torch'); const i = t.checkBlas(); t.checkBlas(); console.log(JSON.stringify(i));"],
    { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, LD_PRELOAD: REFERENCE_BLAS } },
  );
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout.trim());
  const warnings = r.stderr.split('\n').filter((l) => l.includes('MPL_SLOW_BLAS'));
  if (bundledMkl()) {
    assert.equal(info.kind, 'mkl');
    assert.equal(warnings.length, 0, r.stderr);
    return;
  }
  assert.equal(info.kind, 'reference');
  assert.equal(info.slow, true);
  assert.equal(warnings.length, 1, r.stderr);
  assert.match(warnings[0], /apt-get install libopenblas0-openmp/);
});
