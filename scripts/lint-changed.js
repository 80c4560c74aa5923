#!/usr/bin/env node
// Style checks on what a change touches (part of `npm test`, so CI enforces them):
//   - ESLint with typescript-eslint (eslint.config.mjs) on every TypeScript file the change adds or modifies;
//   - Prettier (.prettierrc.json) on the lines the change adds or modifies: the code base predates the formatter,
//     so a file is not reformatted as a whole because one line of it changed.
// "The change" is everything since the merge base with main (the working tree included, untracked files too);
// on main itself, what its last commit brought (for a merge: the whole merged branch).
//
//   node scripts/lint-changed.js               the checks; exit 1 with one line per finding
//   node scripts/lint-changed.js --base REV    compare with REV instead (MPL_LINT_BASE=REV likewise)
//   node scripts/lint-changed.js --fix         ESLint's fixes in the changed files; Prettier's format where it differs
//                                              on a changed line (each differing block that touches one)
//
// The tools live in tools/lint/ (`npm ci --prefix tools/lint`; .ci/run does it): typescript-eslint parses with the
// classic TypeScript API, which TypeScript 7 (the project's compiler) does not have. In a copy without git history
// (an unpacked tarball) there is no change to check: the script says so and exits 0; `--all` checks every file
// with ESLint (Prettier only on changed lines, so not then).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync, spawnSync } = require('child_process');
const { pathToFileURL } = require('url');

const root = path.resolve(__dirname, '..');
const tools = path.join(root, 'tools', 'lint');
const args = process.argv.slice(2);
const fix = args.includes('--fix');
const all = args.includes('--all');
const baseArg = args.includes('--base') ? args[args.indexOf('--base') + 1] : process.env.MPL_LINT_BASE;
const LINTED = /^(src|test|bench)\/.*\.ts$/;

