/**
 * Engine benchmark: one CLIP ViT-B/16 residual block (width 768, 12 heads, MLP 3072, QuickGELU, pre-LN),
 * batch 4 x 201 tokens (197 image tokens + a 4x768 prompt, the only tensor that requires grad), forward and
 * forward+backward; beside the same block in plain PyTorch when /usr/bin/python3 has torch. Two rounds,
 * interleaved with the baseline; each side reports its fastest run.
 *   node dist/bench/engine.js [--json] [--reps N]      (or: npx mpl bench engine --json)
 */
import { residualBlock, type BlockWeights } from '../src/backbones/clip/transformer.js';
import { Generator, cat, getNumThreads, randn, tidy, torchVersion, zeros, ones, checkBlas, type Tensor } from '../src/torch/index.js';
import { runPython, timeMs, torchAvailable } from './common.js';

export interface EngineBenchResult {
  width: number;
  heads: number;
  batch: number;
  tokens: number;
  threads: number;
  libtorch: string;
  fwd_ms: number;
  fwdbwd_ms: number;
  fwd_gflops: number;
  fwdbwd_gflops: number;
  torch_version?: string;
  torch_fwd_ms?: number;
  torch_fwdbwd_ms?: number;
  ratio_fwd?: number;
  ratio_fwdbwd?: number;
}

/** FLOPs of one block forward (matmuls only, which dominate). */
function blockFlops(B: number, L: number, D: number): number {
  const proj = 2 * B * L * D * (3 * D) + 2 * B * L * D * D; // in_proj + out_proj
  const attn = 2 * 2 * B * L * L * D; // q·kᵀ and attn·v
  const mlp = 2 * 2 * B * L * D * (4 * D);
  return proj + attn + mlp;
}

export function runEngineBench(options: { reps?: number; python?: boolean } = {}): EngineBenchResult {
  checkBlas();
  const reps = options.reps ?? 10;
  const D = 768, H = 12, B = 4, N = 197, P = 4;
  const g = new Generator(0);
  const w: BlockWeights = {
    ln1Weight: ones([D]).keep(),
    ln1Bias: zeros([D]).keep(),
    attn: {
      inProjWeight: randn([3 * D, D], g).mul(0.02).keep(),
      inProjBias: zeros([3 * D]).keep(),
      outProjWeight: randn([D, D], g).mul(0.02).keep(),
      outProjBias: zeros([D]).keep(),
    },
    ln2Weight: ones([D]).keep(),
    ln2Bias: zeros([D]).keep(),
    fcWeight: randn([4 * D, D], g).mul(0.02).keep(),
    fcBias: zeros([4 * D]).keep(),
    projWeight: randn([D, 4 * D], g).mul(0.02).keep(),
    projBias: zeros([D]).keep(),
  };
  const base = randn([B, N, D], g).keep();
  const prompt = randn([P, D], g).mul(0.02).keep().requiresGrad_(true);
  const input = (): Tensor => cat([base, prompt.unsqueeze(0).expand([B, P, D])], 1);

  // two rounds, interleaved with the PyTorch baseline below, fastest run of each side
  const fwdOnce = () => tidy(() => void residualBlock(input(), w, H));
  const fwdbwdOnce = () =>
    tidy(() => {
      residualBlock(input(), w, H).sum().backward();
      prompt.zeroGrad();
    });
  const py = options.python !== false && torchAvailable();
  const pyRuns: Array<Record<string, number | string>> = [];
  let fwd = Infinity;
  let fwdbwd = Infinity;
  for (let round = 0; round < 2; round++) {
    fwd = Math.min(fwd, timeMs(fwdOnce, reps));
    fwdbwd = Math.min(fwdbwd, timeMs(fwdbwdOnce, reps));
    if (py) pyRuns.push(runPython('block.py', [String(getNumThreads()), String(reps)]));
  }
  const L = N + P;
  const flops = blockFlops(B, L, D);
  const result: EngineBenchResult = {
    width: D,
    heads: H,
    batch: B,
    tokens: L,
    threads: getNumThreads(),
    libtorch: torchVersion(),
    fwd_ms: fwd,
    fwdbwd_ms: fwdbwd,
    fwd_gflops: flops / (fwd / 1000) / 1e9,
    // backward of the frozen block still needs the input gradients: ~2x the forward matmuls
    fwdbwd_gflops: (3 * flops) / (fwdbwd / 1000) / 1e9,
  };
  for (const t of [base, prompt, ...Object.values(w).flatMap((v) => ('inProjWeight' in v ? Object.values(v) : [v]))]) {
    (t as Tensor).dispose();
  }
  if (pyRuns.length) {
    result.torch_version = String(pyRuns[0].torch_version);
    result.torch_fwd_ms = Math.min(...pyRuns.map((r) => Number(r.torch_fwd_ms)));
    result.torch_fwdbwd_ms = Math.min(...pyRuns.map((r) => Number(r.torch_fwdbwd_ms)));
    result.ratio_fwd = result.fwd_ms / result.torch_fwd_ms;
    result.ratio_fwdbwd = result.fwdbwd_ms / result.torch_fwdbwd_ms;
  }
  return result;
}

export function formatEngineBench(r: EngineBenchResult): string {
  const lines = [
    `engine: ViT-B/16 residual block, batch ${r.batch} x ${r.tokens} tokens, libtorch ${r.libtorch}, ${r.threads} threads`,
    `  mpl      forward ${r.fwd_ms.toFixed(1)} ms (${r.fwd_gflops.toFixed(1)} GFLOP/s)   forward+backward ${r.fwdbwd_ms.toFixed(1)} ms (${r.fwdbwd_gflops.toFixed(1)} GFLOP/s)`,
  ];
  if (r.torch_fwd_ms !== undefined) {
    lines.push(
      `  PyTorch  forward ${r.torch_fwd_ms.toFixed(1)} ms   forward+backward ${r.torch_fwdbwd_ms!.toFixed(1)} ms   (torch ${r.torch_version})`,
      `  ratio mpl/PyTorch: forward ${r.ratio_fwd!.toFixed(3)}x   forward+backward ${r.ratio_fwdbwd!.toFixed(3)}x`,
    );
  } else {
    lines.push('  (PyTorch baseline skipped: /usr/bin/python3 cannot import torch)');
  }
  return lines.join('\n');
}

if (require.main === module) {
  const json = process.argv.includes('--json');
  const i = process.argv.indexOf('--reps');
  const r = runEngineBench({ reps: i > 0 ? Number(process.argv[i + 1]) : undefined });
  console.log(json ? JSON.stringify(r) : formatEngineBench(r));
}
