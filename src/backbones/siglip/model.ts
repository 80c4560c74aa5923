/**
 * SigLIP's two encoders over the engine, exact to transformers' SiglipModel (batch-first, as it is):
 *   vision: patch convolution with bias + position embeddings (patches only, no class token, no pre-norm),
 *     pre-LN blocks (GELU, tanh approximation), post_layernorm, then the attention-pooling head: a learned probe
 *     attends over every token, LayerNorm, MLP residual; its output is the image embedding (no projection);
 *   text: token + position embeddings, bidirectional pre-LN blocks (no mask: the `</s>` padding is attended to,
 *     as the model was trained), final_layer_norm, the LAST position, then the `head` Linear;
 *   logits: exp(logit_scale)·cos + logit_bias; per-class sigmoids are the probabilities.
 * The prompt hooks are CLIP's (EncoderHooks): `afterEmbedding` after the position embeddings, `beforeBlock`.
 * Prompts appended to the vision sequence stay in it through post_layernorm and the pooling head
 * (`poolPrompts`, docs/siglip.md gives the reasons and the experiment).
 */
import {
  Generator,
  Tensor,
  cat,
  isGradEnabled,
  nn,
  ones,
  precision as precisionPolicy,
  randn,
  tensor,
  tidy,
  zeros,
  type DType,
  type Device,
  type Precision,
} from '../../torch/index.js';
import type { PixelSpec } from '../../data/image.js';
import type { RawTensorLike, ClipLoadOptions, EncoderHooks } from '../clip/model.js';
import type { BackboneModel, TextTokenizer } from '../model.js';
import { expectedSiglipShapes, type SiglipArchitecture } from './weights.js';

interface Block {
  ln1: [Tensor, Tensor];
  attn: nn.AttentionWeights;
  ln2: [Tensor, Tensor];
  fc1: [Tensor, Tensor];
  fc2: [Tensor, Tensor];
}

/** The dtype a weight is stored in under a precision: layer norms float32, matmul weights in the matmul dtype. */
function storageDtype(name: string, p: Precision): DType {
  if (/(layer_norm\d?|layernorm)\.(weight|bias)$/.test(name)) return 'float32';
  if (/(proj|fc\d|patch_embedding|head\.(weight|bias)|in_proj_)/.test(name)) return p.matmul;
  return p.activation;
}

/**
 * GELU with the tanh approximation (gelu_pytorch_tanh): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). Composed of
 * elementwise ops; a half or bf16 input is computed in float32 and rounded once, as PyTorch's fused kernel does
 * (rounding after each of the seven ops made the tiny SigLIP's bf16 MPL loss 1.7% off the fp32 reference, 1.4% now).
 */
function geluTanh(x: Tensor): Tensor {
  return tidy(() => {
    const f = x.dtype === 'float32' ? x : x.as('float32');
    const y = f.pow(3).mul(0.044715).add(f).mul(Math.sqrt(2 / Math.PI)).tanh().add(1).mul(f).mul(0.5);
    return y.dtype === x.dtype ? y : y.as(x.dtype);
  });
}

export class SiglipModel implements BackboneModel {
  /**
   * Whether the vision prompts take part in the attention pooling (the probe attends over patches and prompts);
   * false pools the patch tokens only. The default (true) is the decision of docs/siglip.md.
   */
  poolPrompts = true;
  /** the tokenizer of the folder the model came from (set by the family's load; tokenizerFor() reads it) */
  tokenizer?: TextTokenizer;

  private constructor(
    readonly arch: SiglipArchitecture,
    private readonly w: Map<string, Tensor>,
    readonly logitScale: number,
    readonly logitBias: number,
    readonly precision: Precision,
    readonly device: Device,
    readonly pixels: PixelSpec,
  ) {}

  get imageSize(): number {
    return this.arch.vision.image_size;
  }
  get dtype(): DType {
    return this.precision.activation;
  }
  get textWidth(): number {
    return this.arch.text.width;
  }
  get visionWidth(): number {
    return this.arch.vision.width;
  }
  /** patches (there is no class token) */
  get visionTokens(): number {
    const g = Math.floor(this.arch.vision.image_size / this.arch.vision.patch_size);
    return g * g;
  }
  get parameterCount(): number {
    let n = 2; // logit_scale, logit_bias
    for (const t of this.w.values()) n += t.numel;
    return n;
  }

