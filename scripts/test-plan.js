// Which test files run where: the rules of test/README.md, in one place (scripts/test.js runs them; a test
// checks them). Every rule goes by folder or file name, so a new test file falls under one without a list.
'use strict';
const fs = require('fs');
const path = require('path');

/**
 * Folders whose tests touch the addon's ABI or numerics: the engine (torch), tensor and checkpoint file I/O
 * (io), the backbones (CLIP, SigLIP) and their weights (backbones), every method's parity (prompting), training in every
 * precision, its checkpoints and memory (train), seeded initialisation and bit-identical resumption
 * (pretrain). They run against every built libtorch; all other folders (the CLI, data, reports, sweeps, ...:
 * TypeScript over the same engine) against the main build only.
 */
const EVERY_BUILD_FOLDERS = ['torch', 'io', 'backbones', 'prompting', 'train', 'pretrain'];
/** A file elsewhere whose name says parity or checkpoint also runs against every build. */
const EVERY_BUILD_NAME = /(^|[-_.])(parity|checkpoint)([-_.]|$)/;
/**
 * The numerics tests that CI runs once more as a CPU with AVX2 only computes (test/README.md, "CPU classes").
 * By name: the parity, forward and tolerance tests, training in every precision (trainer), and the
 * device/precision rules.
 */
const NUMERICS_NAME = /(^|[-_.])(parity|forward|tolerance|trainer|device|precision)([-_.]|$)/;
/**
 * The folders of in-process tests (units, the engine, parity: seconds each), which `npm run test:fast` runs.
 * A file in any other folder -- `e2e`, `cli`, and every new folder until it is added here -- is end to end
 * (the CLI, a server or a browser on real inputs): `npm test` runs it, `test:fast` not. So a new folder
 * cannot slow the inner loop down unnoticed; add it here when its files are quick.
 */
const FAST_FOLDERS = ['api', 'backbones', 'data', 'eval', 'fuzz', 'io', 'net', 'pretrain', 'prompting', 'report', 'scripts', 'search', 'sweep', 'synth', 'torch', 'train', 'util'];
/** In those folders, files named `cli.test.ts` / `*-cli.test.ts` (a concern's commands through the binary) or `*.e2e.test.ts` are end to end too. */
const E2E_NAME = /(^|-)cli\.test\.js$|\.e2e\.test\.js$/;
/** The one short end-to-end test that `npm run test:fast` keeps. */
const FAST_E2E = 'e2e/quickstart.test.js';

/** 'slow' (`*.slow.test.ts`: soak, learning; only with MPL_TEST_ALL=1), 'e2e' (above) or 'fast' (the rest). */
function tierOf(rel) {
  const base = path.basename(rel);
  if (/\.slow\.test\.js$/.test(base)) return 'slow';
  if (rel === FAST_E2E) return 'fast';
  if (!FAST_FOLDERS.includes(rel.split('/')[0]) || E2E_NAME.test(base)) return 'e2e';
  return 'fast';
}

/** 'every' (each built libtorch) or 'main' (the main build only). */
function buildsOf(rel) {
  const folder = rel.split('/')[0];
  const stem = path.basename(rel).replace(/(\.slow|\.e2e)?\.test\.js$/, '');
  return EVERY_BUILD_FOLDERS.includes(folder) || EVERY_BUILD_NAME.test(stem) ? 'every' : 'main';
}

function isNumerics(rel) {
  return NUMERICS_NAME.test(path.basename(rel).replace(/(\.slow|\.e2e)?\.test\.js$/, ''));
}

/**
 * A file that must not run beside others says so in its source, with the reason, on a line of its own:
 *   // test: serial -- starts a SLURM cluster whose daemons ...
 * (read from the .ts source beside the compiled file). Returns the reason, or null.
 */
function serialReason(root, rel) {
  const src = path.join(root, 'test', rel.replace(/\.js$/, '.ts'));
  let text;
  try {
    text = fs.readFileSync(src, 'utf8');
  } catch {
    return null;
  }
  const m = /^\/\/ test: serial\b[\s:—-]*(.*)$/m.exec(text);
  return m ? m[1].trim() || 'serial' : null;
}

/** Every compiled test file under dist/test, as paths relative to it ('prompting/parity.test.js'). */
function listTests(root) {
  const base = path.join(root, 'dist', 'test');
  const out = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.test.js')) out.push(path.relative(base, p).split(path.sep).join('/'));
    }
  };
  if (fs.existsSync(base)) walk(base);
  // a stale compiled file whose source was removed or renamed is not a test any more
  return out.filter((rel) => fs.existsSync(path.join(root, 'test', rel.replace(/\.js$/, '.ts')))).sort();
}

/**
 * The plan of one file: its tier, builds, whether it is numerics, and why it runs alone (or null). The slow
 * tier runs once, against the main build (the engine's leak checks run against every build in torch/ and
 * train/).
 */
function classify(root, rel) {
  const tier = tierOf(rel);
  return { file: rel, tier, builds: tier === 'slow' ? 'main' : buildsOf(rel), numerics: isNumerics(rel), serial: serialReason(root, rel) };
}

module.exports = { EVERY_BUILD_FOLDERS, FAST_FOLDERS, E2E_NAME, FAST_E2E, tierOf, buildsOf, isNumerics, serialReason, listTests, classify };
