/**
 * The methods on their own terms: every method on a CLIP whose widths all differ (so a width taken from the
 * wrong encoder, or hard-coded, shows), and CoOp's class-token positions built token by token.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClipModel, type ClipArchitecture } from '../../src/backbones/clip/model.js';
import { ClipTokenizer } from '../../src/backbones/clip/tokenizer.js';
import { PromptLearner, tokenIds } from '../../src/prompting/learner.js';
import { METHODS, designMethod, methodDef, type MethodConfig, type MethodName, type MethodOptions } from '../../src/prompting/methods/index.js';
import { validatePlan } from '../../src/prompting/plan.js';
import { Generator, cat, liveTensors, nn, noGrad, randn, tensor, tidy, type Tensor } from '../../src/torch/index.js';
import { goldenModel, testDevice } from './golden.js';
import { assertScaled, fp32Tolerance } from '../tolerance.js';

/** Vision width 64, text width 96, embedding 48; 4 vision and 3 text layers: no two widths or depths alike. */
const ODD: ClipArchitecture = {
  vision: { width: 64, layers: 4, heads: 2, patch_size: 16, image_size: 32, mlp_width: 256 },
  text: { width: 96, layers: 3, heads: 3, context_length: 77, vocab_size: 49408, mlp_width: 384 },
  embed_dim: 48,
};
const [DV, DT, E] = [64, 96, 48];

/** Depths that fit ODD (the official defaults prompt 9 or 12 layers), for the methods that take them. */
function fit(method: MethodName): MethodOptions {
  const depths: MethodOptions = { depth: 3, depthText: 3, depthVision: 4 };
  return Object.fromEntries(Object.entries(depths).filter(([k]) => (methodDef(method).options as readonly string[]).includes(k)));
}

/** The shape every parameter key must have on ODD, whatever the method (n = the key's token count). */
function expectedShape(key: string, n: number): number[] {
  const rules: Array<[RegExp, number[]]> = [
    [/^prompt_learner\.ctx$/, [n, DT]],
    [/^prompt_learner\.compound_prompts_text\.\d+$/, [n, DT]],
    [/^text_encoder\.transformer\.resblocks\.\d+\.VPT_shallow$/, [n, DT]],
    [/^image_encoder\.VPT$/, [n, DV]],
    [/^image_encoder\.transformer\.resblocks\.\d+\.VPT_shallow$/, [n, DV]],
    [/^prompt_learner\.(proj|compound_prompt_projections\.\d+|txt2img_proj\.\d+\.\d+)\.weight$/, [DV, DT]],
    [/^prompt_learner\.(proj|compound_prompt_projections\.\d+|txt2img_proj\.\d+\.\d+)\.bias$/, [DV]],
    [/^prompt_learner\.meta_net\.linear1\.weight$/, [E / 16, E]],
    [/^prompt_learner\.meta_net\.linear1\.bias$/, [E / 16]],
    [/^prompt_learner\.meta_net\.linear2\.weight$/, [DT, E / 16]],
    [/^prompt_learner\.meta_net\.linear2\.bias$/, [DT]],
    // CLIP-Adapter's bottleneck (reduction 4) on the embedding; the linear probe's classifier; Tip-Adapter-F's keys
    [/^adapter\.fc\.0\.weight$/, [E / 4, E]],
    [/^adapter\.fc\.2\.weight$/, [E, E / 4]],
    [/^coef$/, [-1, E]],
    [/^intercept$/, [-1]],
    [/^adapter\.weight$/, [-2, E]],
  ];
  const rule = rules.find(([re]) => re.test(key));
  assert.ok(rule, `no shape rule for ${key}`);
  return rule[1];
}