  /** From tensors under transformers' names (readSiglipFolder gives them, checked). */
  static fromTensors(arch: SiglipArchitecture, tensors: Map<string, RawTensorLike>, pixels: PixelSpec, options: ClipLoadOptions = {}): SiglipModel {
    const { precision, device } = placement(options);
    const scalar = (name: string) => {
      const raw = tensors.get(name);
      if (!raw) throw new Error(`missing tensor ${name}`);
      return tidy(() => tensor(raw.data, raw.shape, raw.dtype).to('float32').reshape([]).item());
    };
    return SiglipModel.build(arch, pixels, precision, device, (name, shape) => {
      const raw = tensors.get(name);
      if (!raw) throw new Error(`missing tensor ${name}`);
      if (raw.shape.join(',') !== shape.join(',')) throw new Error(`tensor ${name} has shape [${raw.shape}], expected [${shape}]`);
      return tensor(raw.data, raw.shape, raw.dtype);
    }, scalar('logit_scale'), scalar('logit_bias'));
  }

  /**
   * A SigLIP with random weights (N(0, 0.02) matrices, unit layer norms, transformers' logit init log(10), -10) for
   * benchmarks and plumbing tests; never for accuracy.
   */
  static random(arch: SiglipArchitecture, seed = 0, options: ClipLoadOptions = {}, pixels: PixelSpec = { resize: 'square', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }): SiglipModel {
    const { precision, device } = placement(options);
    const g = new Generator(seed);
    return SiglipModel.build(arch, pixels, precision, device, (name, shape) => {
      if (/(layer_norm\d?|layernorm)\.weight$/.test(name)) return ones(shape);
      if (name.endsWith('bias')) return zeros(shape);
      return randn(shape, g).mul(0.02);
    }, Math.log(10), -10);
  }

  private static build(
    arch: SiglipArchitecture,
    pixels: PixelSpec,
    precision: Precision,
    device: Device,
    make: (name: string, shape: number[]) => Tensor,
    logitScale: number,
    logitBias: number,
  ): SiglipModel {
    const w = new Map<string, Tensor>();
    try {
      for (const [name, shape] of expectedSiglipShapes(arch)) {
        if (name === 'logit_scale' || name === 'logit_bias') continue;
        const dtype = storageDtype(name, precision);
        const t = tidy(() => {
          const x = make(name, shape);
          return x.dtype === dtype && device === 'cpu' ? x : x.to(dtype, device);
        }).keep();
        w.set(name, t);
      }
      // nn.MultiheadAttention's packed layout for the blocks too (q, k, v stacked), so nn.selfAttention runs them
      const pack = (prefix: string) => {
        for (const kind of ['weight', 'bias'] as const) {
          const parts = ['q_proj', 'k_proj', 'v_proj'].map((p) => w.get(`${prefix}self_attn.${p}.${kind}`)!);
          w.set(`${prefix}self_attn.in_proj_${kind}`, tidy(() => cat(parts, 0)).keep());
          for (const [i, p] of ['q_proj', 'k_proj', 'v_proj'].entries()) {
            parts[i].dispose();
            w.delete(`${prefix}self_attn.${p}.${kind}`);
          }
        }
      };
      for (let i = 0; i < arch.vision.layers; i++) pack(`vision_model.encoder.layers.${i}.`);
      for (let i = 0; i < arch.text.layers; i++) pack(`text_model.encoder.layers.${i}.`);
    } catch (e) {
      for (const t of w.values()) t.dispose();
      throw e;
    }
    if (!Number.isFinite(logitScale) || !Number.isFinite(logitBias)) throw new Error('logit_scale / logit_bias are not finite');
    return new SiglipModel(arch, w, logitScale, logitBias, precision, device, pixels);
  }

  dispose(): void {
    for (const t of this.w.values()) t.dispose();
    this.w.clear();
  }

  weights(): Tensor[] {
    return [...this.w.values()];
  }

  /** A tensor on this model's device (a non-blocking copy when it comes from the CPU). */
  onDevice(t: Tensor): Tensor {
    return t.device === this.device || (this.device === 'cuda' && t.device === 'cuda:0') ? t : t.to(null, this.device, true);
  }

  private get(name: string): Tensor {
    const t = this.w.get(name);
    if (!t) throw new Error(`SigLIP weight ${name} is not loaded`);
    return t;
  }

