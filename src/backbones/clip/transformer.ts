/**
 * CLIP's residual attention block (pre-LN): x = x + attn(ln_1(x)); x = x + mlp(ln_2(x)), with
 * mlp = c_fc -> QuickGELU -> c_proj. Batch-first layout [B, L, D] (the official code runs sequence-first;
 * the arithmetic is the same). Frozen weights never require grad, so only the prompts build a graph.
 */
import { Tensor, isGradEnabled, nn, tidy } from '../../torch/index.js';

export interface BlockWeights {
  ln1Weight: Tensor;
  ln1Bias: Tensor;
  attn: nn.AttentionWeights;
  ln2Weight: Tensor;
  ln2Bias: Tensor;
  fcWeight: Tensor; // c_fc [4D, D]
  fcBias: Tensor;
  projWeight: Tensor; // c_proj [D, 4D]
  projBias: Tensor;
}

export function residualBlock(x: Tensor, w: BlockWeights, heads: number, mask?: Tensor | null, causal = false): Tensor {
  // Each intermediate is disposed as soon as it is consumed (the tidy only catches leftovers on errors):
  // at evaluation batch 100 this halves the block's peak memory; autograd keeps what backward needs.
  return tidy(() => {
    const h1 = nn.layerNorm(x, w.ln1Weight, w.ln1Bias);
    const a = nn.selfAttention(h1, w.attn, heads, mask, causal);
    h1.dispose();
    // without autograd the residual sums reuse the freshly computed buffers (fewer large allocations) --
    // unless the branch is in a narrower dtype than the stream (mixed precision: the sum stays float32)
    const inference = !isGradEnabled() && a.dtype === x.dtype;
    const x1 = inference ? a.add_(x) : x.add(a);
    if (!inference) a.dispose();
    const h2 = nn.layerNorm(x1, w.ln2Weight, w.ln2Bias);
    const f = nn.linear(h2, w.fcWeight, w.fcBias);
    h2.dispose();
    const g = nn.quickGelu(f);
    f.dispose();
    const p = nn.linear(g, w.projWeight, w.projBias);
    g.dispose();
    const out = inference ? p.add_(x1) : x1.add(p);
    if (!inference) p.dispose();
    x1.dispose();
    return out;
  });
}

