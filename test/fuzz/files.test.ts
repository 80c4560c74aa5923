/**
 * Fuzzing (fast-check, fixed seed, bounded cases) of the parsers of user files that parsers.test.ts does not
 * cover (issue 22): config files and Dassl overrides through the whole --config pipeline, sweep files through
 * expansion, the SLURM values of a sweep (an accepted value is one #SBATCH argument, as sbatch reads it),
 * lock files, sweep state files, few-shot caches, result files, search files, prompts.json, MATLAB files and
 * dataset archives. Each input ends in a result or the tool's own one-line error. The number of cases per
 * parser is printed as a test diagnostic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import fc from 'fast-check';
import { stringify as toYaml } from 'yaml';
import { applyConfig } from '../../src/cli/config-file.js';
import { register as registerProtocols } from '../../src/cli/commands/protocols.js';
import { readFewshotCache } from '../../src/data/fewshot.js';
import { readMatFile } from '../../src/data/matfile.js';
import { validateResult } from '../../src/report/result-files.js';
import { extractArchive } from '../../src/io/archive.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { loadPrompts } from '../../src/prompting/checkpoint.js';
import { readSearchFile } from '../../src/search/files.js';
import { checkSbatchArg, checkSlurmValue, directive, SLURM_KEYS } from '../../src/sweep/slurm-settings.js';
import { expandSweep } from '../../src/sweep/expand.js';
import { readSweepFile, sweepFromObject } from '../../src/sweep/spec.js';
import { runStates } from '../../src/sweep/state.js';
import { UserError } from '../../src/util/errors.js';
import { LOCK_FILE, lockRunFolder } from '../../src/util/lock.js';
import { silentReporter } from '../../src/util/reporter.js';
import { writeMat } from '../data/fixtures.js';
import { makeTar, makeZip } from '../net/helpers.js';
import { sbatchArguments } from '../sweep/sbatch-reader.js';
import { edgyNumber, fuzz, mutated, text } from './harness.js';

// a memory file system when there is one: these cases write thousands of small files
const work = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'mpl-fuzz-files-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));
/**
 * `<work>/<target>/<name>` holding `content`, the folder emptied first: one folder per fuzzed parser, reused
 * case after case (thousands of folders cost minutes of file-system time on a busy machine).
 */
const fileWith = (name: string, content: string | Uint8Array, target = name): string => {
  const dir = path.join(work, target.replace(/[^A-Za-z0-9]/g, '_'));
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const f = path.join(dir, name);
  fs.writeFileSync(f, content);
  return f;
};

/** Values config files hold, with the awkward ones. */
const scalar = fc.oneof(edgyNumber, text(8), fc.boolean(), fc.constant(null), fc.constantFrom('sgd', 'cosine', 'MPL', 'eurosat', '16', 'a photo of a', '', '[1, 2]', 'fp16'));
const value = fc.oneof({ weight: 4, arbitrary: scalar }, { weight: 1, arbitrary: fc.array(scalar, { maxLength: 3 }) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) });

test('fuzz: config files and Dassl overrides, through --config to the flags', (t) => {
  const program = new Command();
  registerProtocols(program);
  const cmd = program.commands.find((c) => c.name() === 'base2new')!;
  const section = fc.constantFrom('OPTIM', 'DATASET', 'DATALOADER', 'TRAINER', 'INPUT', 'TEST', 'MODEL', 'TRAIN');
  const sub = fc.constantFrom('LR', 'MAX_EPOCH', 'NAME', 'NUM_SHOTS', 'BATCH_SIZE', 'TRAIN_X', 'MPL', 'N_ADD_OP', 'N_CTX', 'PROMPT_DEPTH', 'SIZE', 'PREC', 'WARMUP_EPOCH', 'SUBSAMPLE_CLASSES', 'ROOT', 'X');
  const dassl = fc.dictionary(section, fc.dictionary(sub, fc.oneof(value, fc.dictionary(sub, value, { maxKeys: 3 })), { maxKeys: 4 }), { maxKeys: 4 });
  const own = fc.dictionary(fc.constantFrom('method', 'epochs', 'lr', 'batch-size', 'n-add', 'depth', 'seeds', 'shots', 'weights', 'root', 'dataset', 'nope', 'batch_size'), value, { maxKeys: 5 });
  const asText = fc.oneof(dassl, own).chain((o) => fc.oneof(fc.constant(toYaml(o)), fc.constant(JSON.stringify(o)), mutated(new TextEncoder().encode(toYaml(o))).map((b) => Buffer.from(b).toString('latin1'))));
  const overrides = fc.array(fc.oneof(fc.constantFrom('OPTIM.LR', 'DATASET.NUM_SHOTS', 'TRAINER.MPL.N_ADD_OP', 'OPTIM.NAME', 'SEED', 'x'), text(6)), { maxLength: 4 });
  const n = fuzz(t, 'config file + overrides', fc.tuple(fc.oneof(asText, text(120)), overrides), 2000, ([content, over]) => applyConfig(cmd, [fileWith('c.yaml', content)], over, 'base2new'), [UserError]);
  assert.equal(n, 2000);
});