  private block(prefix: string): Block {
    const g = (n: string) => this.get(prefix + n);
    return {
      ln1: [g('layer_norm1.weight'), g('layer_norm1.bias')],
      attn: { inProjWeight: g('self_attn.in_proj_weight'), inProjBias: g('self_attn.in_proj_bias'), outProjWeight: g('self_attn.out_proj.weight'), outProjBias: g('self_attn.out_proj.bias') },
      ln2: [g('layer_norm2.weight'), g('layer_norm2.bias')],
      fc1: [g('mlp.fc1.weight'), g('mlp.fc1.bias')],
      fc2: [g('mlp.fc2.weight'), g('mlp.fc2.bias')],
    };
  }

  private act(x: Tensor): Tensor {
    return this.arch.hidden_act === 'gelu' ? x.gelu() : geluTanh(x);
  }

  /** SiglipEncoderLayer: x + attn(ln1(x)), then + mlp(ln2(x)); intermediates freed as soon as consumed. */
  private runBlock(x: Tensor, b: Block, heads: number): Tensor {
    const eps = this.arch.layer_norm_eps;
    return tidy(() => {
      const h1 = nn.layerNorm(x, b.ln1[0], b.ln1[1], eps);
      const a = nn.selfAttention(h1, b.attn, heads, null, false);
      h1.dispose();
      const x1 = x.add(a);
      a.dispose();
      const h2 = nn.layerNorm(x1, b.ln2[0], b.ln2[1], eps);
      const f = nn.linear(h2, b.fc1[0], b.fc1[1]);
      h2.dispose();
      const g = this.act(f);
      f.dispose();
      const p = nn.linear(g, b.fc2[0], b.fc2[1]);
      g.dispose();
      const out = !isGradEnabled() && p.dtype === x1.dtype ? p.add_(x1) : x1.add(p);
      if (out !== p) p.dispose();
      x1.dispose();
      return out;
    });
  }

  private runBlocks(x: Tensor, prefix: string, layers: number, heads: number, hooks: EncoderHooks): Tensor {
    let cur = x;
    for (let i = 0; i < layers; i++) {
      if (hooks.beforeBlock) {
        const next = hooks.beforeBlock(i, cur);
        if (next !== cur && cur !== x) cur.dispose();
        cur = next;
      }
      hooks.onBlockInput?.(i, cur.shape[1]);
      const out = this.runBlock(cur, this.block(`${prefix}${i}.`), heads);
      if (cur !== x) cur.dispose();
      cur = out;
    }
    return cur;
  }

  // ---- vision -----------------------------------------------------------------------------------

  /** Image embeddings [B, E] (not normalised) of preprocessed images [B, 3, S, S]. */
  encodeImage(images: Tensor, hooks: EncoderHooks = {}): Tensor {
    return tidy(() => {
      const v = this.arch.vision;
      const input = this.onDevice(images);
      const B = input.shape[0];
      const patches = nn.conv2d(input, this.get('vision_model.embeddings.patch_embedding.weight'), this.get('vision_model.embeddings.patch_embedding.bias'), [v.patch_size, v.patch_size]).as(this.dtype);
      const n = patches.shape[2] * patches.shape[3];
      let x = patches.reshape([B, v.width, n]).permute([0, 2, 1]).add(this.get('vision_model.embeddings.position_embedding.weight'));
      if (hooks.afterEmbedding) x = hooks.afterEmbedding(x);
      x = this.runBlocks(x, 'vision_model.encoder.layers.', v.layers, v.heads, hooks);
      if (!this.poolPrompts && x.shape[1] > n) x = x.narrow(1, 0, n);
      x = nn.layerNorm(x, this.get('vision_model.post_layernorm.weight'), this.get('vision_model.post_layernorm.bias'), this.arch.layer_norm_eps);
      return this.attentionPool(x);
    });
  }

