/**
 * Functional building blocks over the engine's ops: what CLIP and the prompt methods are made of.
 *
 * Mixed precision is carried by the weights' dtypes (src/torch/precision.ts): a linear or convolution runs in
 * its weight's dtype (the input is converted, as autocast does), layer norm always computes in float32 and
 * returns the input's dtype (OpenAI's LayerNorm subclass), softmax of half scores computes in float32.
 */
import { native } from './native.js';
import { Tensor, type Reduction } from './tensor.js';
import { isGradEnabled, tidy } from './scope.js';

/** x in the dtype of w (a converted copy when they differ; `release` disposes that copy). */
function inDtypeOf(x: Tensor, w: Tensor): { x: Tensor; release(): void } {
  const dt = w.dtype;
  if (x.dtype === dt) return { x, release() {} };
  const c = x.to(dt);
  return { x: c, release: () => c.dispose() };
}

export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  const a = inDtypeOf(x, weight);
  try {
    return new Tensor(native.linear(a.x.handle, weight.handle, bias?.handle ?? null));
  } finally {
    a.release();
  }
}

export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  stride: [number, number] = [1, 1],
  padding: [number, number] = [0, 0],
): Tensor {
  const a = inDtypeOf(x, weight);
  try {
    return new Tensor(native.conv2d(a.x.handle, weight.handle, bias?.handle ?? null, stride, padding));
  } finally {
    a.release();
  }
}

/** Layer norm computed in float32 (the weights are float32); the result has the input's dtype. */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  const n = weight ? weight.shape : [x.shape[x.ndim - 1]];
  const norm = (t: Tensor) => new Tensor(native.layerNorm(t.handle, n, weight?.handle ?? null, bias?.handle ?? null, eps));
  const wdt = weight?.dtype ?? 'float32';
  if (x.dtype === wdt) return norm(x);
  const x32 = x.to(wdt);
  const y = norm(x32);
  x32.dispose();
  const out = y.to(x.dtype);
  y.dispose();
  return out;
}

let fusedAttention = native.hasSdpa() === true && process.env.MPL_FUSED_ATTENTION !== '0';

/**
 * Whether attention uses libtorch's fused scaled_dot_product_attention (libtorch >= 2.1; on by default there,
 * MPL_FUSED_ATTENTION=0 turns it off) instead of the composition of bmm / softmax below. Returns the
 * previous setting; asking for it on a libtorch without it is an error.
 */
export function setFusedAttention(on: boolean): boolean {
  if (on && native.hasSdpa() !== true) throw new Error(`fused attention needs libtorch >= 2.1 (this is ${native.version() as string})`);
  const prev = fusedAttention;
  fusedAttention = on;
  return prev;
}

export function isFusedAttention(): boolean {
  return fusedAttention;
}

/**
 * CLIP's QuickGELU: x * sigmoid(1.702 x). Without autograd it works in place on one new buffer (the MLP
 * hidden layer is the largest activation: 1 allocation instead of 3 at evaluation).
 */
export function quickGelu(x: Tensor): Tensor {
  if (!isGradEnabled()) return x.mul(1.702).sigmoid_().mul_(x);
  const s = x.mul(1.702);
  const g = s.sigmoid();
  s.dispose();
  const out = x.mul(g);
  g.dispose();
  return out;
}

export function baddbmm(input: Tensor, b1: Tensor, b2: Tensor, beta = 1, alpha = 1): Tensor {
  return new Tensor(native.baddbmm(input.handle, b1.handle, b2.handle, beta, alpha));
}

/** L2-normalises along the last dimension exactly as CLIP does: x / x.norm(dim=-1, keepdim=True). */
export function l2normalize(x: Tensor): Tensor {
  const n = x.norm(2, -1, true);
  const out = x.div(n);
  n.dispose();
  return out;
}

/** Mean cross-entropy of logits [N, C] against int64 targets [N] (F.cross_entropy). */
export function crossEntropy(logits: Tensor, target: Tensor, reduction: Reduction = 'mean', labelSmoothing = 0): Tensor {
  return new Tensor(native.crossEntropy(logits.handle, target.handle, reduction, labelSmoothing));
}

