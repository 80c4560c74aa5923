/**
 * Every example of the README, of docs/*.md and of every command's --help works (issue 21; the rules are in
 * docs/examples.md): the runnable ones are run as written in the example workspace (test/cli/example-
 * workspace.ts) and must succeed, every path they print must exist; the others (real data, downloads, GPUs,
 * SLURM) are parsed by the CLI's own option parser, and the run folders they name must have the layout runs
 * write. A block of examples in the docs without a marker fails, so that a new example is never left untested.
 * The examples run in this process (main() of the CLI, as bin/mpl.js calls it), one after the other.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CommanderError, type Command } from 'commander';
import { buildProgram, main } from '../../src/cli/main.js';
import { setNumThreads } from '../../src/torch/index.js';
import { repoRoot, tmpDir } from '../helpers.js';
import { allCommands, documentationFiles, helpExamples, helpText, markdownExamples, type Example } from './examples.js';
import { SETUP_COMMANDS, makeExampleWorkspace } from './example-workspace.js';

const work = tmpDir('mpl-examples-');

function collectExamples(): { examples: Example[]; unmarked: string[] } {
  const examples: Example[] = [];
  const unmarked: string[] = [];
  for (const { file, rel } of documentationFiles(repoRoot)) {
    const r = markdownExamples(file, rel);
    examples.push(...r.examples);
    unmarked.push(...r.unmarked);
  }
  const program = buildProgram();
  const names = new Set(program.commands.map((c) => c.name()));
  for (const { name, cmd } of allCommands(program)) {
    // a line of the help that starts with `mpl <command>` (not the method list's `mpl  MPL: ...`)
    examples.push(...helpExamples(name, helpText(cmd)).filter((e) => names.has(e.line.split(/\s+/)[1])));
  }
  return { examples, unmarked };
}

/** The words of an example as bash gives them to the program (quotes, `~` = the workspace, globs in it). */
function words(example: Example): { argv: string[]; redirect?: string } {
  let line = example.line.replace(/^mpl\s+/, '');
  let redirect: string | undefined;
  const m = /\s>\s*(\S+)\s*(#.*)?$/.exec(line);
  if (m) {
    redirect = m[1];
    line = line.slice(0, m.index) + (m[2] ? ` ${m[2]}` : '');
  }
  const bare = line.replace(/'[^']*'|"[^"]*"/g, '');
  assert.doesNotMatch(bare.replace(/\s#.*$/, ''), /[|;&<`$()]/, `${example.where}: "${example.line}" is not one simple command`);
  const r = spawnSync('bash', ['-c', `words() { printf '%s\\0' "$@"; }; words ${line}`], { cwd: work, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: work } });
  assert.equal(r.status, 0, `${example.where}: bash cannot read "${example.line}": ${r.stderr}`);
  return { argv: r.stdout.split('\0').slice(0, -1), redirect };
}

/** Runs the CLI in this process; its output captured. */
async function mplInProcess(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write;
  const err = process.stderr.write;
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  let code: number;
  try {
    code = await main(['node', 'mpl', ...argv]);
  } catch (e) {
    code = -1;
    stderr += String((e as Error).stack ?? e);
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  return { code, stdout, stderr };
}

/** Parses argv with the CLI's own parser (every flag parser runs), running no action. */
async function parseOnly(argv: string[]): Promise<string | null> {
  const program = buildProgram();
  const silence = (c: Command) => {
    c.configureOutput({ writeOut: () => {}, writeErr: () => {} });
    if (c.commands.length === 0) c.action(() => {});
  };
  silence(program);
  for (const { cmd } of allCommands(program)) silence(cmd);
  try {
    await program.parseAsync(['node', 'mpl', ...argv]);
    return null;
  } catch (e) {
    if (e instanceof CommanderError) return e.message;
    return (e as Error).message;
  }
}

/** A run folder an example names: `<out>/<protocol>/<dataset>/shots_<k>/<method>/<tag>-<hash or *>/seed<N>[/file]`. */
const RUN_PATH = /(^|\/)(base2new|xd|dg|fewshot|zeroshot)\/[^/]+\/(shots_\d+\/[a-z0-9]+\/[^/]+-(\*|[0-9a-f]{8})\/seed\d+(\/[\w.-]+)?)?$/;

function checkRunPaths(example: Example, argv: string[]): void {
  for (const a of argv) {
    if (!/(^|\/)(base2new|xd|dg|fewshot)\//.test(a) || /(train_base|test_new|crossdataset)\//.test(a)) continue;
    const inner = a.replace(/^.*?((base2new|xd|dg|fewshot)\/)/, '$1');
    assert.match(inner, RUN_PATH, `${example.where}: "${a}" is not a folder runs write (<out>/<protocol>/<dataset>/shots_<k>/<method>/<tag>-<hash>/seed<N>)`);
  }
}

/** Tokens of the output that name something in the workspace (its first part is there): each must exist. */
function printedPaths(text: string): string[] {
  const entries = new Set(fs.readdirSync(work));
  const found: string[] = [];
  for (const m of text.matchAll(/(?<![\w/.-])(\/[^\s,;:'"`()]+|[\w.-]+\/[^\s,;:'"`()]*)/g)) {
    const p = m[1].replace(/[.)]+$/, '');
    if (p.includes('*') || p.includes('<')) continue;
    if (p.startsWith('/') ? !p.startsWith(work) : !entries.has(p.split('/')[0])) continue;
    found.push(p);
  }
  return found;
}

describe('examples of the docs and of --help', () => {
  const { examples, unmarked } = collectExamples();

  before(async () => {
    process.env.MPL_CACHE = path.join(work, 'cache');
    process.env.HF_HUB_OFFLINE = '1';
    // one intra-op thread, as every other CLI test gives its child processes (the addon is loaded already, so
    // the variable alone would come too late): OpenMP threads spinning against other jobs slow tiny models 10x
    process.env.MPL_NUM_THREADS = '1';
    setNumThreads(1);
    await makeExampleWorkspace(work);
    process.chdir(work);
    for (const argv of SETUP_COMMANDS) {
      const r = await mplInProcess([...argv, '--quiet']);
      assert.equal(r.code, 0, `workspace: mpl ${argv.join(' ')}: ${r.stderr}`);
    }
    const glob = (p: string) => words({ line: `mpl ${p}`, where: 'workspace', mode: 'run' }).argv[0];
    for (const argv of [['export', glob('runs/base2new/photos/shots_16/mpl/*/seed1'), '--out', 'dassl'], ['plan', '--method', 'mpl', '--arch', 'ViT-B/16', '--json']]) {
      const r = await mplInProcess(argv);
      assert.equal(r.code, 0, `workspace: mpl ${argv.join(' ')}: ${r.stderr}`);
      if (argv[0] === 'plan') fs.writeFileSync('plan.json', r.stdout);
    }
  });

  // the runnable examples first: while one runs, this process's stdout is captured, and the test runner's report of
  // a test that ended before it would be captured with it (a failure shown only as 'subtests failed')
  it('every runnable example runs in the example workspace, and every path it prints exists', async () => {
    const problems: string[] = [];
    const ran: string[] = [];
    for (const e of examples.filter((x) => x.mode === 'run')) {
      const { argv, redirect } = words(e);
      const t0 = Date.now();
      const r = await mplInProcess(argv);
      ran.push(`${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s  ${e.line}`);
      if (r.code !== 0) {
        problems.push(`${e.where}: ${e.line}\n    exit ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
        continue;
      }
      if (redirect) fs.writeFileSync(redirect, r.stdout);
      for (const p of printedPaths(`${r.stdout}\n${r.stderr}`)) {
        if (!fs.existsSync(p)) problems.push(`${e.where}: ${e.line}\n    printed ${p}, which does not exist`);
      }
    }
    process.stderr.write(`# examples run (${ran.length}):\n${ran.map((l) => `#   ${l}`).join('\n')}\n`);
    assert.ok(ran.length >= 40, `${ran.length} examples run`);
    assert.deepEqual(problems, []);
  });
  it('every block of examples in the README and docs/ is marked run or parse', () => {
    assert.ok(examples.length > 100, `${examples.length} examples found`);
    assert.deepEqual(unmarked, [], 'mark each block: <!-- examples: run --> or <!-- examples: parse --> on the line before its fence (docs/examples.md)');
  });

  it('every example parses with the CLI\'s option parser and names run folders as runs write them', async () => {
    const problems: string[] = [];
    for (const e of examples) {
      const { argv } = words(e);
      const err = await parseOnly(argv);
      if (err) problems.push(`${e.where}: ${e.line}\n    ${err}`);
      try {
        checkRunPaths(e, argv);
      } catch (x) {
        problems.push((x as Error).message);
      }
    }
    assert.deepEqual(problems, []);
  });

});