test('every method takes each width from the right encoder: a CLIP whose widths all differ', () => {
  const model = ClipModel.random(ODD, 3);
  const tokenizer = ClipTokenizer.default();
  const g = new Generator(5);
  const images = randn([2, 3, 32, 32], g);
  const labels = tensor(BigInt64Array.from([0n, 1n]), [2], 'int64');
  try {
    for (const method of METHODS) {
      const d = designMethod(method, fit(method), ODD);
      validatePlan(d.plan, ODD);
      for (const p of d.params) assert.deepEqual(p.shape, expectedShape(p.key, p.shape[0]), `${method}: ${p.key}`);
      const learner = new PromptLearner(model, tokenizer, method, ['cat', 'dog'], { ...fit(method), seed: 1 });
      // a feature cache is built from training images before anything else (train() does it): three of them here
      if (d.featureCache) tidy(() => learner.setCache(nn.l2normalize(randn([3, E], g)), [0, 1, 1]));
      try {
        const pass = () => {
          const out = learner.forward(images, labels);
          assert.deepEqual(out.logits.shape, [2, 2], `${method}: logits`);
          assert.ok(Number.isFinite(out.loss!.item()), `${method}: loss`);
          if (learner.params.size) out.loss!.backward();
          for (const t of new Set([out.logits, out.loss!, ...Object.values(out.terms ?? {})])) t.dispose();
        };
        pass(); // caches the causal masks of these lengths
        const before = liveTensors();
        pass();
        assert.equal(liveTensors(), before, `${method}: live tensors after a training pass`);
        for (const [key, p] of learner.params) {
          tidy(() => assert.ok(p.grad, `${method}: ${key} receives a gradient`));
        }
      } finally {
        learner.dispose();
      }
    }
  } finally {
    images.dispose();
    labels.dispose();
    model.dispose();
  }
});

/**
 * CoOp's prompt for one class at each class-token position, assembled here from token embeddings as the
 * official PromptLearner does: end = SOS ctx CLASS . EOS, middle = SOS ctx[:n/2] CLASS ctx[n/2:] . EOS,
 * front = SOS CLASS ctx . EOS.
 */
function officialCoopPrompt(model: ClipModel, param: Tensor, classname: string, position: 'end' | 'middle' | 'front'): Tensor {
  const tokenizer = ClipTokenizer.default();
  return tidy(() => {
    const ctx = param.detach();
    const nameLen = tokenizer.encode(classname).length;
    const { ids, eot } = tokenIds(tokenizer, [`${classname}.`]); // SOS CLASS . EOS
    const emb = model.tokenEmbedding(ids); // [1, 77, W]
    const sos = emb.narrow(1, 0, 1);
    const cls = emb.narrow(1, 1, nameLen);
    const rest = emb.narrow(1, 1 + nameLen, emb.shape[1] - 1 - nameLen); // ". EOS pad"
    const c = ctx.unsqueeze(0);
    const n = ctx.shape[0];
    const h = Math.floor(n / 2);
    const parts =
      position === 'end' ? [sos, c, cls, rest] : position === 'middle' ? [sos, c.narrow(1, 0, h), cls, c.narrow(1, h, n - h), rest] : [sos, cls, c, rest];
    const x = cat(parts, 1);
    return nn.l2normalize(model.encodeTextEmbeddings(x, [eot[0] + n]));
  });
}

test('CoOp builds end, middle and front prompts as the official code (and they differ)', () => {
  const model = goldenModel('fp32', testDevice);
  const classnames = ['sea lion', 'dog'];
  const features = new Map<string, Float32Array>();
  for (const position of ['end', 'middle', 'front'] as const) {
    const learner = new PromptLearner(model, ClipTokenizer.default(), 'coop', classnames, { ctxInit: '', nCtx: 5, classTokenPosition: position, seed: 2 });
    try {
      const ours = noGrad(() => learner.textFeatures());
      const ctx = learner.params.get('prompt_learner.ctx')!;
      classnames.forEach((name, i) => {
        const want = noGrad(() => officialCoopPrompt(model, ctx, name, position));
        assertScaled(tidy(() => ours.narrow(0, i, 1).toFloat32()), want.toFloat32(), fp32Tolerance(testDevice).forward, `${position}: ${name}`);
        want.dispose();
      });
      features.set(position, ours.toFloat32());
      ours.dispose();
    } finally {
      learner.dispose();
    }
  }
  const differ = (a: string, b: string) => features.get(a)!.some((v, i) => Math.abs(v - features.get(b)![i]) > 1e-4);
  assert.ok(differ('middle', 'front') && differ('middle', 'end') && differ('front', 'end'), 'the three positions give three different prompts');
});

