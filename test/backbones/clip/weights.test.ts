import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { Command, CommanderError } from 'commander';
import { register as registerInfo } from '../../../src/cli/commands/info.js';
import { type ClipConfig, canonicalNames, expectedShapes, knownArchitectures, parameterCount } from '../../../src/backbones/clip/config.js';
import { clipWeightsFromTensors, loadClipWeights, readClipConfig, toFloat32 } from '../../../src/backbones/clip/weights.js';
import { serializeSafetensors, writeSafetensors } from '../../../src/io/safetensors.js';
import { type RawTensor, float32ToFloat16Bits, rawTensor, transpose2d } from '../../../src/io/tensor.js';
import { fixturesDir, goldenDir, repoRoot, tmpDir } from '../../helpers.js';

const dir = tmpDir('mpl-weights-');
const tiny = path.join(goldenDir, 'tiny_clip.safetensors');
const tinyHf = path.join(goldenDir, 'tiny_clip_hf.safetensors');

/** A small random CLIP under canonical names (width 64: one head; vocab 40; 2 + 1 layers). */
const SMALL: ClipConfig = {
  vision: { width: 64, layers: 2, heads: 1, patch_size: 4, image_size: 8, mlp_width: 128 },
  text: { width: 64, layers: 1, heads: 1, context_length: 6, vocab_size: 40, mlp_width: 256 },
  embed_dim: 16,
};

function smallClip(config = SMALL): Map<string, RawTensor> {
  let seed = 1;
  const m = new Map<string, RawTensor>();
  for (const [name, shape] of expectedShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n).map(() => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1);
    m.set(name, rawTensor('float32', shape, v));
  }
  return m;
}

/** The same weights under Hugging Face CLIPModel names (as transformers' converter writes them). */
function toHf(canon: Map<string, RawTensor>, config = SMALL): Map<string, RawTensor> {
  const hf = new Map<string, RawTensor>();
  const g = (k: string) => canon.get(k)!;
  const rows = (t: RawTensor, i: number, d: number): RawTensor => {
    const row = t.data.byteLength / t.shape[0]!;
    return { dtype: t.dtype, shape: [d, ...t.shape.slice(1)], data: t.data.slice(i * d * row, (i + 1) * d * row) };
  };
  hf.set('text_model.embeddings.token_embedding.weight', g('token_embedding.weight'));
  hf.set('text_model.embeddings.position_embedding.weight', g('positional_embedding'));
  hf.set('text_model.embeddings.position_ids', rawTensor('int64', [1, 6], new BigInt64Array(6)));
  hf.set('text_model.final_layer_norm.weight', g('ln_final.weight'));
  hf.set('text_model.final_layer_norm.bias', g('ln_final.bias'));
  hf.set('text_projection.weight', transpose2d(g('text_projection')));
  hf.set('vision_model.embeddings.patch_embedding.weight', g('visual.conv1.weight'));
  hf.set('vision_model.embeddings.class_embedding', g('visual.class_embedding'));
  hf.set('vision_model.embeddings.position_embedding.weight', g('visual.positional_embedding'));
  hf.set('vision_model.pre_layrnorm.weight', g('visual.ln_pre.weight'));
  hf.set('vision_model.pre_layrnorm.bias', g('visual.ln_pre.bias'));
  hf.set('vision_model.post_layernorm.weight', g('visual.ln_post.weight'));
  hf.set('vision_model.post_layernorm.bias', g('visual.ln_post.bias'));
  hf.set('visual_projection.weight', transpose2d(g('visual.proj')));
  hf.set('logit_scale', g('logit_scale'));
  for (const [tower, o, cfg] of [['vision', 'visual.', config.vision], ['text', '', config.text]] as const) {
    for (let i = 0; i < cfg.layers; i++) {
      const c = `${o}transformer.resblocks.${i}.`;
      const h = `${tower}_model.encoder.layers.${i}.`;
      ['q', 'k', 'v'].forEach((x, j) => {
        hf.set(`${h}self_attn.${x}_proj.weight`, rows(g(`${c}attn.in_proj_weight`), j, cfg.width));
        hf.set(`${h}self_attn.${x}_proj.bias`, rows(g(`${c}attn.in_proj_bias`), j, cfg.width));
      });
      const map: Record<string, string> = {
        'attn.out_proj': 'self_attn.out_proj',
        ln_1: 'layer_norm1',
        ln_2: 'layer_norm2',
        'mlp.c_fc': 'mlp.fc1',
        'mlp.c_proj': 'mlp.fc2',
      };
      for (const [a, b] of Object.entries(map)) {
        hf.set(`${h}${b}.weight`, g(`${c}${a}.weight`));
        hf.set(`${h}${b}.bias`, g(`${c}${a}.bias`));
      }
    }
  }
  return hf;
}