test('fuzz: sweep files, read and expanded', (t) => {
  const names = fc.constantFrom('coop', 'mpl', 'vpt', 'nope', 'eurosat', 'dtd', 'imagefolder', 'base2new', 'fewshot', 'xd', 'x');
  const sweep = fc.record(
    {
      out: fc.oneof(fc.constant('runs'), scalar),
      model: fc.oneof(fc.constant('ViT-B/16'), scalar),
      weights: scalar,
      root: fc.oneof(fc.constant('/data'), scalar),
      protocol: fc.oneof(names, fc.array(names, { maxLength: 3 }), scalar),
      datasets: fc.oneof(fc.array(fc.oneof(names, fc.record({ name: names, root: scalar }, { requiredKeys: [] })), { maxLength: 3 }), value),
      methods: fc.oneof(fc.array(fc.oneof(names, fc.record({ name: names, options: fc.dictionary(fc.constantFrom('n-ctx', 'depth', 'n-add', 'csc', 'x'), value, { maxKeys: 2 }) }, { requiredKeys: [] })), { maxLength: 3 }), value),
      seeds: fc.oneof(fc.array(edgyNumber, { maxLength: 3 }), scalar),
      shots: fc.oneof(fc.array(edgyNumber, { maxLength: 2 }), scalar),
      epochs: scalar,
      slurm: fc.dictionary(fc.constantFrom('partition', 'time', 'mem', 'sbatch-args', 'qos', 'x'), value, { maxKeys: 3 }),
      overrides: fc.oneof(fc.array(fc.record({ when: fc.dictionary(fc.constantFrom('method', 'shots', 'seed'), scalar, { maxKeys: 2 }), set: fc.dictionary(fc.constantFrom('epochs', 'lr', 'x'), scalar, { maxKeys: 2 }) }), { maxLength: 2 }), value),
    },
    { requiredKeys: [] },
  );
  const asText = sweep.chain((o) => fc.oneof(fc.constant(toYaml(o)), mutated(new TextEncoder().encode(toYaml(o))).map((b) => Buffer.from(b).toString('latin1'))));
  const n = fuzz(t, 'sweep file', fc.oneof(asText, text(120)), 2000, (content) => expandSweep(readSweepFile(fileWith('sweep.yaml', content))), [UserError]);
  assert.equal(n, 2000);
});

test('fuzz: SLURM values: an accepted value is exactly one #SBATCH argument, as sbatch reads it', (t) => {
  const piece = fc.constantFrom('gpu', 'a100', ':', ',', '-', '1', '12:00:00', '2-00', '32G', '"', "'", '\\', '#', ' ', '\n', '$(id)', '`', ';', '&', '|', '[', ']', '%', '=', '--', 'export', 'LD_PRELOAD');
  const valueText = fc.oneof(fc.array(piece, { maxLength: 6 }).map((p) => p.join('')), text(12));
  let accepted = 0;
  const n1 = fuzz(t, 'slurm value', fc.tuple(fc.constantFrom(...SLURM_KEYS), valueText), 3000, ([k, v]) => checkSlurmValue(k.key, v, `slurm.${k.sweepKey}`), [UserError], (_r, [k, v]) => {
    accepted++;
    const line = directive(k.option, v);
    assert.ok(!line.includes('\n') && !line.includes('\r'), JSON.stringify(line));
    assert.deepEqual(sbatchArguments(line), [`${k.option}=${v}`]);
  });
  const option = fc.constantFrom('constraint', 'export', 'qos', 'exclusive', 'nodes', 'signal', 'comment', 'chdir', 'mail-user', 'gpus', 'partition', 'wrap', 'x');
  const arg = fc.oneof(fc.tuple(option, fc.option(valueText, { nil: undefined })).map(([o, v]) => (v === undefined ? `--${o}` : `--${o}=${v}`)), text(16));
  const n2 = fuzz(t, 'sbatch-args', arg, 3000, (a) => checkSbatchArg(a, 'slurm.sbatch-args[0]'), [UserError], (r) => {
    accepted++;
    const { option: o, value: v } = r as ReturnType<typeof checkSbatchArg>;
    assert.ok(!['--export', '--chdir', '--wrap', '--output', '--error'].includes(o), o);
    assert.deepEqual(sbatchArguments(directive(o, v)), [v === undefined ? o : `${o}=${v}`]);
  });
  t.diagnostic(`slurm values accepted and read back: ${accepted}`);
  assert.equal(n1 + n2, 6000);
});