  /** SiglipMultiheadAttentionPoolingHead: the probe attends over x [B, L, D]; LayerNorm; MLP residual; [B, D]. */
  private attentionPool(x: Tensor): Tensor {
    const v = this.arch.vision;
    const [B, L, D] = x.shape;
    const H = v.heads;
    const hd = D / H;
    const inW = this.get('vision_model.head.attention.in_proj_weight');
    const inB = this.get('vision_model.head.attention.in_proj_bias');
    const probe = this.get('vision_model.head.probe').as(x.dtype).view([1, D]);
    const q = nn.linear(probe, inW.narrow(0, 0, D), inB.narrow(0, 0, D)).view([1, H, 1, hd]).expand([B, H, 1, hd]).reshape([B * H, 1, hd]);
    const k = nn.linear(x, inW.narrow(0, D, D), inB.narrow(0, D, D)).view([B, L, H, hd]).permute([0, 2, 3, 1]).reshape([B * H, hd, L]);
    const val = nn.linear(x, inW.narrow(0, 2 * D, D), inB.narrow(0, 2 * D, D)).view([B, L, H, hd]).permute([0, 2, 1, 3]).reshape([B * H, L, hd]);
    const scores = q.bmm(k).mul(1 / Math.sqrt(hd)); // [B·H, 1, L]
    const half = scores.dtype === 'float16' || scores.dtype === 'bfloat16';
    const attn = (half ? scores.softmax(-1, 'float32') : scores.softmax(-1)).as(val.dtype);
    const ctx = attn.bmm(val).view([B, H * hd]); // [B·H, 1, hd] -> [B, D], heads concatenated in order
    const pooled = nn.linear(ctx, this.get('vision_model.head.attention.out_proj.weight'), this.get('vision_model.head.attention.out_proj.bias'));
    const h = nn.layerNorm(pooled, this.get('vision_model.head.layernorm.weight'), this.get('vision_model.head.layernorm.bias'), this.arch.layer_norm_eps);
    const m = nn.linear(this.act(nn.linear(h, this.get('vision_model.head.mlp.fc1.weight'), this.get('vision_model.head.mlp.fc1.bias'))), this.get('vision_model.head.mlp.fc2.weight'), this.get('vision_model.head.mlp.fc2.bias'));
    return pooled.add(m).as(this.dtype);
  }

  // ---- text -------------------------------------------------------------------------------------

  /** Token embeddings [N, L, W] for ids [N, L] (int64). */
  tokenEmbedding(ids: Tensor): Tensor {
    return tidy(() => {
      const [N, L] = ids.shape;
      return this.get('text_model.embeddings.token_embedding.weight').indexSelect(0, this.onDevice(ids).reshape([N * L])).view([N, L, this.arch.text.width]);
    });
  }

  /**
   * Text embeddings [N, E] (not normalised) from prompt embeddings [N, L, W]: pooled at each row's `pooled` position
   * (the last one: the tokenizer says so). Bidirectional: every position matters, so nothing is truncated
   * (`truncate` is accepted for the common interface and ignored).
   */
  encodeTextEmbeddings(embeddings: Tensor, pooled: number[], hooks: EncoderHooks = {}, _truncate = true): Tensor {
    return tidy(() => {
      const t = this.arch.text;
      const [N, L] = embeddings.shape;
      if (pooled.length !== N) throw new Error(`encodeText: ${pooled.length} pooled positions for ${N} prompts`);
      if (L > t.context_length) throw new Error(`encodeText: ${L} positions, the model has ${t.context_length}`);
      let x = this.onDevice(embeddings).as(this.dtype).add(this.get('text_model.embeddings.position_embedding.weight').narrow(0, 0, L));
      if (hooks.afterEmbedding) x = hooks.afterEmbedding(x);
      x = this.runBlocks(x, 'text_model.encoder.layers.', t.layers, t.heads, hooks);
      x = nn.layerNorm(x, this.get('text_model.final_layer_norm.weight'), this.get('text_model.final_layer_norm.bias'), this.arch.layer_norm_eps);
      const Lx = x.shape[1];
      const rows = tensor(pooled.map((e, i) => i * Lx + e), [N], 'int64', this.device === 'cpu' ? undefined : this.device);
      const last = x.reshape([N * Lx, t.width]).indexSelect(0, rows);
      return nn.linear(last, this.get('text_model.head.weight'), this.get('text_model.head.bias')).as(this.dtype);
    });
  }

  encodeText(ids: Tensor, pooled: number[]): Tensor {
    return tidy(() => this.encodeTextEmbeddings(this.tokenEmbedding(ids), pooled));
  }

  /** exp(logit_scale)·normalise(image)·normalise(text)ᵀ + logit_bias: [B, N]; sigmoid gives the probabilities. */
  logits(imageFeatures: Tensor, textFeatures: Tensor): Tensor {
    return tidy(() => nn.l2normalize(imageFeatures).matmul(nn.l2normalize(textFeatures).T).mul(Math.exp(this.logitScale)).add(this.logitBias));
  }
}

function placement(options: ClipLoadOptions): { precision: Precision; device: Device } {
  const p = options.precision ?? 'fp32';
  return { precision: typeof p === 'string' ? precisionPolicy(p) : p, device: options.device ?? 'cpu' };
}
