/**
 * The text tower in blocks of classes (src/prompting/class-text.ts): features and gradients of
 * learner.forwardBackward with the text recomputed block by block (or some blocks kept) equal those of one
 * plain forward and backward, for every method, within the fp32 parity bounds -- and still match the
 * official code's golden gradients. Plus the block partition, CoCoOp's image × class rows, CoOp's other
 * class-token positions and class-specific contexts, loss scaling, leaks, and one text pass per evaluation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClipTokenizer } from '../../src/backbones/clip/tokenizer.js';
import { PromptLearner, defaultTextMemory, type TextMemory } from '../../src/prompting/learner.js';
import { blocksByLength } from '../../src/prompting/class-text.js';
import type { MethodName } from '../../src/prompting/methods/index.js';
import { evaluate } from '../../src/train/evaluate.js';
import type { Batch, BatchSource } from '../../src/train/batches.js';
import { liveTensors, noGrad, tensor, tidy, type Tensor } from '../../src/torch/index.js';
import { assertClose, float32, goldenImages, goldenModel, goldenTensors, optionsFor, outputs, testDevice } from './golden.js';

/** The parity test's fp32 tolerances [rtol, atol] (test/prompting/parity.test.ts). */
const FP32 = testDevice === 'cpu' ? { logits: [1e-5, 1e-4], loss: [1e-5, 0], grad: [1e-4, 1e-6] } : { logits: [1e-4, 1e-4], loss: [1e-4, 1e-7], grad: [1e-3, 1e-5] };


interface Pass {
  logits: Float32Array;
  loss: number;
  grads: Map<string, Float32Array>;
}

/** One training pass: forwardBackward under `memory` (or plain forward + backward), gradients read back. */
function pass(learner: PromptLearner, images: Tensor, labels: Tensor, memory: TextMemory | 'plain', scale = 1): Pass {
  for (const p of learner.parameters()) p.zeroGrad();
  return tidy(() => {
    const scaleLoss = scale === 1 ? undefined : (l: Tensor) => l.mul(scale);
    let out;
    if (memory === 'plain') {
      out = learner.forward(images, labels);
      (scaleLoss ? scaleLoss(out.loss!) : out.loss!).backward();
    } else {
      learner.textMemory = memory;
      try {
        out = learner.forwardBackward(images, labels, scaleLoss);
      } finally {
        learner.textMemory = defaultTextMemory();
      }
    }
    // read unscaled (as the parity test reads amp's gradients)
    const grads = new Map<string, Float32Array>();
    for (const [k, p] of learner.params) grads.set(k, p.grad!.toFloat32().map((g) => g / scale));
    return { logits: out.logits.toFloat32(), loss: out.loss!.item(), grads };
  });
}

function assertSamePass(a: Pass, b: Pass, what: string): void {
  assertClose(a.logits, b.logits, FP32.logits[0], FP32.logits[1], `${what}: logits`);
  assertClose([a.loss], [b.loss], FP32.loss[0], 1e-7, `${what}: loss`);
  for (const [k, g] of b.grads) assertClose(a.grads.get(k)!, g, FP32.grad[0], FP32.grad[1], `${what}: grad ${k}`);
}

/** Every class its own block (the golden classes' prompts differ in length), nothing kept: all recomputed. */
const ONE_CLASS_BLOCKS_RECOMPUTED: TextMemory = { blockTokens: 1, keepBytes: 0 };

const trained: MethodName[] = ['coop', 'cocoop', 'vpt', 'ivlp', 'maple', 'mpl', 'promptsrc'];