test('fuzz: lock files (this version\'s and earlier ones)', (t) => {
  const owner = fc.oneof(
    fc.record({ pid: edgyNumber, host: fc.oneof(fc.constant(os.hostname()), text(6)), started: text(8), command: text(20), proc_start: fc.oneof(text(4), edgyNumber) }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    text(60),
  );
  const n = fuzz(t, 'lock file', fc.tuple(owner, fc.boolean()), 600, ([content, legacy]) => {
    const dir = path.dirname(fileWith('x', '', 'lock'));
    if (legacy) fs.writeFileSync(path.join(dir, LOCK_FILE), content);
    else {
      fs.mkdirSync(path.join(dir, LOCK_FILE));
      fs.writeFileSync(path.join(dir, LOCK_FILE, 'owner-12-ab.json'), content);
    }
    lockRunFolder(dir).release();
  }, [UserError]);
  assert.equal(n, 600);
});

test('fuzz: sweep state files (local.json) into the run states', (t) => {
  const out = path.join(work, 'state-runs');
  const sweep = sweepFromObject({ out, model: 'ViT-B/16', root: '/data', protocol: 'base2new', datasets: ['dtd'], methods: ['coop'], seeds: [1, 2] }, 'sweep.yaml', 'fz', '/');
  const runs = expandSweep(sweep);
  const record = fc.record({ pid: fc.oneof(edgyNumber, text(3)), proc_start: fc.oneof(text(4), edgyNumber), started_at: text(10), ended_at: fc.oneof(text(10), edgyNumber), exit_code: fc.oneof(edgyNumber, fc.constant(null)), signal: text(6) }, { requiredKeys: [] });
  const state = fc.oneof(
    fc.record({ runs: fc.oneof(fc.dictionary(fc.oneof(fc.constantFrom(...runs.map((r) => r.runDir)), text(5)), fc.oneof(record, fc.jsonValue()), { maxKeys: 3 }), fc.jsonValue()) }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    text(40),
  );
  const file = path.join(out, '.sweeps', 'fz', 'local.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const n = fuzz(t, 'sweep state file', state, 1500, (content) => {
    fs.writeFileSync(file, content);
    return runStates(sweep, runs);
  }, [UserError], (r) => assert.equal((r as unknown[]).length, runs.length));
  assert.equal(n, 1500);
});

test('fuzz: few-shot caches, result files, search files, prompts.json', (t) => {
  const entry = fc.oneof(fc.tuple(text(5), edgyNumber, text(3)), fc.anything());
  const cache = fc.record({ format: fc.oneof(fc.constant('mpl-fewshot-v1'), text(4)), shots: edgyNumber, seed: edgyNumber, source: text(5), fingerprint: text(5), train: fc.oneof(fc.array(entry, { maxLength: 4 }), fc.anything()), val: fc.array(entry, { maxLength: 2 }) }, { requiredKeys: [] });
  let n = fuzz(t, 'few-shot cache', fc.oneof(cache.map((o) => JSON.stringify(o)), text(60)), 1500, (c) => readFewshotCache(fileWith('shot_1-seed_1.json', c)), [UserError]);

  const result = fc.record(
    { schema: fc.oneof(fc.constant('mpl-result/1'), text(4)), protocol: fc.constantFrom('base2new', 'xd', 'fewshot', 'x'), method: fc.constantFrom('mpl', 'coop', 'x'), dataset: text(5), seed: edgyNumber, shots: edgyNumber, base: edgyNumber, new: edgyNumber, hm: edgyNumber, accuracy: fc.oneof(fc.dictionary(text(4), edgyNumber, { maxKeys: 3 }), fc.anything()), config: fc.anything(), backbone: text(4), tag: text(4), config_hash: text(4) },
    { requiredKeys: [] },
  );
  n += fuzz(t, 'result file', fc.oneof(result, fc.jsonValue()), 2000, (v) => validateResult(v, 'result.json'), [UserError]);

  const search = fc.oneof(fc.record({ format: fc.oneof(fc.constant('mpl-search/1'), text(3)), settings: fc.anything() }, { requiredKeys: [] }).map((o) => JSON.stringify(o)), fc.jsonValue().map((v) => JSON.stringify(v)), text(40));
  n += fuzz(t, 'search file', search, 1000, (c) => readSearchFile(path.dirname(fileWith('search.json', c))), [UserError]);

  const prompts = fc.oneof(
    fc.record({ format: fc.oneof(fc.constant('mpl-prompts/1'), text(3)), method: fc.constantFrom('mpl', 'coop', 'vpt', 'x'), options: fc.oneof(fc.dictionary(fc.constantFrom('n_ctx', 'nCtx', 'depth', 'n_add', 'x'), value, { maxKeys: 3 }), fc.anything()), classnames: fc.anything(), precision: text(4) }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    text(40),
  );
  const tensors = new Map([['prompt_learner.ctx', { dtype: 'float32' as const, shape: [1, 8], data: new Uint8Array(32) }]]);
  n += fuzz(t, 'prompts.json', prompts, 500, (c) => {
    const file = path.join(path.dirname(fileWith('prompts.json', c)), 'prompts.safetensors');
    writeSafetensors(file, tensors, {});
    return loadPrompts(file);
  }, [UserError]);
  assert.equal(n, 5000);
});

test('fuzz: MATLAB files and dataset archives', async (t) => {
  const mat = path.join(work, 'x.mat');
  writeMat(mat, { a: [1.5, 2], s: 'hello', c: { cell: ['x', 'yz'] }, st: { struct: [{ k: [3], n: 'p' }] } }, true);
  const plain = path.join(work, 'y.mat');
  writeMat(plain, { labels: [2, 1, 2], names: { cell: ['a', 'b'] } });
  let n = fuzz(t, 'MATLAB file', fc.oneof(mutated(fs.readFileSync(mat)), mutated(fs.readFileSync(plain)), fc.uint8Array({ maxLength: 200 })), 1500, (b) => readMatFile(fileWith('f.mat', b)), [UserError]);

  const files = [{ name: 'a/x.txt', data: Buffer.from('hello') }, { name: 'a/b/', data: undefined }, { name: 'a/b/y.bin', data: Buffer.alloc(300, 7) }];
  const zip = makeZip(files.map((f) => ({ ...f, method: 'deflate' as const })));
  const tgz = makeTar(files.filter((f) => f.data).map((f) => ({ name: f.name, data: f.data! })));
  const limits = { maxBytes: 4096, maxEntries: 8 };
  // async: each extraction is awaited (fast-check's asyncProperty), then counted
  let cases = 0;
  for (const [kind, base] of [['zip', zip], ['tar', tgz]] as const) {
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutated(base), fc.uint8Array({ maxLength: 120 })), async (b) => {
        cases++;
        const archive = fileWith(kind === 'zip' ? 'a.zip' : 'a.tar.gz', b, 'archive');
        try {
          await extractArchive(archive, kind, path.join(path.dirname(archive), 'out'), silentReporter, 'fuzz', limits);
        } catch (e) {
          if (!(e instanceof UserError)) throw new Error(`archive: unexpected ${(e as Error).name}: ${(e as Error).stack}`);
          assert.ok(!e.message.includes('\n'), e.message);
        }
      }),
      { seed: 20_250_211, numRuns: 300 },
    );
  }
  t.diagnostic(`archive (zip, tar.gz): ${cases} cases`);
  n += cases;
  assert.equal(n, 2100);
});
