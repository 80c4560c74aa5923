#!/usr/bin/env node
// What bf16 costs and gains on each CPU class (docs/precision.md, "bf16 on CPUs without native bf16"): one
// ViT-B/16 residual block (width 768, batch 4 x 201 tokens) in this tool's bf16 (weights bfloat16, residual
// stream float32) against fp32, forward + backward to the input: time ratio, and the relative L2 error of the
// output and the input gradient against the same block in float64. For each built addon, on this CPU and
// with the libraries' switches capping it to the avx512 and avx2 classes.
//   node scripts/measure-bf16.js [--reps N] [--python]
// --python adds libtorch 1.13 on an avx2-class CPU as it really runs there: Debian's PyTorch (the same
// libtorch) with oneDNN off, because libtorch 1.13 decides from cpuinfo, not from oneDNN's cap.
// Run it on a quiet machine: the times are ratios within one process, but other load still moves them.
'use strict';
const path = require('path');
const { spawnSync } = require('child_process');
const fs = require('fs');

const root = path.resolve(__dirname, '..');
const CLASSES = {
  'this CPU': {},
  avx512: { ATEN_CPU_CAPABILITY: 'avx512', ONEDNN_MAX_CPU_ISA: 'AVX512_CORE', DNNL_MAX_CPU_ISA: 'AVX512_CORE' },
  avx2: { ATEN_CPU_CAPABILITY: 'avx2', ONEDNN_MAX_CPU_ISA: 'AVX2', DNNL_MAX_CPU_ISA: 'AVX2', OPENBLAS_CORETYPE: 'Haswell', MKL_ENABLE_INSTRUCTIONS: 'AVX2' },
};