for (const method of trained) {
  test(`${method} [${testDevice} fp32]: recomputing the text tower per block of classes gives the plain gradients and the official ones`, () => {
    const o = outputs(method);
    const model = goldenModel('fp32', testDevice);
    const learner = new PromptLearner(model, ClipTokenizer.default(), method, o.classes, optionsFor(method, o));
    const images = goldenImages();
    const labels = tensor(o.labels, [o.labels.length], 'int64');
    try {
      learner.loadStateDict(goldenTensors(`methods/${method}/params.safetensors`));
      const plain = pass(learner, images, labels, 'plain');
      const recomputed = pass(learner, images, labels, ONE_CLASS_BLOCKS_RECOMPUTED);
      if (method !== 'vpt') {
        // VPT's text is hand-crafted (nothing to recompute); CoCoOp's rows are images x classes
        const rows = o.classes.length * (method === 'cocoop' ? o.labels.length : 1);
        assert.deepEqual(learner.lastTextBlocks, { blocks: rows, kept: 0, recomputed: rows }, `${method}: one block per row, all recomputed`);
      }
      assertSamePass(recomputed, plain, `${method} recomputed`);
      // blocks of about two classes; the first blocks' graphs kept (as many as 6 prompts of 14 tokens would
      // keep), the others recomputed
      const mixed: TextMemory = { blockTokens: 24, keepBytes: 0 };
      if (method !== 'vpt') {
        learner.textMemory = mixed;
        const classBlocks = learner['classText']();
        mixed.keepBytes = classBlocks.graphBytes(classBlocks.blocks[0]);
        learner.textMemory = defaultTextMemory();
      }
      const mixedPass = pass(learner, images, labels, mixed);
      if (method !== 'vpt') {
        const s = learner.lastTextBlocks!;
        assert.ok(s.kept >= 1 && s.recomputed >= 1 && s.kept + s.recomputed === s.blocks, `${method}: some blocks kept, some recomputed (${JSON.stringify(s)})`);
      }
      assertSamePass(mixedPass, plain, `${method} kept + recomputed`);
      // the official code's gradients, with the parity test's tolerances
      const golden = goldenTensors(`methods/${method}/grads.safetensors`);
      for (const [k, g] of recomputed.grads) assertClose(g, float32(golden.get(`${k}.grad`)!), FP32.grad[0], FP32.grad[1], `${method} recomputed vs official: grad ${k}`);
      // loss scaling (amp): the scaled loss's gradients (read unscaled) through the recomputed blocks
      assertSamePass(pass(learner, images, labels, ONE_CLASS_BLOCKS_RECOMPUTED, 256), plain, `${method} scaled loss`);
      // nothing outlives a pass (the kept graphs, the leaf, the recomputed blocks)
      const before = liveTensors();
      pass(learner, images, labels, mixed);
      pass(learner, images, labels, ONE_CLASS_BLOCKS_RECOMPUTED);
      assert.equal(liveTensors(), before, `${method}: live tensors after blocked passes`);
    } finally {
      learner.dispose();
      images.dispose();
      labels.dispose();
    }
  });
}

for (const [name, options] of [
  ['class token in the middle', { nCtx: 4, classTokenPosition: 'middle' }],
  ['class token in front', { nCtx: 4, classTokenPosition: 'front' }],
  ['class-specific contexts (CSC)', { nCtx: 4, csc: true, ctxInit: '' }],
] as const) {
  test(`coop, ${name}: blocks of classes give the plain features and gradients`, () => {
    const o = outputs('coop');
    const learner = new PromptLearner(goldenModel('fp32', testDevice), ClipTokenizer.default(), 'coop', o.classes, { ...options, seed: 3 });
    const images = goldenImages();
    const labels = tensor(o.labels, [o.labels.length], 'int64');
    try {
      assertSamePass(pass(learner, images, labels, ONE_CLASS_BLOCKS_RECOMPUTED), pass(learner, images, labels, 'plain'), `coop ${name}`);
    } finally {
      learner.dispose();
      images.dispose();
      labels.dispose();
    }
  });
}

test('cocoop: blocks of image x class rows that span several images give the plain features and gradients', () => {
  const o = outputs('cocoop');
  const learner = new PromptLearner(goldenModel('fp32', testDevice), ClipTokenizer.default(), 'cocoop', o.classes, optionsFor('cocoop', o));
  const images = goldenImages();
  const labels = tensor(o.labels, [o.labels.length], 'int64');
  try {
    learner.loadStateDict(goldenTensors('methods/cocoop/params.safetensors'));
    const plain = pass(learner, images, labels, 'plain');
    // 20 rows (4 images x 5 classes) of 8-14 tokens: blocks of 3 to 12 rows, most of them mixing images
    for (const blockTokens of [40, 100]) {
      assertSamePass(pass(learner, images, labels, { blockTokens, keepBytes: 0 }), plain, `cocoop, ${blockTokens}-token blocks`);
      const s = learner.lastTextBlocks!;
      assert.ok(s.blocks > 1 && s.blocks < 20, `${blockTokens}-token blocks: ${JSON.stringify(s)}`);
    }
    // any set of rows, in any order (a block mixing images, the first row from a later image): those rows' features
    tidy(() => {
      const img = noGrad(() => learner.imageFeatures(images));
      const rowText = learner['imageConditionedText'](img);
      const C = o.classes.length;
      const all = noGrad(() => rowText.encode(Array.from({ length: 4 * C }, (_, r) => r))).toFloat32();
      for (const rows of [[C + 1, 0, 2 * C + 2, 3 * C + 3], [3 * C, 2, C + 4], [2 * C + 1]]) {
        const got = noGrad(() => rowText.encode(rows)).toFloat32();
        const E = got.length / rows.length;
        const want = rows.flatMap((r) => Array.from(all.subarray(r * E, (r + 1) * E)));
        assertClose(got, want, 1e-5, 1e-6, `cocoop rows ${rows}`);
      }
    });
    // evaluation logits through blocks that span images
    const whole = noGrad(() => tidy(() => learner.forward(images).logits.toFloat32()));
    learner.textMemory = { blockTokens: 40, keepBytes: 0 };
    assertClose(noGrad(() => tidy(() => learner.forward(images).logits.toFloat32())), whole, FP32.logits[0], FP32.logits[1], 'cocoop eval logits in blocks');
  } finally {
    learner.dispose();
    images.dispose();
    labels.dispose();
  }
});

