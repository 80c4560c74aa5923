/**
 * Stated ranges (issue 22, item 5): every method option with a range (src/prompting/methods/options.ts) and
 * every run setting (src/eval/run-config.ts RUN_RANGES) is refused outside it with the valid range in the
 * message, the same from a flag, a sweep file, a Dassl config and the library (`--n-add 1000` was accepted: a
 * 1,010-token vision sequence). `--shots 0` means all images (Dassl's NUM_SHOTS < 1) everywhere: the
 * protocol flags, `--k`, sweeps and `mpl search` (which refused 0).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RUN_RANGES } from '../../src/eval/run-config.js';
import { OPTION_SPECS, methodDefs, resolveOptions, type MethodName, type MethodOptions } from '../../src/prompting/methods/index.js';
import { sweepFromObject } from '../../src/sweep/spec.js';
import { expandSweep } from '../../src/sweep/expand.js';
import { UserError } from '../../src/util/errors.js';
import { rangeText } from '../../src/util/range.js';
import { goldenDir, tmpDir } from '../helpers.js';
import { makeImageFolder, mplCli as mpl } from '../e2e/fixtures.js';

const work = tmpDir('mpl-ranges-');
const weights = path.join(goldenDir, 'tiny_clip.safetensors');
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Each ranged option, a method that takes it, and values just outside its range. */
const ranged = OPTION_SPECS.filter((s) => s.range).map((s) => {
  const method = methodDefs().find((d) => (d.options as readonly string[]).includes(s.key))!.name as MethodName;
  const r = s.range!;
  const outside = [...(r.max !== undefined ? [r.max + 1] : []), ...(r.min !== undefined ? [r.exclusiveMin ? r.min : r.min - 1] : [])];
  return { spec: s, method, outside, text: rangeText(r, s.kind === 'int') };
});

test('the ranged options: the token counts and depths of the paper\'s methods', () => {
  const byFlag = Object.fromEntries(ranged.map((r) => [r.spec.flag, r.text]));
  assert.equal(byFlag['n-add'], 'an integer >= 1 and <= 16');
  assert.equal(byFlag['n-ctx'], 'an integer >= 1 and <= 75');
  assert.equal(byFlag.depth, 'an integer >= 1 and <= 48');
  assert.equal(byFlag['n-rm'], 'an integer >= 0 and <= 1200 (and at most --n-add × --n-ctx)');
  assert.equal(byFlag['n-ctx-vision'], 'an integer >= 1 and <= 200');
  assert.equal(byFlag['gpa-std'], 'a number > 0');
  for (const r of ranged) assert.ok(r.outside.length > 0, r.spec.flag);
});

test('out of range from a flag, a sweep file and the library: refused with the range', () => {
  for (const { spec, method, outside, text } of ranged) {
    for (const v of outside) {
      // the flag (mpl plan parses the method flags and builds the design)
      const r = mpl(['plan', '--method', method, '--arch', 'ViT-B/16', `--${spec.flag}`, String(v)]);
      assert.equal(r.status, 1, `--${spec.flag} ${v}: ${r.stdout.slice(0, 200)}`);
      assert.equal(r.stderr, `mpl: --${spec.flag} must be ${text}, got '${v}'\n`);
      // a sweep file
      const sweep = { out: '/o', model: 'ViT-B/16', root: '/d', protocol: 'base2new', datasets: ['dtd'], methods: [{ name: method, options: { [spec.flag]: v } }] };
      assert.throws(() => sweepFromObject(sweep, 'sweep.yaml', 's', '/'), (e: Error) => e instanceof UserError && e.message === `sweep.yaml: methods[0].options.${spec.flag}: expected ${text}, got ${v}`);
      // the library
      assert.throws(() => resolveOptions(method, { [spec.key]: v } as MethodOptions), (e: Error) => e instanceof UserError && e.message === `--${spec.flag} must be ${text}, got ${v}`);
    }
  }
  // what the issue found: 1,000 coupling maps per layer
  assert.equal(mpl(['plan', '--method', 'mpl', '--arch', 'ViT-B/16', '--n-add', '1000']).stderr, "mpl: --n-add must be an integer >= 1 and <= 16, got '1000'\n");
  assert.match(mpl(['plan', '--method', 'mpl', '--arch', 'ViT-B/16', '--schedule', '1:add17,rm1']).stderr, /--schedule layer 1: add 17 is more than 16 coupling maps × --n-ctx 1 = 16 tokens \(the range of --n-add is 1 to 16\)/);
  // the edges are accepted
  assert.equal(mpl(['plan', '--method', 'mpl', '--arch', 'ViT-B/16', '--n-add', '16', '--depth', '2']).status, 0);
});