test('each method is registered once with what the layers above read', () => {
  for (const method of METHODS) {
    const d = methodDef(method);
    assert.equal(d.name, method);
    for (const k of Object.keys(d.defaults)) assert.ok((d.options as readonly string[]).includes(k), `${method}: default ${k} is one of its options`);
    const d0 = designMethod(method, fit(method), ODD);
    const fits = Boolean(d0.featureCache || d0.linearProbe); // fitted from the training images without epochs
    assert.equal(d.trainable, d.recipe.epochs > 0 || fits, `${method}: trainable iff its recipe trains or it is fitted`);
    assert.equal(d.trainable, Boolean(d.dassl.modelName) || d.export !== undefined, `${method}: something to export (or a reason not to) iff it learns`);
  }
});

test('hand-crafted prompts take their template from the dataset the learner is given', () => {
  const model = goldenModel('fp32', testDevice);
  const classes = ['cat', 'dog'];
  const features = (method: MethodName, options: Record<string, unknown>) => {
    const learner = new PromptLearner(model, ClipTokenizer.default(), method, classes, options);
    try {
      return noGrad(() => tidy(() => learner.textFeatures().toFloat32()));
    } finally {
      learner.dispose();
    }
  };
  const texture = features('zeroshot', { template: '{} texture.' });
  // a loaded dataset carries its template; a dataset name finds it in the registry
  assert.deepEqual(features('zeroshot', { dataset: { template: '{} texture.' } }), texture);
  assert.deepEqual(features('zeroshot', { dataset: 'dtd' }), texture);
  assert.notDeepEqual(features('zeroshot', { dataset: 'eurosat' }), texture);
  // ImageNet's ensemble is the seven templates alone; another dataset's adds its own
  assert.deepEqual(features('zeroshot', { ensemble: true, dataset: 'imagenet' }), features('zeroshot', { ensemble: true, dataset: { template: 'x {}', ensembleAddsTemplate: false } }));
  assert.notDeepEqual(features('zeroshot', { ensemble: true, dataset: 'dtd' }), features('zeroshot', { ensemble: true, dataset: 'imagenet' }));
  // VPT's text side is "a photo of a {}." whatever the dataset
  assert.deepEqual(features('vpt', { dataset: 'dtd', depthVision: 1 }), features('zeroshot', {}));
});

test('MethodConfig: each method takes its own options (checked by the compiler)', () => {
  const configs: MethodConfig[] = [
    { method: 'coop', options: { classTokenPosition: 'middle', csc: true } },
    { method: 'mpl', options: { nAdd: 3, schedule: '1:add3,rm1' } },
    { method: 'promptsrc', options: { gpaMean: 6 } },
    // @ts-expect-error MPL's add count is not a CoOp option
    { method: 'coop', options: { nAdd: 2 } },
    // @ts-expect-error a zero-shot CLIP has no learnable context
    { method: 'zeroshot', options: { nCtx: 4 } },
  ];
  // what the compiler allows, the registry agrees with
  for (const c of configs.slice(0, 3)) {
    for (const k of Object.keys(c.options ?? {})) assert.ok((methodDef(c.method).options as readonly string[]).includes(k), `${c.method} takes ${k}`);
  }
});

test("the README's method table: every registered method once, with its official recipe", async () => {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const { repoRoot } = await import('../helpers.js');
  const { RECIPES } = await import('../../src/prompting/methods/index.js');
  const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const at = readme.indexOf('| method | `--method` |');
  assert.ok(at >= 0, 'README has no method table');
  const lines = readme.slice(at).split('\n').slice(2);
  const rows = lines.slice(0, lines.findIndex((l) => !l.startsWith('|'))).map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
  const names = rows.map((r) => /^`([a-z0-9-]+)`$/.exec(r[1])?.[1]);
  assert.deepEqual([...names].sort(), [...METHODS].sort(), 'one row per registered method');
  for (const r of rows) {
    const method = /^`(.+)`$/.exec(r[1])![1] as MethodName;
    const recipe = RECIPES[method];
    assert.equal(Number.parseInt(r[6], 10), recipe.epochs, `${method}: epochs`);
    // fitted, not trained by epochs (the linear probe, Tip-Adapter): no learning rate or batch to state
    if (!methodDef(method).trainable || recipe.epochs === 0) continue;
    assert.deepEqual([Number(r[4]), Number(r[5])], [recipe.lr, recipe.batchSize], `${method}: lr and batch`);
  }
});