test('evaluation features in blocks of classes equal one block, in class order', () => {
  const o = outputs('maple');
  const learner = new PromptLearner(goldenModel('fp32', testDevice), ClipTokenizer.default(), 'maple', o.classes, optionsFor('maple', o));
  try {
    learner.loadStateDict(goldenTensors('methods/maple/params.safetensors'));
    const whole = noGrad(() => tidy(() => learner.textFeatures().toFloat32()));
    learner.textMemory = { ...learner.textMemory, blockTokens: 1 };
    const blocked = noGrad(() => tidy(() => learner.textFeatures().toFloat32()));
    assertClose(blocked, whole, 1e-5, 1e-6, 'text features, one class per block');
  } finally {
    learner.dispose();
  }
});

test('blocksByLength: a partition of the rows, shortest prompts first, each block within its token budget', () => {
  const lengths = [9, 4, 12, 4, 7, 30, 9, 5];
  const blocks = blocksByLength(lengths, 20);
  assert.deepEqual(blocks.flat().sort((a, b) => a - b), lengths.map((_, i) => i), 'every row exactly once');
  assert.deepEqual(blocks, [[1, 3, 7], [4, 0], [6], [2], [5]]);
  for (const b of blocks) {
    const tokens = b.length * Math.max(...b.map((r) => lengths[r]));
    assert.ok(b.length === 1 || tokens <= 20, `block ${b} holds ${tokens} tokens`);
  }
  assert.deepEqual(blocksByLength([3, 3, 3], 1024), [[0, 1, 2]], 'a large budget: one block in row order');
});

test('MPL_TEXT_MEMORY_MB sets the kept text activations; a bad value is refused', () => {
  const prev = process.env.MPL_TEXT_MEMORY_MB;
  try {
    process.env.MPL_TEXT_MEMORY_MB = '256';
    assert.equal(defaultTextMemory().keepBytes, 256 * 2 ** 20);
    process.env.MPL_TEXT_MEMORY_MB = 'lots';
    assert.throws(() => defaultTextMemory(), /MPL_TEXT_MEMORY_MB must be a non-negative number of MiB, got 'lots'/);
    delete process.env.MPL_TEXT_MEMORY_MB;
    assert.equal(defaultTextMemory().keepBytes, 2 ** 30);
  } finally {
    if (prev === undefined) delete process.env.MPL_TEXT_MEMORY_MB;
    else process.env.MPL_TEXT_MEMORY_MB = prev;
  }
});

test('evaluate() computes the class text features once per evaluation, however many batches', async () => {
  const o = outputs('mpl');
  const learner = new PromptLearner(goldenModel('fp32', testDevice), ClipTokenizer.default(), 'mpl', o.classes, optionsFor('mpl', o));
  const pixels = goldenImages();
  const images = pixels.toFloat32();
  pixels.dispose();
  const source: BatchSource = {
    length: 24,
    batchesPerEpoch: () => 6,
    async *batches(): AsyncGenerator<Batch> {
      for (let b = 0; b < 6; b++) yield { images, labels: Int32Array.from(o.labels), size: 4, imageSize: 32 };
    },
    async close() {},
  };
  let passes = 0;
  const original = learner.textFeatures.bind(learner);
  learner.textFeatures = () => {
    passes++;
    return original();
  };
  try {
    const r = await evaluate(learner, source);
    assert.equal(r.total, 24);
    assert.equal(passes, 1, 'one text pass for 6 batches');
  } finally {
    learner.dispose();
  }
});
