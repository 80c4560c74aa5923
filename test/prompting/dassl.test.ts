/**
 * Prompts to the Python world: a Dassl checkpoint written here (src/prompting/dassl.ts, src/io/torchsave.ts)
 * loads with PyTorch's own torch.load and the official trainer's load_model, restores into torch.optim.SGD,
 * and evaluates to the same logits as this tool. The Python side is Debian's python3-torch (PyTorch 1.13;
 * scripts/install.sh installs it), or $MPL_TEST_PYTHON. Also: the written file reads back here unchanged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ClipTokenizer } from '../../src/backbones/clip/tokenizer.js';
import { readTorchCheckpoint } from '../../src/io/torchzip.js';
import { PyDict, PyFloat, PyTensor, PyTuple, torchSaveBytes } from '../../src/io/torchsave.js';
import type { RawTensor } from '../../src/io/tensor.js';
import { loadPrompts } from '../../src/prompting/checkpoint.js';
import { dasslKey, dasslModelName, writeDasslCheckpoint } from '../../src/train/dassl.js';
import { PromptLearner, tokenIds as tokenIdsOf } from '../../src/prompting/learner.js';
import { noGrad, tidy, type SGD, type Tensor } from '../../src/torch/index.js';
import { createOptimizer, trainStep } from '../../src/train/step.js';
import { goldenDir, repoRoot, tmpDir } from '../helpers.js';
import { goldenImages, goldenModel, goldenTensors } from './golden.js';
import { FP32, assertScaled } from '../tolerance.js';

const python = process.env.MPL_TEST_PYTHON ?? '/usr/bin/python3';
const work = tmpDir('mpl-dassl-');

const raw = (t: Tensor): RawTensor => t.toRawFloat32();

test('torch.save bytes read back with this tool\'s checkpoint reader', () => {
  const a: RawTensor = { dtype: 'float32', shape: [2, 3], data: new Uint8Array(new Float32Array([1, 2, 3, 4, 5, -6.5]).buffer) };
  const b: RawTensor = { dtype: 'float32', shape: [], data: new Uint8Array(new Float32Array([7]).buffer) };
  const file = path.join(work, 'plain.pth');
  fs.writeFileSync(
    file,
    torchSaveBytes(new PyDict([
      ['state_dict', new PyDict([['x.weight', new PyTensor(a)], ['x.scale', new PyTensor(b)]], true)],
      ['epoch', 3],
      ['big', 2 ** 40],
      ['neg', -5],
      ['lr', new PyFloat(1)],
      ['t', new PyTuple([1, 'two', null, true])],
    ])),
  );
  // entries are stored and aligned to 64 bytes, as torch.save writes them
  const ck = readTorchCheckpoint(file);
  assert.equal(ck.epoch, 3);
  assert.deepEqual([...ck.tensors.keys()], ['x.weight', 'x.scale']);
  assert.deepEqual([...new Float32Array(Uint8Array.from(ck.tensors.get('x.weight')!.data).buffer)], [1, 2, 3, 4, 5, -6.5]);
  assert.deepEqual(ck.tensors.get('x.scale')!.shape, []);
});

test('an exported Dassl checkpoint loads in PyTorch, restores its optimizer and gives the same logits', (t) => {
  const check = spawnSync(python, ['-c', 'import torch, sys; print(torch.__version__)'], { encoding: 'utf8' });
  assert.equal(
    check.status,
    0,
    `this test needs Python with PyTorch at ${python} (Debian: apt-get install python3-torch, which scripts/install.sh does; or set MPL_TEST_PYTHON): ${check.error?.message ?? check.stderr}`,
  );
  t.diagnostic(`PyTorch ${check.stdout.trim()}`);
  const outputs = JSON.parse(fs.readFileSync(path.join(goldenDir, 'methods', 'mpl', 'outputs.json'), 'utf8'));
  const model = goldenModel();
  const learner = new PromptLearner(model, ClipTokenizer.default(), 'mpl', outputs.classes, { nCtx: outputs.n_ctx, nAdd: outputs.n_add, nRm: outputs.n_rm, depth: outputs.depth });
  const images = goldenImages();
  try {
    learner.loadStateDict(goldenTensors('methods/mpl/params.safetensors'));
    // one training step, so that the prompts moved and the optimizer holds momentum buffers
    const opt = createOptimizer(learner, { lr: 0.0035 });
    trainStep(learner, opt, { images: images.toFloat32(), labels: Int32Array.from(outputs.labels), size: 4, imageSize: 32 });
    const tensors = new Map([...learner.params].map(([k, p]) => [k, raw(p)]));
    const buffers = new Map((opt as SGD).momentumBuffers().map((b, i) => [[...learner.params.keys()][i], raw(b!)]));
    const file = writeDasslCheckpoint(path.join(work, 'out'), { method: 'mpl', tensors, epoch: 5, lr: 0.0035, epochs: 5, momentum_buffers: buffers });
    opt.disposeState();
    assert.equal(file, path.join(work, 'out', 'MultiModalPromptLearner', 'model.pth.tar-5'));
    assert.equal(fs.readFileSync(path.join(work, 'out', 'MultiModalPromptLearner', 'checkpoint'), 'utf8'), 'model.pth.tar-5\n');

    const ours = noGrad(() => tidy(() => learner.forward(images).logits.toFloat32()));
    const d = learner.design.text;
    assert.ok(d.kind === 'learned');
    const ids = tokenIdsOf(learner.tokenizer, outputs.classes.map((c: string) => `${d.promptPrefix} ${c}.`));
    const flatIds = ids.ids.toArray();
    const tokenIds = Array.from({ length: outputs.classes.length }, (_, i) => flatIds.slice(i * 77, (i + 1) * 77));
    ids.ids.dispose();
    const imagesFile = path.join(work, 'images.bin');
    fs.writeFileSync(imagesFile, Buffer.from(images.toFloat32().buffer));
    const spec = path.join(work, 'spec.json');
    fs.writeFileSync(spec, JSON.stringify({
      checkpoint: file,
      clip: path.join(goldenDir, 'tiny_clip.safetensors'),
      n_ctx: outputs.n_ctx,
      depth: outputs.depth,
      n_add: outputs.n_add,
      n_rm: outputs.n_rm,
      token_ids: tokenIds,
      images: imagesFile,
      images_shape: images.shape,
    }));
    const r = spawnSync(python, [path.join(repoRoot, 'test', 'python', 'dassl_check.py'), spec], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    assert.equal(r.status, 0, `the Python check failed: ${r.stderr}`);
    const py = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.deepEqual(py.keys, ['epoch', 'optimizer', 'scheduler', 'state_dict', 'val_result']);
    assert.equal(py.epoch, 5);
    assert.deepEqual(py.unexpected_keys, [], 'every key of the state dict names a parameter of the official module');
    assert.deepEqual(py.missing_prompt_keys, [], 'every prompt parameter of the official module is in the state dict');
    assert.equal(py.momentum_buffers, tensors.size);
    assert.equal(py.scheduler_last_epoch, 5);
    assert.equal(py.val_result, null);
    assertScaled(py.logits.flat(), ours, FP32.forward, 'logits in PyTorch vs here');
  } finally {
    learner.dispose();
    images.dispose();
  }
});

test('every method exports under its trainer\'s model name and keys, and loads back here unchanged', () => {
  for (const method of ['coop', 'cocoop', 'vpt', 'ivlp', 'maple', 'mpl', 'promptsrc'] as const) {
    const tensors = goldenTensors(`methods/${method}/params.safetensors`);
    const file = writeDasslCheckpoint(path.join(work, 'all', method), { method, tensors, epoch: 2, lr: 0.002, epochs: 2 });
    assert.equal(path.basename(path.dirname(file)), dasslModelName(method));
    const ck = readTorchCheckpoint(file);
    assert.deepEqual([...ck.tensors.keys()], [...tensors.keys()].map((k) => dasslKey(method, k)));
    if (method === 'coop' || method === 'cocoop') assert.ok(ck.tensors.has('ctx'), 'CoOp/CoCoOp register the prompt learner alone');
    // and this tool reads its own export back under its own keys
    const back = loadPrompts(file);
    assert.deepEqual([...back.tensors.keys()].sort(), [...tensors.keys()].sort());
    for (const [k, v] of tensors) assert.deepEqual(Buffer.from(back.tensors.get(k)!.data), Buffer.from(v.data), `${method} ${k}`);
  }
});