function child(reps) {
  const T = require(path.join(root, 'dist', 'src', 'torch', 'index.js'));
  const { residualBlock } = require(path.join(root, 'dist', 'src', 'backbones', 'clip', 'transformer.js'));
  T.setNumThreads(1);
  const D = 768, H = 12, B = 4, N = 201;
  const g = new T.Generator(0);
  const r = (shape) => T.randn(shape, g).mul(0.02).to('float64').keep();
  const z = (n) => T.zeros([n], 'float64').keep();
  const o = (n) => T.ones([n], 'float64').keep();
  const w64 = {
    ln1Weight: o(D), ln1Bias: z(D), ln2Weight: o(D), ln2Bias: z(D),
    attn: { inProjWeight: r([3 * D, D]), inProjBias: z(3 * D), outProjWeight: r([D, D]), outProjBias: z(D) },
    fcWeight: r([4 * D, D]), fcBias: z(4 * D), projWeight: r([D, 4 * D]), projBias: z(D),
  };
  const base = T.randn([B, N, D], g).to('float64').keep();
  const as = (mm, act) => ({
    ln1Weight: w64.ln1Weight.to(act).keep(), ln1Bias: w64.ln1Bias.to(act).keep(), ln2Weight: w64.ln2Weight.to(act).keep(), ln2Bias: w64.ln2Bias.to(act).keep(),
    attn: Object.fromEntries(Object.entries(w64.attn).map(([k, v]) => [k, v.to(mm).keep()])),
    fcWeight: w64.fcWeight.to(mm).keep(), fcBias: w64.fcBias.to(mm).keep(), projWeight: w64.projWeight.to(mm).keep(), projBias: w64.projBias.to(mm).keep(),
  });
  const W = { f64: as('float64', 'float64'), fp32: as('float32', 'float32'), bf16: as('bfloat16', 'float32') };
  const run = (name) => {
    const x = base.to(name === 'f64' ? 'float64' : 'float32').detach().requiresGrad_(true);
    const y = residualBlock(x, W[name], H);
    y.pow(2).mean().backward();
    return [y.to('float64').detach(), x.grad.to('float64')];
  };
  const rel = (a, e) => a.sub(e).norm().item() / e.norm().item();
  const out = { libtorch: T.torchVersion() };
  try {
    const ref = T.tidy(() => run('f64').map((t) => t.keep()));
    for (const name of ['fp32', 'bf16']) {
      T.tidy(() => {
        const [y, gx] = run(name);
        out[`${name}_out`] = rel(y, ref[0]);
        out[`${name}_grad`] = rel(gx, ref[1]);
      });
      let best = Infinity;
      for (let i = 0; i < reps; i++) {
        const t = performance.now();
        T.tidy(() => run(name));
        best = Math.min(best, performance.now() - t);
      }
      out[`${name}_ms`] = best;
    }
  } catch (e) {
    out.error = String(e.message).split('\n')[0].slice(0, 160);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

const PYTHON = `
import json, os, sys, time, torch
torch.manual_seed(0); torch.set_num_threads(1); torch.backends.mkldnn.enabled = False
D, H, B, N = 768, 12, 4, 201
W = {k: torch.randn(*s, dtype=torch.float64) * 0.02 for k, s in dict(inp=(3*D, D), out=(D, D), fc=(4*D, D), proj=(D, 4*D)).items()}
base = torch.randn(B, N, D, dtype=torch.float64)
def block(x, dt):
    w = {k: v.to(dt) for k, v in W.items()}
    lin = lambda t, k: torch.nn.functional.linear(t.to(dt), w[k]).to(x.dtype)
    q, k, v = lin(torch.nn.functional.layer_norm(x, (D,)), 'inp').view(B, N, 3, H, D // H).permute(2, 0, 3, 1, 4)
    a = torch.softmax((q.to(dt) @ k.to(dt).transpose(-1, -2)).to(x.dtype) / (D // H) ** 0.5, -1)
    x = x + lin((a.to(dt) @ v.to(dt)).to(x.dtype).transpose(1, 2).reshape(B, N, D), 'out')
    h = lin(torch.nn.functional.layer_norm(x, (D,)), 'fc')
    return x + lin(h * torch.sigmoid(1.702 * h), 'proj')
def run(dt):
    x = base.to(torch.float32 if dt != torch.float64 else dt).detach().clone().requires_grad_(True)
    y = block(x, dt); y.pow(2).mean().backward()
    return y.detach().double(), x.grad.double()
y64, g64 = run(torch.float64)
out = {'libtorch': torch.__version__}
for name, dt in (('fp32', torch.float32), ('bf16', torch.bfloat16)):
    y, g = run(dt)
    out[name + '_out'] = float((y - y64).norm() / y64.norm()); out[name + '_grad'] = float((g - g64).norm() / g64.norm())
    best = 1e9
    for _ in range(int(sys.argv[1])):
        t = time.perf_counter(); run(dt); best = min(best, time.perf_counter() - t)
    out[name + '_ms'] = best * 1000
print(json.dumps(out))
`;

function main() {
  const args = process.argv.slice(2);
  const i = args.indexOf('--reps');
  const reps = i >= 0 ? Number(args[i + 1]) : 2;
  if (args.includes('--child')) return child(reps);
  const builds = [path.join(root, 'build', 'Release', 'mpl_torch.node'), path.join(root, '.cache', 'libtorch2', 'addon', 'mpl_torch.node')].filter((f) => fs.existsSync(f));
  const rows = [];
  for (const addon of builds) {
    for (const [cls, caps] of Object.entries(CLASSES)) {
      const r = spawnSync(process.execPath, [__filename, '--child', '--reps', String(reps)], { encoding: 'utf8', env: { ...process.env, ...caps, MPL_ADDON: addon } });
      rows.push({ cls, ...JSON.parse(r.stdout.trim().split('\n').pop() || '{"error":"no output"}') });
    }
  }
  if (args.includes('--python')) {
    const r = spawnSync('/usr/bin/python3', ['-c', PYTHON, String(reps)], { encoding: 'utf8', env: { ...process.env, ...CLASSES.avx2 } });
    rows.push({ cls: 'avx2 (Python, oneDNN off)', ...JSON.parse(r.stdout.trim().split('\n').pop() || `{"error":${JSON.stringify(r.stderr.slice(-160))}}`) });
  }
  const e = (x) => (x === undefined ? '-' : x.toExponential(1));
  process.stdout.write('| class | libtorch | bf16 time / fp32 time | output error bf16 (fp32) | input-gradient error bf16 (fp32) |\n|---|---|---|---|---|\n');
  for (const r of rows) {
    if (r.error) process.stdout.write(`| ${r.cls} | ${r.libtorch ?? '?'} | bf16 failed: ${r.error} | | |\n`);
    else process.stdout.write(`| ${r.cls} | ${r.libtorch} | ${(r.bf16_ms / r.fp32_ms).toFixed(2)}x | ${e(r.bf16_out)} (${e(r.fp32_out)}) | ${e(r.bf16_grad)} (${e(r.fp32_grad)}) |\n`);
  }
}
main();
