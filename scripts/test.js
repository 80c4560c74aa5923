#!/usr/bin/env node
// The test runner behind `npm test` and `npm run test:fast` (test/README.md says what runs where and why).
//
//   node scripts/test.js                  the suite: every file against the main build (build/Release), the
//                                         engine/numerics/checkpoint files also against the libtorch 2.x build
//                                         (.cache/libtorch2/addon); files run concurrently, one per core
//   MPL_TEST_ALL=1 node scripts/test.js   + the slow tier (*.slow.test.ts: soak, learning) and the numerics
//                                         files once more as a CPU with AVX2 only computes (CI sets it)
//   node scripts/test.js --fast           the inner loop: unit, parity and one short end-to-end test, main build
//   node scripts/test.js FILE...          these files (dist/test/...js) against every build
// Options: --jobs N (files at once; default: the cores), --list (the plan, nothing run), --timings FILE (JSON
// of each file's duration). At the end it prints the counts per build and the wall time.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const plan = require('./test-plan.js');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return false;
  args.splice(i, 1);
  return true;
};
const option = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const fast = flag('--fast');
const listOnly = flag('--list');
const timingsFile = option('--timings');
const jobsArg = option('--jobs');
const all = process.env.MPL_TEST_ALL === '1';
const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
const jobs = Math.max(1, Number(jobsArg ?? process.env.MPL_TEST_JOBS ?? cores) || 1);
for (const a of args) {
  if (a.startsWith('--')) {
    process.stderr.write(`scripts/test.js: unknown option ${a} (--fast, --list, --jobs N, --timings FILE)\n`);
    process.exit(2);
  }
}

// the builds
const builds = [
  { key: 'main', file: path.join(root, 'build', 'Release', 'mpl_torch.node') },
  { key: 'libtorch2', file: path.join(root, '.cache', 'libtorch2', 'addon', 'mpl_torch.node') },
].filter((b) => fs.existsSync(b.file));
if (builds.length === 0 || builds[0].key !== 'main') {
  process.stderr.write('npm test: the main addon is not built (build/Release/mpl_torch.node): run `bash scripts/install.sh` first\n');
  process.exit(1);
}
for (const b of builds) {
  const r = require('child_process').spawnSync(process.execPath, ['-p', `require(${JSON.stringify(b.file)}).version()`], { encoding: 'utf8' });
  b.version = r.stdout.trim() || '?';
  b.label = `libtorch ${b.version} (${path.relative(root, path.dirname(b.file))})`;
}
if (builds.length === 1 && !fast) process.stderr.write('npm test: .cache/libtorch2/addon is absent, testing the main build only (scripts/install.sh makes it)\n');

/**
 * What a CPU with AVX2 and neither AVX-512 nor native bf16 does, on this CPU: the libraries' own switches cap
 * the instruction sets they dispatch to (ATen's kernels, oneDNN, OpenBLAS, MKL). docs/precision.md.
 */
const AVX2_CAPS = {
  ATEN_CPU_CAPABILITY: 'avx2',
  ONEDNN_MAX_CPU_ISA: 'AVX2',
  DNNL_MAX_CPU_ISA: 'AVX2',
  OPENBLAS_CORETYPE: 'Haswell',
  MKL_ENABLE_INSTRUCTIONS: 'AVX2',
};
function cpuFlags() {
  try {
    const m = /^flags\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    return new Set(m ? m[1].split(/\s+/) : []);
  } catch {
    return new Set();
  }
}
const flags = cpuFlags();
const aboveAvx2 = flags.has('avx512f') || flags.has('avx512_bf16') || flags.has('amx_bf16');