function write(name: string, tensors: Map<string, RawTensor>): string {
  const file = path.join(dir, name);
  writeSafetensors(file, tensors);
  return file;
}

function throwsUser(fn: () => unknown, file: string, re: RegExp): void {
  assert.throws(fn, (e: Error) => {
    assert.equal(e.name, 'UserError', e.message);
    assert.ok(e.message.startsWith(file + ': '), e.message);
    assert.match(e.message, re);
    return true;
  });
}

describe('CLIP weights', () => {
  test('the two golden tiny models (OpenAI fp32, Hugging Face fp16) give equal canonical tensors', () => {
    const a = loadClipWeights(tiny);
    const b = loadClipWeights(tinyHf);
    assert.equal(a.format, 'openai');
    assert.equal(b.format, 'hf');
    assert.deepEqual(a.config, b.config);
    assert.deepEqual([...a.tensors.keys()], canonicalNames(a.config));
    assert.deepEqual([...b.tensors.keys()], [...a.tensors.keys()]);
    assert.deepEqual(b.dtypes, { float16: 110 });
    for (const [name, ta] of a.tensors) {
      const tb = b.tensors.get(name)!;
      assert.deepEqual(tb.shape, ta.shape, name);
      assert.deepEqual(toFloat32(tb), toFloat32(ta), name);
    }
  });

  test('the inferred config equals the golden config.json, and the parameter count', () => {
    const golden = JSON.parse(fs.readFileSync(path.join(goldenDir, 'config.json'), 'utf8')) as {
      vision: Record<string, number>;
      text: Record<string, number>;
      embed_dim: number;
      parameters: number;
      hf_config_equivalent: { vision_config: { intermediate_size: number }; text_config: { intermediate_size: number } };
    };
    const w = loadClipWeights(tiny);
    for (const [k, v] of Object.entries(golden.vision)) assert.equal(w.config.vision[k as keyof ClipConfig['vision']], v, `vision.${k}`);
    for (const [k, v] of Object.entries(golden.text)) assert.equal(w.config.text[k as keyof ClipConfig['text']], v, `text.${k}`);
    assert.equal(w.config.embed_dim, golden.embed_dim);
    assert.equal(w.config.vision.mlp_width, golden.hf_config_equivalent.vision_config.intermediate_size);
    assert.equal(w.config.text.mlp_width, golden.hf_config_equivalent.text_config.intermediate_size);
    assert.equal(w.parameters, golden.parameters);
    assert.deepEqual(readClipConfig(tinyHf), w.config, 'header-only read agrees');
  });

  test('known architectures and expected shapes', () => {
    assert.equal(parameterCount(knownArchitectures['ViT-B/16']!), 149_620_737);
    assert.equal(parameterCount(knownArchitectures['ViT-B/32']!), 151_277_313);
    assert.equal(parameterCount(knownArchitectures['ViT-L/14']!), 427_616_513);
    const l14 = knownArchitectures['ViT-L/14']!;
    assert.deepEqual(
      [l14.vision.width, l14.vision.layers, l14.vision.heads, l14.vision.patch_size, l14.text.width, l14.text.heads, l14.embed_dim],
      [1024, 24, 16, 14, 768, 12, 768],
    );
    const shapes = expectedShapes(knownArchitectures['ViT-B/16']!);
    assert.deepEqual(shapes.get('visual.positional_embedding'), [197, 768]);
    assert.deepEqual(shapes.get('visual.transformer.resblocks.11.attn.in_proj_weight'), [2304, 768]);
    assert.deepEqual(shapes.get('transformer.resblocks.0.mlp.c_fc.weight'), [2048, 512]);
    assert.deepEqual(shapes.get('text_projection'), [512, 512]);
    assert.deepEqual(shapes.get('logit_scale'), []);
  });

  test('Hugging Face names: q/k/v concatenated, projections transposed, position_ids ignored', () => {
    const canon = smallClip();
    const w = loadClipWeights(write('hf.safetensors', toHf(canon)));
    assert.equal(w.format, 'hf');
    assert.deepEqual(w.config, SMALL);
    assert.deepEqual(w.ignored, ['text_model.embeddings.position_ids']);
    for (const [k, t] of canon) assert.deepEqual(toFloat32(w.tensors.get(k)!), toFloat32(t), k);
  });

  test('module./model. prefixes, directories, .pt state dicts and the TorchScript archive', () => {
    const canon = smallClip();
    const prefixed = new Map([...canon].map(([k, t]) => [`module.${k}`, t]));
    prefixed.set('module.transformer.resblocks.0.attn_mask', rawTensor('float32', [1], new Float32Array(1)));
    const w = loadClipWeights(write('prefixed.safetensors', prefixed));
    assert.deepEqual(w.config, SMALL);
    assert.deepEqual(w.ignored, ['transformer.resblocks.0.attn_mask']);
    const folder = path.join(dir, 'hf-folder');
    fs.mkdirSync(folder);
    writeSafetensors(path.join(folder, 'model.safetensors'), new Map([...toHf(canon)].map(([k, t]) => [`model.${k}`, t])));
    assert.equal(loadClipWeights(folder).file, path.join(folder, 'model.safetensors'));

    const script = loadClipWeights(path.join(fixturesDir, 'micro_clip_torchscript.pt'));
    const plain = loadClipWeights(path.join(fixturesDir, 'micro_clip_state_dict.pt'));
    assert.equal(script.container, 'torchscript');
    assert.equal(plain.container, 'torch');
    assert.deepEqual(script.config, {
      vision: { width: 32, layers: 1, heads: 1, patch_size: 4, image_size: 8, mlp_width: 32 },
      text: { width: 32, layers: 1, heads: 1, context_length: 7, vocab_size: 50, mlp_width: 32 },
      embed_dim: 16,
    });
    assert.equal(script.dtypes.float16, 19, 'OpenAI convert_weights dtypes are kept');
    for (const [k, t] of script.tensors) assert.deepEqual(toFloat32(t), toFloat32(plain.tensors.get(k)!), k);
  });

  test('malformed files: each error names the file and the tensor', () => {
    const canon = smallClip();
    const drop = (k: string) => new Map([...canon].filter(([n]) => n !== k));
    const replace = (k: string, t: RawTensor) => new Map([...canon].map(([n, v]) => [n, n === k ? t : v]));

    let f = write('missing.safetensors', drop('visual.ln_post.bias'));
    throwsUser(() => loadClipWeights(f), f, /missing tensor "visual\.ln_post\.bias"/);
    throwsUser(() => readClipConfig(f), f, /missing tensor "visual\.ln_post\.bias"/);

    f = write('missing-block.safetensors', new Map([...canon].filter(([n]) => !n.startsWith('visual.transformer.resblocks.0.'))));
    throwsUser(() => loadClipWeights(f), f, /missing tensor "visual\.transformer\.resblocks\.0\.attn\.in_proj_weight"/);

    f = write('shape.safetensors', replace('transformer.resblocks.0.mlp.c_proj.weight', rawTensor('float32', [64, 255], new Float32Array(64 * 255))));
    throwsUser(() => loadClipWeights(f), f, /tensor "transformer\.resblocks\.0\.mlp\.c_proj\.weight" has shape \[64,255\], expected \[64,256\]/);

    f = write('pos.safetensors', replace('visual.positional_embedding', rawTensor('float32', [6, 64], new Float32Array(6 * 64))));
    throwsUser(() => loadClipWeights(f), f, /"visual\.positional_embedding" has 6 positions/);

    f = write('dtype.safetensors', replace('logit_scale', rawTensor('int32', [], new Int32Array(1))));
    throwsUser(() => loadClipWeights(f), f, /tensor "logit_scale" has dtype int32, expected a floating-point type/);

    const hf = toHf(canon);
    hf.delete('vision_model.encoder.layers.1.self_attn.k_proj.bias');
    f = write('hf-missing.safetensors', hf);
    throwsUser(() => loadClipWeights(f), f, /missing tensor "vision_model\.encoder\.layers\.1\.self_attn\.k_proj\.bias"/);
    const hf2 = toHf(canon);
    hf2.delete('visual_projection.weight');
    f = write('hf-missing-proj.safetensors', hf2);
    throwsUser(() => loadClipWeights(f), f, /missing tensor "visual\.proj" \(Hugging Face: visual_projection\.weight, transposed\)/);

    const bytes = serializeSafetensors(canon);
    f = path.join(dir, 'truncated.safetensors');
    fs.writeFileSync(f, bytes.subarray(0, bytes.length - 1000));
    throwsUser(() => loadClipWeights(f), f, /truncated: tensor "[^"]+" needs bytes/);
    throwsUser(() => readClipConfig(f), f, /truncated/);

    f = path.join(dir, 'garbage.safetensors');
    fs.writeFileSync(f, Buffer.concat([Buffer.from([16, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{"oops": [1, 2,  ')]));
    throwsUser(() => loadClipWeights(f), f, /header is not valid JSON/);

    f = path.join(dir, 'random.bin');
    fs.writeFileSync(f, Buffer.from('definitely not weights'));
    throwsUser(() => loadClipWeights(f), f, /unreadable: neither a safetensors file nor a PyTorch zip checkpoint/);

    f = write('nonclip.safetensors', new Map([['encoder.layer.0.weight', rawTensor('float32', [2], new Float32Array(2))]]));
    throwsUser(() => loadClipWeights(f), f, /not a CLIP model: no image-tower tensors .* among its 1 tensors \(e\.g\. encoder\.layer\.0\.weight\)/);

    f = write('resnet.safetensors', new Map([...canon, ['visual.layer1.0.conv1.weight', rawTensor('float32', [1], new Float32Array(1))]]));
    throwsUser(() => loadClipWeights(f), f, /ResNet CLIP/);

    f = path.join(fixturesDir, 'state_dict.pt');
    throwsUser(() => loadClipWeights(f), f, /not a CLIP model/);
    f = path.join(fixturesDir, 'legacy_format.pt');
    throwsUser(() => loadClipWeights(f), f, /legacy/);
    f = path.join(dir, 'does-not-exist.safetensors');
    throwsUser(() => loadClipWeights(f), f, /no such file/);
  });

  test('mixed q/k/v dtypes are concatenated in float32; in-memory tensors work too', () => {
    const hf = toHf(smallClip());
    const k = 'text_model.encoder.layers.0.self_attn.k_proj.weight';
    const t = hf.get(k)!;
    hf.set(k, rawTensor('float16', t.shape, float32ToFloat16Bits(toFloat32(t))));
    const w = clipWeightsFromTensors(hf, 'memory');
    const inProj = w.tensors.get('transformer.resblocks.0.attn.in_proj_weight')!;
    assert.equal(inProj.dtype, 'float32');
    assert.deepEqual(inProj.shape, [192, 64]);
    const q = hf.get('text_model.encoder.layers.0.self_attn.q_proj.weight')!;
    assert.deepEqual(toFloat32(inProj).subarray(0, 64 * 64), toFloat32(q));
  });
});

describe('mpl info', () => {
  test('`node bin/mpl.js info <tiny> --json` prints the inferred config and parameter count', () => {
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'mpl.js'), 'info', tiny, '--json'], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    const golden = JSON.parse(fs.readFileSync(path.join(goldenDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(out), ['vision', 'text', 'embed_dim', 'parameters']);
    for (const key of ['vision', 'text'] as const) {
      for (const [k, v] of Object.entries(golden[key] as Record<string, number>)) assert.equal((out[key] as Record<string, number>)[k], v, `${key}.${k}`);
    }
    assert.equal(out.embed_dim, golden.embed_dim);
    assert.equal(out.parameters, golden.parameters);
  });

  /**
   * The other cases run the command in-process on a program holding only `info` (starting the full CLI costs
   * ~0.6 s a time, most of it loading the other commands).
   */
  async function runInfo(...args: string[]): Promise<string> {
    const program = new Command().name('mpl').exitOverride();
    let out = '';
    program.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
    registerInfo(program);
    const write = process.stdout.write;
    process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
    try {
      await program.parseAsync(['node', 'mpl', 'info', ...args]);
    } catch (e) {
      if (!(e instanceof CommanderError) || e.exitCode !== 0) throw e;
    } finally {
      process.stdout.write = write;
    }
    return out;
  }

  test('human output, --help with an example, and a bad file', async () => {
    const human = await runInfo(tinyHf);
    assert.match(human, /Hugging Face CLIPModel key names/);
    assert.match(human, /vision {6}width 128, 4 layers, 2 heads, patch 8, image 32/);
    assert.match(human, /parameters {2}7,964,289/);
    assert.match(await runInfo('--help'), /Examples:\n {2}mpl info/);
    const bad = path.join(dir, 'bad.safetensors');
    fs.writeFileSync(bad, 'xx');
    await assert.rejects(runInfo(bad), (e: Error) => e.name === 'UserError' && /bad\.safetensors: not a safetensors file: only 2 bytes/.test(e.message));
  });
});