/** F.kl_div(input, target, reduction, log_target): input is log-probabilities. */
export function klDiv(input: Tensor, target: Tensor, reduction: Reduction = 'mean', logTarget = false): Tensor {
  return new Tensor(native.klDiv(input.handle, target.handle, reduction, logTarget));
}

export function l1Loss(a: Tensor, b: Tensor, reduction: Reduction = 'mean'): Tensor {
  return new Tensor(native.l1Loss(a.handle, b.handle, reduction));
}

export function mseLoss(a: Tensor, b: Tensor, reduction: Reduction = 'mean'): Tensor {
  return new Tensor(native.mseLoss(a.handle, b.handle, reduction));
}

/** The additive causal mask CLIP's text encoder uses: -inf above the diagonal, 0 elsewhere ([L, L]). */
export function causalMask(length: number): Tensor {
  const full = new Tensor(native.full([length, length], -Infinity, 'float32', null));
  const m = full.triu(1);
  full.dispose();
  return m;
}

export interface AttentionWeights {
  inProjWeight: Tensor; // [3D, D], q, k, v stacked
  inProjBias: Tensor; // [3D]
  outProjWeight: Tensor; // [D, D]
  outProjBias: Tensor; // [D]
}

/**
 * Multi-head self-attention over batch-first x [B, L, D], the computation of PyTorch's
 * nn.MultiheadAttention (packed in-projection, q·kᵀ scaled by 1/sqrt(head_dim), optional causal mask,
 * softmax, out-projection). With fused attention (libtorch >= 2.1) the middle is one
 * scaled_dot_product_attention call, as PyTorch 2.x's own MultiheadAttention does; otherwise it is composed
 * from bmm and softmax, where `mask` (the additive causal mask [L, L], in the weights' dtype) is used.
 * Intermediates are disposed as soon as they are consumed (autograd keeps its own references to what
 * backward needs), which keeps the peak memory of batch-100 evaluation low.
 */
export function selfAttention(x: Tensor, w: AttentionWeights, heads: number, mask?: Tensor | null, causal = false): Tensor {
  return tidy(() => {
    const [B, L, D] = x.shape;
    const hd = D / heads;
    const qkv = linear(x, w.inProjWeight, w.inProjBias); // [B, L, 3D]
    // [B, L, 3, H, hd] -> [3, B, H, L, hd]
    const parts = qkv.view([B, L, 3, heads, hd]).permute([2, 0, 3, 1, 4]);
    const scale = 1 / Math.sqrt(hd);
    let ctx: Tensor;
    if (fusedAttention) {
      const [q, k, v] = [0, 1, 2].map((i) => parts.select(0, i));
      ctx = new Tensor(native.sdpa(q.handle, k.handle, v.handle, null, causal || Boolean(mask), scale)); // [B, H, L, hd]
      qkv.dispose();
    } else {
      // each of q, k, v becomes one contiguous [B·H, L, hd] copy
      const q = parts.select(0, 0).reshape([B * heads, L, hd]);
      const k = parts.select(0, 1).reshape([B * heads, L, hd]);
      const v = parts.select(0, 2).reshape([B * heads, L, hd]);
      qkv.dispose();
      // the 1/sqrt(head_dim) scale is folded into the product (exact for 64-wide heads: 1/8). Not
      // baddbmm with beta = 0: libtorch 1.13's small-matrix kernel then reads uninitialised memory (NaN).
      if (causal && !mask) throw new Error('selfAttention: a causal attention without fused attention needs its mask');
      const scores = mask ? baddbmm(mask.expand([B * heads, L, L]), q, k.transpose(1, 2), 1, scale) : q.bmm(k.transpose(1, 2)).mul_(scale);
      q.dispose();
      k.dispose();
      // half scores: the softmax computes in float32 (autocast's rule; what CUDA's half kernel does inside)
      const half = scores.dtype === 'float16' || scores.dtype === 'bfloat16';
      const attn32 = half ? scores.softmax(-1, 'float32') : scores.softmax(-1);
      scores.dispose();
      const attn = attn32.as(v.dtype);
      if (attn !== attn32) attn32.dispose();
      ctx = attn.bmm(v).view([B, heads, L, hd]);
      attn.dispose();
      v.dispose();
    }
    const merged = ctx.permute([0, 2, 1, 3]).reshape([B, L, D]);
    ctx.dispose();
    return linear(merged, w.outProjWeight, w.outProjBias);
  });
}
