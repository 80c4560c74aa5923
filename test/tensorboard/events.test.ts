/**
 * TensorBoard event files, read back by the real TensorBoard (PyPI `tensorboard` in the test-only venv that
 * scripts/tensorboard-venv.sh makes; .ci/run makes it): every record's CRCs checked with TensorBoard's own reader,
 * then the scalars as TensorBoard's UI reads them, compared with metrics.csv and result.json of the same run.
 * Runs: PromptSRC base-to-new (extra loss terms; killed after its first epoch and resumed: two event files) and
 * CoOp few-shot (the transfer protocols' path), on the golden tiny CLIP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { maskedCrc32c, frameRecord } from '../../src/tensorboard/record.js';
import { macroF1 } from '../../src/train/evaluate.js';
import { goldenDir, repoRoot, tmpDir } from '../helpers.js';
import { killAfterEpoch, makeImageFolder, mplCli as mpl, ok } from '../e2e/fixtures.js';

const python = process.env.MPL_TENSORBOARD_PYTHON ?? path.join(repoRoot, '.cache', 'tensorboard-venv', 'bin', 'python');
const reader = path.join(repoRoot, 'test', 'tensorboard', 'read_events.py');
const weights = path.join(goldenDir, 'tiny_clip.safetensors');
const work = tmpDir('mpl-tensorboard-');
const root = path.join(work, 'images');

interface ReadBack {
  files: Record<string, number>;
  scalars: Record<string, Array<[number, number]>>;
}

/** The event files of `dir` as TensorBoard reads them; fails with TensorBoard's message on a bad record. */
function tensorboard(dir: string): ReadBack {
  assert.ok(
    fs.existsSync(python),
    `this test reads event files with PyPI's TensorBoard: ${python} is missing. Make it with \`bash scripts/tensorboard-venv.sh\` (.ci/run does), or set MPL_TENSORBOARD_PYTHON to a Python that has tensorboard`,
  );
  const r = spawnSync(python, [reader, dir], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `TensorBoard could not read ${dir}: ${r.stderr}`);
  return JSON.parse(r.stdout) as ReadBack;
}

function readCsv(file: string): Array<Record<string, number>> {
  const [head, ...rows] = fs.readFileSync(file, 'utf8').trim().split('\n');
  const cols = head.split(',');
  return rows.map((row) => Object.fromEntries(row.split(',').map((v, i) => [cols[i], Number(v)])));
}

/** The single run folder under `base` (<out>/<protocol>/<dataset>/shots_<k>/<method>). */
function runDir(base: string): string {
  const configs = fs.readdirSync(base);
  assert.equal(configs.length, 1, configs.join(', '));
  return path.join(base, configs[0], 'seed1');
}

/** The steps TensorBoard holds for a tag, and the value at each. */
const series = (tb: ReadBack, tag: string): Map<number, number> => {
  assert.ok(tb.scalars[tag], `TensorBoard has no ${tag} (tags: ${Object.keys(tb.scalars).join(', ')})`);
  return new Map(tb.scalars[tag]);
};

/** train/* against metrics.csv: every batch's step once, and each epoch's last batch = the epoch's row. */
function checkTraining(tb: ReadBack, dir: string, batchSize: number, terms: string[]): void {
  const metrics = readCsv(path.join(dir, 'metrics.csv'));
  const batches = metrics[0].images / batchSize;
  assert.ok(Number.isInteger(batches) && batches > 0, `batches per epoch: ${batches}`);
  const steps = Array.from({ length: metrics.length * batches }, (_, i) => i);
  for (const tag of ['train/loss', 'train/acc', 'train/lr', ...terms.map((t) => `train/${t}`)]) {
    assert.deepEqual([...series(tb, tag).keys()].sort((a, b) => a - b), steps, `${tag}: one value per batch at Dassl's steps`);
  }
  const trainTags = Object.keys(tb.scalars).filter((t) => t.startsWith('train/')).sort();
  assert.deepEqual(trainTags, ['train/acc', 'train/loss', 'train/lr', ...terms.map((t) => `train/${t}`)].sort(), 'the train/ tags');
  for (const row of metrics) {
    const last = row.epoch * batches - 1; // Dassl: epoch_0 * num_batches + batch_idx of the epoch's last batch
    assert.equal(series(tb, 'train/loss').get(last), Math.fround(row.loss), `train/loss at the end of epoch ${row.epoch} = metrics.csv`);
    assert.equal(series(tb, 'train/acc').get(last), Math.fround(row.accuracy), `train/acc at the end of epoch ${row.epoch} = metrics.csv`);
    for (let s = last - batches + 1; s <= last; s++) assert.equal(series(tb, 'train/lr').get(s), Math.fround(row.lr), `train/lr at step ${s}`);
  }
  // the parts add up to the loss at every step (running means of the same images)
  if (terms.length) {
    for (const s of steps) {
      const sum = terms.reduce((a, t) => a + series(tb, `train/${t}`).get(s)!, 0);
      const loss = series(tb, 'train/loss').get(s)!;
      assert.ok(Math.abs(sum - loss) <= 1e-5 * Math.max(1, Math.abs(loss)), `step ${s}: terms sum to ${sum}, loss ${loss}`);
    }
  }
}