// the plan: [pass, file] pairs
// a compiled test file, or a folder under dist/test/ (every test file below it)
const testsBase = path.join(root, 'dist', 'test');
const explicit = args.flatMap((a) => {
  const rel = path.relative(testsBase, path.resolve(a)).split(path.sep).join('/');
  const isDir = fs.existsSync(path.resolve(a)) && fs.statSync(path.resolve(a)).isDirectory();
  if (rel.startsWith('..') || (!isDir && (!rel.endsWith('.test.js') || !fs.existsSync(path.resolve(a))))) {
    process.stderr.write(`scripts/test.js: ${a} is not a compiled test file or folder under dist/test/ (build first: npx tsc -p tsconfig.json)\n`);
    process.exit(2);
  }
  return isDir ? plan.listTests(root).filter((f) => rel === '' || f.startsWith(`${rel}/`)) : [rel];
});
const files = (explicit.length ? explicit : plan.listTests(root)).map((rel) => plan.classify(root, rel));
const passes = builds.map((b) => ({ name: b.label, build: b, env: {}, jobs: [] }));
const capsPass = all && aboveAvx2 && !explicit.length ? builds.map((b) => ({ name: `libtorch ${b.version} as an AVX2-only CPU`, build: b, env: AVX2_CAPS, jobs: [] })) : [];
const notRun = [];
for (const f of files) {
  if (explicit.length) {
    for (const p of passes) p.jobs.push(f);
    continue;
  }
  if (fast ? f.tier !== 'fast' : f.tier === 'slow' && !all) {
    notRun.push(f);
    continue;
  }
  passes[0].jobs.push(f);
  if (!fast && f.builds === 'every') for (const p of passes.slice(1)) p.jobs.push(f);
  if (f.numerics) for (const p of capsPass) p.jobs.push(f);
}
const allPasses = [...passes, ...capsPass].filter((p) => p.jobs.length);

if (listOnly) {
  for (const p of allPasses) {
    process.stdout.write(`${p.name}: ${p.jobs.length} files\n`);
    for (const f of p.jobs) process.stdout.write(`  ${f.file}  [${f.tier}${f.serial ? `, serial: ${f.serial}` : ''}]\n`);
  }
  if (notRun.length) process.stdout.write(`not run: ${notRun.map((f) => f.file).join(', ')}\n`);
  process.exit(0);
}

// the tests' own cache folders (few-shot caches of generated datasets, ...), never the user's: one per process
const cacheRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'mpl-test-cache-'));
process.on('exit', () => fs.rmSync(cacheRoot, { recursive: true, force: true }));
let cacheCount = 0;
const FILE_TIMEOUT_MS = 20 * 60_000;
// Ctrl-C / SIGTERM: stop the files running (each is its own process group), then clean up
const running = new Set();
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const c of running) {
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    process.stdout.write(`\nnpm test: stopped (${sig})\n`);
    process.exit(130);
  });
}

/** Runs one file of one pass; resolves to its result (counts from the TAP reporter, the spec output). */
function runFile(pass, f) {
  return new Promise((resolve) => {
    const tap = path.join(cacheRoot, `tap-${++cacheCount}.txt`);
    const cache = path.join(cacheRoot, `cache-${cacheCount}`);
    const env = {
      ...process.env,
      MPL_ADDON: pass.build.file,
      MPL_CACHE: process.env.MPL_CACHE ?? cache,
      MPL_NUM_THREADS: process.env.MPL_NUM_THREADS ?? String(Math.max(1, Math.floor(cores / jobs))),
      ...pass.env,
    };
    const started = Date.now();
    const child = spawn(
      process.execPath,
      ['--test', '--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tap}`, path.join('dist', 'test', f.file)],
      { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    running.add(child);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      out += `\nscripts/test.js: ${f.file} ran past ${FILE_TIMEOUT_MS / 60_000} minutes: stopped\n`;
      process.kill(-child.pid, 'SIGKILL'); // the file and what it spawned
    }, FILE_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      running.delete(child);
      clearTimeout(timer);
      const counts = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
      let text = '';
      try {
        text = fs.readFileSync(tap, 'utf8');
      } catch {
        // no report: counted as a failure below
      }
      for (const k of Object.keys(counts)) {
        const m = new RegExp(`^# ${k} (\\d+)$`, 'm').exec(text);
        if (m) counts[k] = Number(m[1]);
      }
      const ok = code === 0 && counts.fail === 0 && counts.cancelled === 0 && counts.tests > 0;
      resolve({ pass, file: f, ok, code, signal, counts, seconds: (Date.now() - started) / 1000, out });
    });
  });
}

function line(r) {
  const c = r.counts;
  const extra = [c.skipped && `${c.skipped} skipped`, c.todo && `${c.todo} todo`, c.cancelled && `${c.cancelled} cancelled`, c.fail && `${c.fail} failed`].filter(Boolean);
  return `${r.ok ? 'ok  ' : 'FAIL'} ${r.seconds.toFixed(1).padStart(6)} s  ${r.file.file}  (${c.tests} tests${extra.length ? ', ' + extra.join(', ') : ''})  [${r.pass.name}]\n`;
}

