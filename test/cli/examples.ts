/**
 * The examples of the documentation and of every command's --help, as docs/examples.md defines them, and the
 * two ways the tests check them: run (in the example workspace, test/cli/example-workspace.ts) or parsed by
 * the CLI's own option parser.
 *
 * Docs: a fenced block (```sh, ```bash or ```shell) whose lines start with `mpl ` or `npx mpl ` holds
 * examples; the line before its fence is `<!-- examples: run -->` or `<!-- examples: parse -->` (parse: the
 * example needs real data, a download, a GPU or hours; it is parsed only). A block with examples and no
 * marker fails the test. A line ending in `\` continues on the next; `# ...` starts a comment; a line whose
 * arguments are `...` (elided flags) is prose, not an example.
 * --help: every line of a command's help that starts with `mpl ` (after the indentation) is an example; its
 * description, if any, follows three or more spaces, or two spaces and a word that is not a flag. It runs
 * unless it needs what only a real setup has (`realSetup` below: a named pretrained model, a benchmark
 * dataset other than the generated synthshapes, a GPU, SLURM, a download, the benchmarks, the tens of
 * training runs of search, pretrain and reproduce); then it is parsed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';

export interface Example {
  /** the command line as written (continuations joined), starting with `mpl` */
  line: string;
  /** where it was found: `README.md:123` or `mpl data --help` */
  where: string;
  mode: 'run' | 'parse';
  /** why an example is only parsed */
  why?: string;
}

const SERVER = /^mpl serve\b/;
const MARKER = /^<!--\s*examples:\s*(run|parse)\s*-->$/;
const FENCE = /^```(sh|bash|shell)?\s*$/;

/** Lines of a block, continuations (`\` at the end) joined. */
function joinContinuations(lines: Array<{ text: string; n: number }>): Array<{ text: string; n: number }> {
  const out: Array<{ text: string; n: number }> = [];
  let cur: { text: string; n: number } | null = null;
  for (const l of lines) {
    const t = l.text;
    if (cur) cur.text += ' ' + t.trim();
    else cur = { text: t.trim(), n: l.n };
    if (/\\\s*$/.test(cur.text)) cur.text = cur.text.replace(/\\\s*$/, '').trimEnd();
    else {
      out.push(cur);
      cur = null;
    }
  }
  if (cur) out.push(cur);
  return out;
}

const isExample = (t: string) => /^(npx )?mpl(\s|$)/.test(t);
/** `mpl base2new ...` (flags elided): prose in a code block, not a command. */
const elided = (t: string) => /(^|\s)\.\.\.(\s|$)/.test(t.replace(/#.*$/, ''));

/** Every example in a Markdown file; a block of examples without a marker is reported in `unmarked`. */
export function markdownExamples(file: string, rel: string): { examples: Example[]; unmarked: string[] } {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const examples: Example[] = [];
  const unmarked: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = FENCE.exec(lines[i]);
    if (!m || lines[i].trim() === '```' && !isOpening(lines, i)) continue;
    let j = i + 1;
    const body: Array<{ text: string; n: number }> = [];
    for (; j < lines.length && !/^```\s*$/.test(lines[j]); j++) body.push({ text: lines[j], n: j + 1 });
    const lang = m[1];
    const prev = lines.slice(0, i).reverse().find((l) => l.trim() !== '')?.trim() ?? '';
    const marker = MARKER.exec(prev)?.[1] as 'run' | 'parse' | undefined;
    const found = lang ? joinContinuations(body).filter((l) => isExample(l.text) && !elided(l.text)) : [];
    if (found.length && !marker) unmarked.push(`${rel}:${i + 1}`);
    for (const l of found) {
      const line = l.text.replace(/^npx /, '');
      // a server runs until it is stopped: parsed wherever it stands (test/serve starts and stops one)
      const mode = marker === 'run' && !SERVER.test(line) ? 'run' : 'parse';
      examples.push({ line, where: `${rel}:${l.n}`, mode });
    }
    i = j;
  }
  return { examples, unmarked };
}

/** True when the fence at line i opens a block (fences alternate open/close from the top of the file). */
function isOpening(lines: string[], i: number): boolean {
  let open = false;
  for (let k = 0; k < i; k++) if (/^```/.test(lines[k])) open = !open;
  return !open;
}

/** Every command of the program, subcommands included, with its full name (`data fewshot`). */
export function allCommands(program: Command): Array<{ name: string; cmd: Command }> {
  const out: Array<{ name: string; cmd: Command }> = [];
  const walk = (c: Command, prefix: string) => {
    for (const sub of c.commands) {
      const name = `${prefix}${sub.name()}`;
      out.push({ name, cmd: sub });
      walk(sub, `${name} `);
    }
  };
  walk(program, '');
  return out;
}

/** A command's full --help text, its addHelpText parts included (what `mpl <name> --help` prints). */
export function helpText(cmd: Command): string {
  let text = '';
  cmd.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
  cmd.outputHelp();
  return text;
}

/** The examples of one command's help. */
export function helpExamples(name: string, help: string): Example[] {
  const lines = help.split('\n').map((text, k) => ({ text, n: k + 1 }));
  const out: Example[] = [];
  for (const l of joinContinuations(lines)) {
    if (!isExample(l.text)) continue;
    // the description after the command: 3+ spaces, or 2 spaces and a word that is not a flag
    const cmd = l.text.split(/\s{3,}|\s{2}(?=[^-\s])/)[0].trim();
    if (elided(cmd)) continue;
    const why = realSetup(cmd);
    out.push({ line: cmd, where: `mpl ${name} --help`, mode: why ? 'parse' : 'run', why });
  }
  return out;
}

const BENCHMARKS = /\b(imagenet\w*|caltech101|oxford_pets|oxford_flowers|stanford_cars|food101|fgvc_aircraft|sun397|dtd|eurosat|ucf101|table2|table3)\b/;

/** Why a help example needs a real setup (it is then parsed only), or undefined when the workspace runs it. */
export function realSetup(line: string): string | undefined {
  if (/--model\b/.test(line)) return 'a pretrained model by name (a download)';
  if (BENCHMARKS.test(line)) return 'a benchmark dataset';
  if (/\bcuda\b/.test(line)) return 'a GPU';
  if (/--executor slurm/.test(line)) return 'a SLURM cluster';
  if (/^mpl (fetch-model|data download|bench|pretrain|reproduce|search)\b/.test(line)) return 'the network, the benchmarks, or tens of training runs (search, pretrain, reproduce)';
  if (/^mpl quickstart(?!.*--offline)/.test(line)) return 'the network (ViT-B/16 and EuroSAT)';
  if (SERVER.test(line)) return 'a server that runs until it is stopped (test/serve starts and stops one)';
  return undefined;
}

/** The markdown files whose examples are tested: the README and docs/*.md. */
export function documentationFiles(root: string): Array<{ file: string; rel: string }> {
  const docs = fs.readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => path.join('docs', f));
  return ['README.md', ...docs].map((rel) => ({ file: path.join(root, rel), rel }));
}