test('a Dassl config value out of range is refused with the range, naming the flag it maps to', () => {
  const cfg = path.join(work, 'mpl.yaml');
  fs.writeFileSync(cfg, 'TRAINER:\n  NAME: MPL\n  MPL:\n    N_ADD_OP: 1000\n');
  const r = mpl(['base2new', '--config', cfg, '--weights', weights, '--dataset', 'imagefolder', '--root', work]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^mpl: .*--n-add must be an integer >= 1 and <= 16, got '?1000'?/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
});

test('run settings: the same range from the flags and a sweep file', () => {
  const sweep = (extra: Record<string, unknown>) => sweepFromObject({ out: '/o', model: 'ViT-B/16', root: '/d', protocol: 'base2new', datasets: ['dtd'], methods: ['coop'], ...extra }, 'sweep.yaml', 's', '/');
  for (const [flag, key, bad, range] of [
    ['--shots', 'shots', -1, RUN_RANGES.shots],
    ['--shots', 'shots', 100_001, RUN_RANGES.shots],
    ['--epochs', 'epochs', 100_001, RUN_RANGES.epochs],
    ['--batch-size', 'batch-size', 0, RUN_RANGES.batchSize],
    ['--workers', 'workers', 1025, RUN_RANGES.workers],
  ] as const) {
    const text = rangeText(range, true);
    assert.throws(() => sweep({ [key]: bad }), new RegExp(`sweep\\.yaml: ${key}(\\[0\\])?: expected ${esc(text)}, got ${bad}`), `${key} ${bad}`);
    const r = mpl(['base2new', '--weights', weights, '--dataset', 'imagefolder', '--root', work, flag, String(bad)]);
    assert.equal(r.stderr, `mpl: ${flag} must be ${text}, got '${bad}'\n`);
  }
});

test('--shots 0 is all images everywhere: protocol flags, --k, sweeps, mpl search', async () => {
  const images = path.join(work, 'colours');
  await makeImageFolder(images, ['red', 'green', 'blue', 'yellow']);
  // --k 0 (was refused): a few-shot run on all training images, in shots_0
  const out = path.join(work, 'k0');
  const r = mpl(['fewshot', '--weights', weights, '--dataset', 'imagefolder', '--name', 'colours', '--root', images, '--method', 'coop', '--k', '0', '--epochs', '1', '--seeds', '1', '--precision', 'fp32', '--out', out, '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  const runDir = path.join(out, 'fewshot', 'colours', 'shots_0', 'coop');
  const seed = path.join(runDir, fs.readdirSync(runDir)[0], 'seed1');
  assert.equal(JSON.parse(fs.readFileSync(path.join(seed, 'result.json'), 'utf8')).shots, 0);
  assert.match(fs.readFileSync(path.join(seed, 'log.txt'), 'utf8'), /train 20, val 8, test 12 images/, 'all 20 training images (5 per class), not a draw');
  // a sweep with shots 0 (was refused): the same command, --k 0 for few-shot, --shots 0 otherwise
  const s = sweepFromObject({ out, weights, protocol: ['fewshot', 'base2new'], datasets: [{ name: 'colours', root: images }], methods: ['coop'], seeds: [1], shots: 0, epochs: 1 }, 'sweep.yaml', 's', '/');
  const runs = expandSweep(s);
  assert.deepEqual(runs.map((x) => x.config.shots), [0, 0]);
  assert.ok(runs[0].argv.join(' ').includes('--k 0') && runs[1].argv.join(' ').includes('--shots 0'), runs.map((x) => x.argv.join(' ')).join('\n'));
  assert.equal(runs[0].runDir, seed, 'the sweep names the same run the command made');
  // mpl search --shots 0 (was refused by the flag): the image folder's val split scores the candidates
  const searchOut = path.join(work, 'search');
  const search = mpl(['search', '--weights', weights, '--dataset', 'imagefolder', '--root', images, '--shots', '0', '--depth', '2-2', '--add', '1-1', '--rm', '0-1', '--candidates', '2', '--max-epochs', '2', '--precision', 'fp32', '--out', searchOut]);
  assert.equal(search.status, 0, search.stderr);
  assert.equal(JSON.parse(fs.readFileSync(path.join(searchOut, 'search.json'), 'utf8')).settings.shots, 0);
  // a JSON list without val: validation images would be held out of the training images, and "all" leaves none
  const list = path.join(images, 'list.json');
  const entries = (split: string) => ['red', 'green', 'blue', 'yellow'].flatMap((c, label) => [0, 1, 2, 3, 4].map((i) => [`${c}/${split === 'train' ? i : i + 5}.png`, label, c]));
  fs.writeFileSync(list, JSON.stringify({ train: entries('train'), test: entries('test') }));
  const none = mpl(['search', '--weights', weights, '--dataset', 'jsonlist', '--root', list, '--shots', '0', '--out', path.join(work, 'search2')]);
  assert.equal(none.status, 1);
  assert.equal(none.stderr, 'mpl: --shots 0 trains on all images, which leaves none to hold out for validation: jsonlist has no val split of its own; give --shots K\n');
});