async function main() {
  const t0 = Date.now();
  const queue = [];
  for (const p of allPasses) for (const f of p.jobs) queue.push({ pass: p, f });
  // longest first (the last run's durations, kept in .cache/), else end-to-end files first
  const timingsCache = path.join(root, '.cache', 'test-timings.json');
  let known = {};
  try {
    known = JSON.parse(fs.readFileSync(timingsCache, 'utf8'));
  } catch {
    // first run: the static order
  }
  const weight = (j) => known[`${j.pass.build.key}${j.pass.env === AVX2_CAPS ? '+avx2' : ''}:${j.f.file}`] ?? { slow: 1000, e2e: 500, fast: 10 }[j.f.tier];
  queue.sort((a, b) => weight(b) - weight(a));
  const serial = queue.filter((j) => j.f.serial);
  const parallel = queue.filter((j) => !j.f.serial);
  process.stdout.write(
    `npm test: ${queue.length} file runs in ${allPasses.length} passes (${allPasses.map((p) => `${p.name}: ${p.jobs.length}`).join('; ')}), ` +
      `${jobs} at a time${serial.length ? `, ${serial.length} alone` : ''}\n`,
  );
  const results = [];
  const report = (r) => {
    results.push(r);
    if (!r.ok) process.stdout.write(`\n----- ${r.file.file} [${r.pass.name}] (exit ${r.code ?? r.signal})\n${r.out}\n-----\n`);
    process.stdout.write(line(r));
  };
  for (const j of serial) report(await runFile(j.pass, j.f));
  let next = 0;
  const worker = async () => {
    while (next < parallel.length) {
      const j = parallel[next++];
      report(await runFile(j.pass, j.f));
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, parallel.length) }, worker));

  // the summary: counts per pass, wall time
  const wall = (Date.now() - t0) / 1000;
  const fmt = (s) => (s >= 60 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${s.toFixed(1)} s`);
  process.stdout.write(`\n=== summary${fast ? ' (test:fast)' : ''}\n`);
  let failed = 0;
  for (const p of allPasses) {
    const rs = results.filter((r) => r.pass === p);
    const sum = (k) => rs.reduce((a, r) => a + r.counts[k], 0);
    const bad = rs.filter((r) => !r.ok);
    failed += bad.length;
    process.stdout.write(
      `${bad.length ? 'FAIL' : 'ok  '} ${p.name}: ${rs.length} files, ${sum('tests')} tests, ${sum('pass')} passed, ${sum('fail')} failed` +
        `${sum('skipped') ? `, ${sum('skipped')} SKIPPED` : ''}${sum('todo') ? `, ${sum('todo')} todo` : ''}${sum('cancelled') ? `, ${sum('cancelled')} cancelled` : ''}` +
        ` (${fmt(rs.reduce((a, r) => a + r.seconds, 0))} of file time)\n`,
    );
    for (const r of bad) process.stdout.write(`       failed: ${r.file.file}\n`);
  }
  for (const [tier, why] of [['e2e', 'end to end: npm test runs them'], ['slow', 'the slow tier: MPL_TEST_ALL=1 npm test runs them, as CI does']]) {
    const skipped = notRun.filter((f) => f.tier === tier);
    if (skipped.length) process.stdout.write(`not run here: ${skipped.length} files (${why}): ${skipped.map((f) => f.file).join(', ')}\n`);
  }
  if (all && !aboveAvx2 && !explicit.length) process.stdout.write('AVX2 class: this CPU has no AVX-512: the passes above tested that class\n');
  process.stdout.write(`wall time ${fmt(wall)} (${jobs} files at a time)\n`);
  const timings = Object.fromEntries(results.map((r) => [`${r.pass.build.key}${r.pass.env === AVX2_CAPS ? '+avx2' : ''}:${r.file.file}`, Math.round(r.seconds * 10) / 10]));
  try {
    fs.mkdirSync(path.dirname(timingsCache), { recursive: true });
    fs.writeFileSync(timingsCache, JSON.stringify({ ...known, ...timings }, null, 1));
  } catch {
    // only an ordering hint
  }
  if (timingsFile) fs.writeFileSync(timingsFile, JSON.stringify(timings, null, 1));
  process.exit(failed ? 1 : 0);
}
main();