/** test/ and test_<name>/ scalars against result.json, at Dassl's step (the last epoch, counted from 0). */
function checkEvaluation(tb: ReadBack, prefix: string, accuracy: number, f1: number, epochs: number): void {
  const at = (tag: string) => {
    const s = tb.scalars[`${prefix}/${tag}`];
    assert.ok(s && s.length === 1, `${prefix}/${tag}: one value (${JSON.stringify(s)})`);
    assert.equal(s[0][0], epochs - 1, `${prefix}/${tag} at step epochs - 1`);
    return s[0][1];
  };
  assert.equal(at('accuracy'), Math.fround(accuracy), `${prefix}/accuracy = result.json`);
  assert.equal(at('error_rate'), Math.fround(100 - accuracy), `${prefix}/error_rate`);
  assert.equal(at('macro_f1'), Math.fround(f1), `${prefix}/macro_f1 = result.json`);
}

test.before(() => makeImageFolder(root, ['red_square', 'green_field', 'blue_sky', 'yellow_sun']));

test('PromptSRC base2new, killed after epoch 1 and resumed: TensorBoard reads both files, values = metrics.csv and result.json', () => {
  const out = path.join(work, 'runs');
  const args = ['base2new', '--weights', weights, '--dataset', 'imagefolder', '--root', root, '--method', 'promptsrc', '--depth-text', '3', '--depth-vision', '3', '--epochs', '3', '--batch-size', '2', '--seeds', '1', '--out', out, '--workers', '1', '--quiet', '--device', 'cpu', '--precision', 'fp32'];
  const killed = mpl(args, killAfterEpoch(1));
  assert.equal(killed.signal, 'SIGKILL', `the first run dies after epoch 1 (${killed.status}): ${killed.stderr}`);
  ok(mpl(args), 'base2new (resumed)');
  const dir = runDir(path.join(out, 'base2new', 'imagefolder', 'shots_16', 'promptsrc'));
  const tb = tensorboard(path.join(dir, 'tensorboard'));
  const files = Object.keys(tb.files);
  assert.equal(files.length, 2, `one event file per process: ${files.join(', ')}`);
  for (const f of files) assert.match(f, /^events\.out\.tfevents\.\d{10}\.[^.]+.*\.\d+\.\d+$/);
  checkTraining(tb, dir, 2, ['ce', 'scl_logits', 'scl_text', 'scl_image']);
  const result = JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8'));
  checkEvaluation(tb, 'test', result.base, result.macro_f1.base, 3);
  checkEvaluation(tb, 'test_new', result.new, result.macro_f1.new, 3);
});

test('CoOp few-shot: train/ and test/ tags, values = metrics.csv and result.json', () => {
  const out = path.join(work, 'runs');
  ok(mpl(['fewshot', '--weights', weights, '--dataset', 'imagefolder', '--root', root, '--method', 'coop', '--k', '2', '--epochs', '2', '--batch-size', '2', '--seeds', '1', '--out', out, '--workers', '1', '--quiet', '--device', 'cpu', '--precision', 'fp32']), 'fewshot');
  const dir = runDir(path.join(out, 'fewshot', 'imagefolder', 'shots_2', 'coop'));
  const tb = tensorboard(path.join(dir, 'tensorboard'));
  checkTraining(tb, dir, 2, []);
  const result = JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8'));
  checkEvaluation(tb, 'test', result.accuracy.imagefolder, result.macro_f1.imagefolder, 2);
});

test('a record with a flipped byte is refused by the CRC check (TensorBoard alone would stop there silently)', () => {
  const dir = path.join(work, 'runs', 'fewshot', 'imagefolder', 'shots_2', 'coop');
  const events = path.join(runDir(dir), 'tensorboard');
  const file = path.join(events, fs.readdirSync(events)[0]);
  const bad = path.join(work, 'damaged');
  fs.mkdirSync(bad);
  const bytes = fs.readFileSync(file);
  bytes[bytes.length - 10] ^= 0x01; // inside the last record's data
  fs.writeFileSync(path.join(bad, path.basename(file)), bytes);
  const r = spawnSync(python, [reader, bad], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /failed event crc32 check/);
});

test('TFRecord framing: length, masked CRC-32C of the length, data, masked CRC-32C of the data', () => {
  // TensorFlow's masking of crc32c("123456789") = 0xE3069283: rotr 15, + 0xa282ead8
  const crc = 0xe3069283;
  assert.equal(maskedCrc32c(Buffer.from('123456789')), ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0);
  const rec = frameRecord(Buffer.from('abc'));
  assert.equal(rec.length, 8 + 4 + 3 + 4);
  assert.equal(rec.readBigUInt64LE(0), 3n);
  assert.equal(rec.readUInt32LE(8), maskedCrc32c(rec.subarray(0, 8)));
  assert.equal(rec.subarray(12, 15).toString(), 'abc');
  assert.equal(rec.readUInt32LE(15), maskedCrc32c(Buffer.from('abc')));
});

test("macro F1 as Dassl's evaluator: mean over classes with images of 2TP / (2TP + FP + FN)", () => {
  // class 3 has no image (left out of the mean) but one image is predicted as it (a false positive of class 3 only)
  const confusion = [
    [2, 1, 0, 0],
    [0, 3, 0, 1],
    [1, 0, 0, 0],
    [0, 0, 0, 0],
  ];
  const f1 = [(2 * 2) / (2 * 2 + 1 + 1), (2 * 3) / (2 * 3 + 1 + 1), 0];
  assert.ok(Math.abs(macroF1(confusion) - (100 * (f1[0] + f1[1] + f1[2])) / 3) < 1e-12);
  assert.equal(macroF1([[0]]), 0);
});