const git = (...a) => execFileSync('git', a, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
const tryGit = (...a) => {
  try {
    return git(...a);
  } catch {
    return null;
  }
};

function base() {
  if (baseArg) return baseArg;
  for (const main of ['main', 'origin/main']) {
    const mb = tryGit('merge-base', 'HEAD', main);
    if (mb && mb !== tryGit('rev-parse', 'HEAD')) return mb;
  }
  return tryGit('rev-parse', '--verify', '-q', 'HEAD^1');
}

/** Files (relative to the root) the change adds or modifies, and for each the line numbers it adds or modifies. */
function changes(rev) {
  const files = new Map();
  const diff = git('diff', '-U0', '--no-color', '--no-ext-diff', '--diff-filter=AMR', rev, '--', 'src', 'test', 'bench');
  let file = null;
  for (const line of diff.split('\n')) {
    if (line.startsWith('+++ ')) {
      file = line === '+++ /dev/null' ? null : line.slice(6);
      if (file && LINTED.test(file)) files.set(file, new Set());
      else file = null;
    }
    const m = file && /^@@ -\S+ \+(\d+)(?:,(\d+))? @@/.exec(line);
    if (m) for (let i = 0; i < Number(m[2] ?? 1); i++) files.get(file).add(Number(m[1]) + i);
  }
  for (const f of git('ls-files', '--others', '--exclude-standard', '--', 'src', 'test', 'bench').split('\n')) {
    if (!LINTED.test(f)) continue;
    const n = fs.readFileSync(path.join(root, f), 'utf8').split('\n').length;
    files.set(f, new Set(Array.from({ length: n }, (_, i) => i + 1)));
  }
  return files;
}

/**
 * The hunks where `formatted` differs from `text`: each the range of `text`'s lines it replaces (1-based, inclusive;
 * a pure insertion sits between `start` and the next line and belongs to both), and the lines it puts there.
 */
function hunks(text, formatted) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mpl-lint-'));
  try {
    fs.writeFileSync(path.join(dir, 'a'), text);
    fs.writeFileSync(path.join(dir, 'b'), formatted);
    const r = spawnSync('git', ['diff', '--no-index', '-U0', '--no-color', 'a', 'b'], { cwd: dir, encoding: 'utf8' });
    const out = [];
    for (const line of r.stdout.split('\n')) {
      const m = /^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@/.exec(line);
      if (m) out.push({ start: Number(m[1]), count: Number(m[2] ?? 1), lines: [] });
      else if (out.length && line.startsWith('+')) out[out.length - 1].lines.push(line.slice(1));
    }
    return out.map((h) => ({ ...h, from: h.start, to: h.count === 0 ? h.start + 1 : h.start + h.count - 1 }));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `text` with the hunks applied, from the last up so that line numbers stay valid. */
function applyHunks(text, chosen) {
  const lines = text.split('\n');
  for (const h of [...chosen].sort((a, b) => b.start - a.start)) {
    // git numbers a pure insertion by the line it follows
    if (h.count === 0) lines.splice(h.start, 0, ...h.lines);
    else lines.splice(h.start - 1, h.count, ...h.lines);
  }
  return lines.join('\n');
}

async function main() {
  if (!fs.existsSync(path.join(tools, 'node_modules', 'eslint'))) {
    console.error('lint: tools/lint/node_modules is missing; install the linters with: npm ci --prefix tools/lint');
    process.exit(1);
  }
  let files;
  if (all) {
    files = new Map(
      git('ls-files', 'src', 'test', 'bench')
        .split('\n')
        .filter((f) => LINTED.test(f))
        .map((f) => [f, new Set()]),
    );
  } else {
    const rev = tryGit('rev-parse', '--is-inside-work-tree') === 'true' ? base() : null;
    if (!rev) {
      console.log(
        'lint: no git history to compare with (not a clone, or a single commit), so no change to check; `node scripts/lint-changed.js --all` runs ESLint on every file',
      );
      return;
    }
    files = changes(rev);
    console.log(`lint: ${files.size} changed TypeScript file(s) since ${rev.slice(0, 12)}`);
  }
  if (files.size === 0) {
    console.log('lint: ok');
    return;
  }
  const list = [...files.keys()];
  let failed = false;

  const eslint = spawnSync(
    process.execPath,
    [path.join(tools, 'node_modules', 'eslint', 'bin', 'eslint.js'), ...(fix ? ['--fix'] : []), '--', ...list],
    { cwd: root, stdio: 'inherit' },
  );
  if (eslint.status !== 0) failed = true;

  if (!all) {
    const prettier = await import(pathToFileURL(path.join(tools, 'node_modules', 'prettier', 'index.mjs')).href);
    for (const [file, lines] of files) {
      const abs = path.join(root, file);
      const text = fs.readFileSync(abs, 'utf8');
      const options = { ...(await prettier.resolveConfig(abs)), filepath: abs };
      const formatted = await prettier.format(text, options);
      if (formatted === text) continue;
      // only where Prettier's format differs on a line the change wrote
      const mine = hunks(text, formatted).filter((h) => [...lines].some((l) => l >= h.from && l <= h.to));
      if (fix) {
        if (mine.length) fs.writeFileSync(abs, applyHunks(text, mine));
        continue;
      }
      for (const { from, to } of mine) {
        const touched = [...lines].filter((l) => l >= from && l <= to).sort((a, b) => a - b);
        failed = true;
        console.error(
          `${file}:${from}${to > from ? `-${to}` : ''}: not as Prettier formats it (changed line${touched.length > 1 ? 's' : ''} ${touched.join(', ')}); ` +
            `tools/lint/node_modules/.bin/prettier ${file} | diff ${file} - shows how, --fix rewrites these lines`,
        );
      }
    }
  }
  if (failed) {
    console.error('lint: style findings above (node scripts/lint-changed.js --fix rewrites the lines named)');
    process.exit(1);
  }
  console.log('lint: ok');
}

main().catch((e) => {
  console.error(`lint: ${e.message}`);
  process.exit(1);
});
