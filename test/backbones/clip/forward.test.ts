/**
 * The CLIP encoders against the official openai/CLIP forward on the golden tiny model
 * (../shared/golden/clip_forward.safetensors), for both weight files: OpenAI key names (fp32) and
 * Hugging Face key names (fp16 storage, same values).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ClipModel } from '../../../src/backbones/clip/model.js';
import { parameterCount } from '../../../src/backbones/clip/config.js';
import { ClipTokenizer } from '../../../src/backbones/clip/tokenizer.js';
import { loadClipWeights } from '../../../src/backbones/clip/weights.js';
import { readSafetensors } from '../../../src/io/safetensors.js';
import { nn, noGrad, tensor, tidy } from '../../../src/torch/index.js';
import { goldenDir } from '../../helpers.js';
import { float32, goldenArch, goldenImages, goldenTensors } from '../../prompting/golden.js';
import { FP32, assertScaled } from '../../tolerance.js';

const golden = goldenTensors('clip_forward.safetensors');
const prompts: string[] = JSON.parse(readSafetensors(path.join(goldenDir, 'clip_forward.safetensors')).metadata.prompts);

for (const file of ['tiny_clip.safetensors', 'tiny_clip_hf.safetensors']) {
  test(`encodeImage, encodeText and logits equal the official forward (${file})`, () => {
    const w = loadClipWeights(path.join(goldenDir, file));
    const model = ClipModel.fromTensors(w.config, w.tensors);
    try {
      noGrad(() =>
        tidy(() => {
          const images = goldenImages();
          const img = model.encodeImage(images);
          assertScaled(img.toFloat32(), float32(golden.get('image_features')!), FP32.forward, 'image features');
          const ids = golden.get('input_ids')!;
          const idt = tensor(ids.data, ids.shape, 'int64');
          const eot = idt.argmax(-1).toArray();
          // our tokenizer produces the same ids
          const ours = ClipTokenizer.default().tokenize(prompts);
          assert.deepEqual(Array.from(ours.ids), idt.toArray());
          const txt = model.encodeText(idt, eot);
          assertScaled(txt.toFloat32(), float32(golden.get('text_features')!), FP32.forward, 'text features');
          assertScaled(nn.l2normalize(img).toFloat32(), float32(golden.get('image_features_normalized')!), FP32.forward, 'normalised image features');
          assertScaled(nn.l2normalize(txt).toFloat32(), float32(golden.get('text_features_normalized')!), FP32.forward, 'normalised text features');
          assertScaled(model.logits(img, txt).toFloat32(), float32(golden.get('logits_per_image')!), FP32.forward, 'logits');
          assert.ok(Math.abs(Math.exp(model.logitScale) - 1 / 0.07) < 0.02, 'logit scale');
        }),
      );
    } finally {
      model.dispose();
    }
  });
}

test('the text encoder cut to the longest prompt equals the full 77-token run', () => {
  const w = loadClipWeights(path.join(goldenDir, 'tiny_clip.safetensors'));
  const model = ClipModel.fromTensors(w.config, w.tensors);
  try {
    noGrad(() =>
      tidy(() => {
        const texts = ['a photo of a dog.', 'X X X X a photo of a Annual Crop Land.', 'itap of a cat.'];
        const t = ClipTokenizer.default().tokenize(texts);
        const ids = tensor(t.ids, t.shape, 'int32').to('int64');
        const eot = Array.from(t.eotIndex);
        let cutLength = 0;
        const cut = model.encodeTextEmbeddings(model.tokenEmbedding(ids), eot, { onBlockInput: (_, l) => (cutLength = l) }, true);
        let fullLength = 0;
        const full = model.encodeTextEmbeddings(model.tokenEmbedding(ids), eot, { onBlockInput: (_, l) => (fullLength = l) }, false);
        assert.equal(fullLength, 77);
        assert.equal(cutLength, Math.max(...eot) + 1);
        assert.ok(cutLength < 20);
        assertScaled(cut.toFloat32(), full.toFloat32(), FP32.forward, 'truncated vs full-length text features');
      }),
    );
  } finally {
    model.dispose();
  }
});

test('parameterCount counts the weights only, not the attention masks cached by a forward pass', () => {
  const arch = goldenArch();
  const model = ClipModel.random(arch, 1);
  try {
    const before = model.parameterCount;
    assert.equal(before, parameterCount(arch), 'every canonical tensor, logit_scale included');
    const tok = ClipTokenizer.default().tokenize(['a photo of a cat.', 'a dog']);
    noGrad(() => tidy(() => void model.encodeText(tensor(tok.ids, tok.shape, 'int32'), Array.from(tok.eotIndex))));
    assert.equal(model.parameterCount, before, 'after encodeText (which caches a causal mask)');
  } finally {
    model.dispose();
  }
});
