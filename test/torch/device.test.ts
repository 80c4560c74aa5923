/**
 * Devices and precision: the --device / --precision rules and their errors, the precision policies, the
 * dynamic loss scaler, the finiteness check, and `mpl env --json`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import {
  GradScaler,
  SGD,
  allFinite,
  builtWithCuda,
  cpuBf16Decision,
  cpuClass,
  cpuHasNativeBf16,
  cpuInfo,
  cudaDeviceCount,
  precision,
  resolveDevice,
  resolvePrecision,
  tensor,
  tidy,
  type CpuInfo,
} from '../../src/torch/index.js';
import { storageDtype } from '../../src/backbones/clip/model.js';
import { createdInModelDtype } from '../../src/prompting/methods/index.js';
import { UserError } from '../../src/util/errors.js';
import { repoRoot } from '../helpers.js';

test('--device: cpu, auto, and CUDA requests that cannot be met say what was found and the fix', () => {
  assert.equal(resolveDevice('cpu'), 'cpu');
  assert.equal(resolveDevice('auto'), cudaDeviceCount() > 0 ? 'cuda:0' : 'cpu');
  assert.throws(() => resolveDevice('gpu'), /--device must be cpu, cuda, cuda:N or auto, got 'gpu'/);
  if (!builtWithCuda()) {
    for (const spec of ['cuda', 'cuda:0', 'cuda:3']) {
      assert.throws(
        () => resolveDevice(spec),
        (e: Error) => e instanceof UserError && /libtorch \S+ \(CPU-only build\)/.test(e.message) && /pip install torch/.test(e.message) && /npm rebuild modular-prompt-learning/.test(e.message),
      );
    }
  } else {
    const n = cudaDeviceCount();
    assert.throws(() => resolveDevice(`cuda:${n}`), new RegExp(`${n === 1 ? 'is 1 CUDA device' : `are ${n} CUDA devices`}`));
    if (n > 0) assert.equal(resolveDevice('cuda'), 'cuda:0');
  }
});

test('--precision: the rules of auto, fp16/amp refused on a CPU', () => {
  assert.equal(resolvePrecision('fp32', 'cpu').name, 'fp32');
  assert.equal(resolvePrecision(undefined, 'cpu').name, 'fp32');
  assert.throws(() => resolvePrecision('half', 'cpu'), /--precision must be fp32, fp16, amp, bf16 or auto, got 'half'/);
  for (const p of ['fp16', 'amp']) {
    assert.throws(() => resolvePrecision(p, 'cpu'), (e: Error) => e instanceof UserError && /is a GPU recipe/.test(e.message) && /--device cuda/.test(e.message));
    assert.equal(resolvePrecision(p, 'cpu', { allowCpuHalf: true }).name, p);
  }
  assert.equal(resolvePrecision('auto', 'cuda:0').name, 'fp16');
});

const native = cpuHasNativeBf16();
test(`--precision bf16 on this CPU (class ${cpuClass()}): ${native ? 'allowed, and auto picks it, saying why' : 'refused in one line naming the feature and the alternative; auto picks fp32'}`, () => {
  const notes: string[] = [];
  const auto = resolvePrecision('auto', 'cpu', { note: (m) => notes.push(m) });
  assert.equal(cpuBf16Decision().allowed, native);
  if (native) {
    assert.equal(auto.name, 'bf16');
    assert.equal(notes.length, 1, 'auto says once why it chose bf16');
    assert.match(notes[0], /avx512_bf16|amx_bf16/);
    assert.equal(resolvePrecision('bf16', 'cpu').name, 'bf16');
  } else {
    assert.equal(auto.name, 'fp32');
    assert.equal(notes.length, 0);
    assert.throws(
      () => resolvePrecision('bf16', 'cpu'),
      (e: Error) =>
        e instanceof UserError && !e.message.includes('\n') && /^--precision bf16: no AVX512-BF16 or AMX on this CPU/.test(e.message) &&
        /use --precision fp32 \(what auto picks here\) or --device cuda/.test(e.message),
    );
    assert.throws(() => resolvePrecision('fp16', 'cpu'), /on this CPU --precision fp32$/, 'the fp16 refusal does not suggest bf16 here');
  }
});

test("the bf16 rule per CPU class: the CPU's flags, lowered by oneDNN's ISA cap", () => {
  const cpu = (...features: string[]): CpuInfo => ({ model: 'x', cores: 2, features });
  const none = {};
  assert.equal(cpuClass(cpu('avx2', 'amx_bf16'), none), 'native-bf16');
  assert.equal(cpuClass(cpu('avx2', 'avx512f', 'avx512_bf16'), none), 'native-bf16');
  assert.equal(cpuClass(cpu('avx2', 'avx512f'), none), 'avx512', 'Skylake-SP..Ice Lake: AVX-512 without bf16');
  assert.equal(cpuClass(cpu('avx2', 'fma'), none), 'avx2', 'Zen 2/3, most laptops');
  assert.equal(cpuClass(cpu('asimd'), none), 'other');
  const flags = cpu('avx2', 'avx512f', 'avx512_bf16');
  for (const [env, cls] of [
    [{ ONEDNN_MAX_CPU_ISA: 'AVX2' }, 'avx2'],
    [{ DNNL_MAX_CPU_ISA: 'avx2' }, 'avx2'],
    [{ ONEDNN_MAX_CPU_ISA: 'AVX512_CORE' }, 'avx512'],
    [{ ONEDNN_MAX_CPU_ISA: 'AVX512_CORE_VNNI' }, 'avx512'],
    [{ ONEDNN_MAX_CPU_ISA: 'AVX512_CORE_BF16' }, 'native-bf16'],
    [{ ONEDNN_MAX_CPU_ISA: 'AVX512_CORE_AMX' }, 'native-bf16'],
    [{ ONEDNN_MAX_CPU_ISA: 'ALL' }, 'native-bf16'],
  ] as const) {
    assert.equal(cpuClass(flags, env), cls, JSON.stringify(env));
    assert.equal(cpuHasNativeBf16(flags, env), cls === 'native-bf16', JSON.stringify(env));
  }
  assert.equal(cpuBf16Decision('native-bf16').allowed, true);
  for (const cls of ['avx512', 'avx2', 'other'] as const) assert.equal(cpuBf16Decision(cls).allowed, false, cls);
  assert.match(cpuBf16Decision('avx512').why, /oneDNN would emulate bf16 with AVX-512: about 2x slower than fp32/);
  assert.match(cpuBf16Decision('avx2').why, /20-30x slower than fp32, and with libtorch 1.13 10x fp32's gradient error/);
});

test('precision policies: which weights are narrowed, which prompts are half under the fp16 recipe', () => {
  const fp16 = precision('fp16');
  const bf16 = precision('bf16');
  const amp = precision('amp');
  assert.deepEqual([fp16.matmul, fp16.activation, fp16.halfPrompts, fp16.lossScaling], ['float16', 'float16', true, false]);
  assert.deepEqual([bf16.matmul, bf16.activation, bf16.halfPrompts, bf16.lossScaling], ['bfloat16', 'float32', false, false]);
  assert.deepEqual([amp.matmul, amp.activation, amp.halfPrompts, amp.lossScaling], ['float16', 'float32', false, true]);
  // OpenAI's convert_weights split: matmul/conv weights narrowed, layer norms float32, embeddings in the stream
  for (const name of ['visual.conv1.weight', 'visual.proj', 'text_projection', 'transformer.resblocks.3.attn.in_proj_weight', 'visual.transformer.resblocks.0.mlp.c_fc.bias']) {
    assert.equal(storageDtype(name, fp16), 'float16', name);
    assert.equal(storageDtype(name, bf16), 'bfloat16', name);
  }
  for (const name of ['visual.ln_pre.weight', 'ln_final.bias', 'transformer.resblocks.3.ln_2.weight']) assert.equal(storageDtype(name, fp16), 'float32', name);
  for (const name of ['token_embedding.weight', 'positional_embedding', 'visual.class_embedding']) {
    assert.equal(storageDtype(name, fp16), 'float16', name);
    assert.equal(storageDtype(name, bf16), 'float32', name);
  }
  // the official trainers create ctx, MaPLe/MPL's proj and CoCoOp's meta-net in CLIP's dtype; deep prompts in float32
  assert.ok(createdInModelDtype('prompt_learner.ctx'));
  assert.ok(createdInModelDtype('prompt_learner.proj.weight'));
  assert.ok(createdInModelDtype('prompt_learner.meta_net.linear1.bias'));
  assert.ok(!createdInModelDtype('prompt_learner.compound_prompts_text.0'));
  assert.ok(!createdInModelDtype('prompt_learner.compound_prompt_projections.2.weight'));
  assert.ok(!createdInModelDtype('image_encoder.VPT'));
});

test("GradScaler follows torch's GradScaler: unscale, skip and halve on overflow, double after the growth interval", () => {
  const p = tensor([1, 2], [2]).keep().requiresGrad_(true);
  const opt = new SGD([p], { lr: 0.5 });
  const scaler = new GradScaler({ scale: 8, growthTracker: 0 }, 2, 0.5, 3);
  const stepWith = (g: number[]) =>
    tidy(() => {
      opt.zeroGrad();
      scaler.scaleLoss(p.mul(tensor(g, [2])).sum()).backward();
      return scaler.step(opt);
    });
  assert.equal(stepWith([1, 1]), true);
  assert.deepEqual(p.toArray(), [0.5, 1.5], 'the gradient is unscaled before the step');
  assert.equal(stepWith([Infinity, 1]), false, 'an overflowing step is skipped');
  assert.deepEqual(p.toArray(), [0.5, 1.5]);
  assert.equal(scaler.scale, 4);
  assert.equal(stepWith([0, 2]), true);
  assert.equal(stepWith([0, 2]), true);
  assert.equal(scaler.scale, 4);
  assert.equal(stepWith([0, 2]), true);
  assert.equal(scaler.scale, 8, 'three good steps in a row double the scale');
  assert.deepEqual(scaler.state(), { scale: 8, growthTracker: 0 });
  opt.disposeState();
  p.dispose();
});

test('allFinite sees NaN and infinity in any of the tensors', () => {
  tidy(() => {
    assert.equal(allFinite([tensor([1, 2]), tensor([3], [1], 'float64')]), true);
    assert.equal(allFinite([tensor([1, 2]), tensor([NaN])]), false);
    assert.equal(allFinite([tensor([Infinity, 0]).to('bfloat16')]), false);
    assert.equal(allFinite([]), true);
  });
});

test('mpl env --json reports libtorch, devices, CPU features and BLAS, and what bf16 does on this CPU', () => {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'mpl.js'), 'env', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const env = JSON.parse(r.stdout);
  assert.match(env.libtorch, /^\d+\.\d+/);
  assert.equal(typeof env.cuda_available, 'boolean');
  assert.ok(Array.isArray(env.devices));
  assert.equal(env.devices.length, cudaDeviceCount());
  for (const d of env.devices) assert.ok(d.name && d.memory_bytes > 0);
  assert.ok(env.cpu.model && env.cpu.cores >= 1 && Array.isArray(env.cpu.features));
  assert.deepEqual(env.cpu_bf16, { class: cpuClass(), ...cpuBf16Decision() });
  assert.match(env.aten_cpu_capability, /^(AVX512|AVX2|DEFAULT|ZVECTOR|VSX|SVE\d*)$/);
  assert.match(env.blas, /GFLOP\/s/);
  assert.ok(['cpu', 'cuda:0'].includes(env.auto.device));
  if (env.auto.device === 'cpu') assert.equal(env.auto.precision, env.cpu_bf16.allowed ? 'bf16' : 'fp32');
  const text = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'mpl.js'), 'env'], { encoding: 'utf8' }).stdout;
  assert.ok(text.includes(`bf16 on the cpu (class ${cpuClass()}): ${env.cpu_bf16.allowed ? 'yes' : 'refused'}, ${env.cpu_bf16.why}\n`), text);
});

test("mpl env follows the libraries' instruction-set caps: capped at AVX2, this CPU computes as an AVX2 one", { skip: !cpuInfo().features.includes('avx2') && 'no AVX2 on this CPU' }, () => {
  const caps = { ATEN_CPU_CAPABILITY: 'avx2', ONEDNN_MAX_CPU_ISA: 'AVX2', DNNL_MAX_CPU_ISA: 'AVX2' };
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'mpl.js'), 'env', '--json'], { encoding: 'utf8', env: { ...process.env, ...caps } });
  assert.equal(r.status, 0, r.stderr);
  const env = JSON.parse(r.stdout);
  assert.equal(env.aten_cpu_capability, 'AVX2');
  assert.equal(env.cpu_bf16.class, 'avx2');
  assert.equal(env.cpu_bf16.allowed, false);
  if (cudaDeviceCount() === 0) assert.equal(env.auto.precision, 'fp32');
});
