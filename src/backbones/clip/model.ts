/**
 * CLIP's two encoders over the engine, exact to openai/CLIP's `model.py` (ViT variant), in batch-first layout.
 *
 * The encoders know nothing about prompt-learning methods. They expose two hook points that prompt plans
 * (src/prompting) use to insert, carry and remove tokens:
 *   - `afterEmbedding(x)`: the sequence after the positional embedding (vision: before ln_pre), where
 *     shallow prompts are appended (so they get no positional embedding, as in the official code);
 *   - `beforeBlock(i, x)`: the sequence entering block i, where deep prompts are added/removed/replaced.
 * The text encoder can start from token embeddings built by a prompt learner (encodeTextEmbeddings).
 */
import {
  Generator,
  Tensor,
  cat,
  nn,
  ones,
  precision as precisionPolicy,
  precisionOfDtype,
  randn,
  tensor,
  tidy,
  zeros,
  type DType,
  type Device,
  type Precision,
  type PrecisionName,
} from '../../torch/index.js';
import { residualBlock, type BlockWeights } from './transformer.js';
import { expectedShapes, type ClipConfig } from './config.js';

/** The architecture (src/backbones/clip/config.ts): widths, layers, heads, patch and image size, text context. */
export type ClipArchitecture = ClipConfig;

/** A stored tensor as the weight readers return it: raw little-endian bytes, contiguous. */
export interface RawTensorLike {
  dtype: DType;
  shape: number[];
  data: Uint8Array;
}

export interface EncoderHooks {
  /** the sequence after the positional embedding ([B, L, D]); return the (possibly longer) sequence */
  afterEmbedding?(x: Tensor): Tensor;
  /** the sequence entering block `layer` (0-based); return the sequence the block should see */
  beforeBlock?(layer: number, x: Tensor): Tensor;
  /** observer: the sequence length entering each block, after beforeBlock (for `mpl plan` and tests) */
  onBlockInput?(layer: number, length: number): void;
}

interface VisionWeights {
  conv1: Tensor; // [W, 3, P, P]
  classEmbedding: Tensor; // [W]
  positionalEmbedding: Tensor; // [1 + g², W]
  lnPreWeight: Tensor;
  lnPreBias: Tensor;
  blocks: BlockWeights[];
  lnPostWeight: Tensor;
  lnPostBias: Tensor;
  proj: Tensor; // [W, E]
}

interface TextWeights {
  tokenEmbedding: Tensor; // [V, W]
  positionalEmbedding: Tensor; // [C, W]
  blocks: BlockWeights[];
  lnFinalWeight: Tensor;
  lnFinalBias: Tensor;
  projection: Tensor; // [W, E]
}

function blockKeys(prefix: string): Record<string, string> {
  return {
    ln1Weight: `${prefix}.ln_1.weight`,
    ln1Bias: `${prefix}.ln_1.bias`,
    inProjWeight: `${prefix}.attn.in_proj_weight`,
    inProjBias: `${prefix}.attn.in_proj_bias`,
    outProjWeight: `${prefix}.attn.out_proj.weight`,
    outProjBias: `${prefix}.attn.out_proj.bias`,
    ln2Weight: `${prefix}.ln_2.weight`,
    ln2Bias: `${prefix}.ln_2.bias`,
    fcWeight: `${prefix}.mlp.c_fc.weight`,
    fcBias: `${prefix}.mlp.c_fc.bias`,
    projWeight: `${prefix}.mlp.c_proj.weight`,
    projBias: `${prefix}.mlp.c_proj.bias`,
  };
}

export interface ClipLoadOptions {
  /** numerical precision (src/torch/precision.ts): fp32 (default), fp16, amp or bf16 */
  precision?: PrecisionName | Precision;
  /** @deprecated the older spelling of precision: float32 = fp32, float16 = fp16, bfloat16 = bf16 */
  dtype?: DType;
  /** 'cpu' (default), 'cuda', 'cuda:N' -- resolve user input with resolveDevice() first */
  device?: Device;
  /** every weight requires grad (contrastive pretraining, src/pretrain); prompt learning keeps them frozen */
  trainable?: boolean;
}

/** The precision policy and device of load options. */
function placement(options: ClipLoadOptions): { precision: Precision; device: Device } {
  const p = options.precision ?? (options.dtype ? precisionOfDtype(options.dtype) : 'fp32');
  return { precision: typeof p === 'string' ? precisionPolicy(p) : p, device: options.device ?? 'cpu' };
}

/**
 * The dtype a canonical weight is stored in under a precision: matrices of the matmuls and convolutions
 * (and their biases) in the matmul dtype, layer-norm parameters in float32, embeddings in the activation
 * dtype -- OpenAI's convert_weights split for fp16, autocast's for amp and bf16 (a weight converted once at
 * load, not at every use).
 */
export function storageDtype(name: string, p: Precision): DType {
  if (/(^|\.)ln_[^.]*\.(weight|bias)$/.test(name)) return 'float32';
  if (/(conv1|attn\.in_proj_weight|attn\.in_proj_bias|attn\.out_proj\.|mlp\.c_fc\.|mlp\.c_proj\.|^visual\.proj$|^text_projection$)/.test(name)) return p.matmul;
  return p.activation;
}

export class ClipModel {
  private constructor(
    readonly arch: ClipArchitecture,
    private readonly visual: VisionWeights,
    private readonly text: TextWeights,
    /** the stored logit_scale (a log); logits use exp(logit_scale) */
    readonly logitScale: number,
    readonly precision: Precision,
    readonly device: Device,
    private readonly owned: Tensor[],
    private readonly named: Map<string, Tensor>,
  ) {}

  /** the side of the square images the vision encoder takes (224 for ViT-B/16, 336 for ViT-L/14@336px) */
  get imageSize(): number {
    return this.arch.vision.image_size;
  }

  /** dtype of the activations (residual streams, features; float32 except in fp16) */
  get dtype(): DType {
    return this.precision.activation;
  }

  /**
   * Builds the model from tensors under canonical OpenAI key names (src/backbones/clip/weights.ts produces them from
   * OpenAI, open_clip or Hugging Face files). Every tensor is checked against the architecture's shapes.
   */
  static fromTensors(arch: ClipArchitecture, tensors: Map<string, RawTensorLike>, options: ClipLoadOptions = {}): ClipModel {
    const { precision, device } = placement(options);
    const owned: Tensor[] = [];
    const shapes = expectedShapes(arch);
    const get = (name: string): Tensor => {
      const raw = tensors.get(name);
      if (!raw) throw new Error(`missing tensor ${name}`);
      const want = shapes.get(name)!;
      if (raw.shape.join(',') !== want.join(',')) {
        throw new Error(`tensor ${name} has shape [${raw.shape}], expected [${want}]`);
      }
      const dtype = storageDtype(name, precision);
      const t = tidy(() => {
        const stored = tensor(raw.data, raw.shape, raw.dtype);
        return stored.dtype === dtype && device === 'cpu' ? stored : stored.to(dtype, device);
      }).keep();
      owned.push(t);
      return t;
    };
    return ClipModel.assemble(arch, get, precision, device, owned, options.trainable, () => {
      const raw = tensors.get('logit_scale');
      if (!raw) throw new Error('missing tensor logit_scale');
      return tidy(() => tensor(raw.data, raw.shape, raw.dtype).to('float32').item());
    });
  }

  /**
   * A CLIP with random weights (N(0, 0.02) matrices, unit layer norms, logit_scale ln(1/0.07)) for benchmarks
   * and tests of speed or plumbing; never for accuracy.
   */
  static random(arch: ClipArchitecture, seed = 0, options: ClipLoadOptions = {}): ClipModel {
    const { precision, device } = placement(options);
    const g = new Generator(seed);
    const owned: Tensor[] = [];
    const shapes = expectedShapes(arch);
    const get = (name: string): Tensor => {
      const shape = shapes.get(name)!;
      const t = tidy(() => {
        let x: Tensor;
        if (/ln_|ln\d|_norm/.test(name) && name.endsWith('weight')) x = ones(shape);
        else if (name.endsWith('bias')) x = zeros(shape);
        else x = randn(shape, g).mul(0.02);
        const dtype = storageDtype(name, precision);
        return x.dtype === dtype && device === 'cpu' ? x : x.to(dtype, device);
      }).keep();
      owned.push(t);
      return t;
    };
    return ClipModel.assemble(arch, get, precision, device, owned, options.trainable, () => Math.log(1 / 0.07));
  }

  private static assemble(
    arch: ClipArchitecture,
    load: (name: string) => Tensor,
    precision: Precision,
    device: Device,
    owned: Tensor[],
    trainable: boolean | undefined,
    logitScale: () => number,
  ): ClipModel {
    const named = new Map<string, Tensor>();
    const get = (name: string): Tensor => {
      const t = load(name);
      if (trainable) t.requiresGrad_(true);
      named.set(name, t);
      return t;
    };
    try {
      const block = (prefix: string): BlockWeights => {
        const k = blockKeys(prefix);
        return {
          ln1Weight: get(k.ln1Weight),
          ln1Bias: get(k.ln1Bias),
          attn: {
            inProjWeight: get(k.inProjWeight),
            inProjBias: get(k.inProjBias),
            outProjWeight: get(k.outProjWeight),
            outProjBias: get(k.outProjBias),
          },
          ln2Weight: get(k.ln2Weight),
          ln2Bias: get(k.ln2Bias),
          fcWeight: get(k.fcWeight),
          fcBias: get(k.fcBias),
          projWeight: get(k.projWeight),
          projBias: get(k.projBias),
        };
      };
      const visual: VisionWeights = {
        conv1: get('visual.conv1.weight'),
        classEmbedding: get('visual.class_embedding'),
        positionalEmbedding: get('visual.positional_embedding'),
        lnPreWeight: get('visual.ln_pre.weight'),
        lnPreBias: get('visual.ln_pre.bias'),
        blocks: Array.from({ length: arch.vision.layers }, (_, i) => block(`visual.transformer.resblocks.${i}`)),
        lnPostWeight: get('visual.ln_post.weight'),
        lnPostBias: get('visual.ln_post.bias'),
        proj: get('visual.proj'),
      };
      const text: TextWeights = {
        tokenEmbedding: get('token_embedding.weight'),
        positionalEmbedding: get('positional_embedding'),
        blocks: Array.from({ length: arch.text.layers }, (_, i) => block(`transformer.resblocks.${i}`)),
        lnFinalWeight: get('ln_final.weight'),
        lnFinalBias: get('ln_final.bias'),
        projection: get('text_projection'),
      };
      return new ClipModel(arch, visual, text, logitScale(), precision, device, owned, named);
    } catch (e) {
      for (const t of owned) t.dispose();
      throw e;
    }
  }

  /** Frees every weight and the cached attention masks. */
  dispose(): void {
    for (const t of this.owned) t.dispose();
    this.owned.length = 0;
    for (const m of this.maskCache.values()) m.dispose();
    this.maskCache.clear();
  }

  /** Number of parameters (every stored tensor, logit_scale included, as PyTorch counts them). */
  get parameterCount(): number {
    let n = 1; // logit_scale
    for (const t of this.owned) n += t.numel;
    return n;
  }

  get visionWidth(): number {
    return this.arch.vision.width;
  }
  get textWidth(): number {
    return this.arch.text.width;
  }
  /** Number of image tokens (class token + patches) before any prompt. */
  get visionTokens(): number {
    const g = this.arch.vision.image_size / this.arch.vision.patch_size;
    return g * g + 1;
  }

  // ---- vision -----------------------------------------------------------------------------------

  /** Image features [B, E] (not normalised, in the activation dtype) for preprocessed images [B, 3, S, S]. */
  encodeImage(images: Tensor, hooks: EncoderHooks = {}): Tensor {
    return tidy(() => {
      const v = this.visual;
      const W = this.arch.vision.width;
      const P = this.arch.vision.patch_size;
      const input = this.onDevice(images);
      const B = input.shape[0];
      const patches = nn.conv2d(input, v.conv1, null, [P, P]).as(this.dtype); // [B, W, g, g]
      const n = patches.shape[2] * patches.shape[3];
      let x = patches.reshape([B, W, n]).permute([0, 2, 1]); // [B, n, W]
      x = cat([v.classEmbedding.view([1, 1, W]).expand([B, 1, W]), x], 1);
      x = x.add(v.positionalEmbedding);
      if (hooks.afterEmbedding) x = hooks.afterEmbedding(x);
      x = nn.layerNorm(x, v.lnPreWeight, v.lnPreBias);
      x = this.runBlocks(x, v.blocks, this.arch.vision.heads, null, hooks);
      const cls = nn.layerNorm(x.select(1, 0), v.lnPostWeight, v.lnPostBias);
      return cls.as(v.proj.dtype).matmul(v.proj).as(this.dtype);
    });
  }

  /** A tensor on this model's device (a non-blocking copy when it comes from the CPU). */
  onDevice(t: Tensor): Tensor {
    return t.device === this.device || (this.device === 'cuda' && t.device === 'cuda:0') ? t : t.to(null, this.device, true);
  }

  // ---- text -------------------------------------------------------------------------------------

  /** Token embeddings [N, L, W] for token ids [N, L] (int64). */
  tokenEmbedding(ids: Tensor): Tensor {
    return tidy(() => {
      const [N, L] = ids.shape;
      return this.text.tokenEmbedding.indexSelect(0, this.onDevice(ids).reshape([N * L])).view([N, L, this.arch.text.width]);
    });
  }

  /**
   * Text features [N, E] (not normalised) from prompt embeddings [N, L, W] and the end-of-text position of
   * each row. The text encoder is causal, so nothing after the last end-of-text token can change the
   * pooled features: the sequence is cut to max(eot)+1 tokens before the transformer (exact, and several
   * times less compute than the fixed 77). `truncate: false` runs the full length (for tests).
   */
  encodeTextEmbeddings(embeddings: Tensor, eot: number[], hooks: EncoderHooks = {}, truncate = true): Tensor {
    return tidy(() => {
      const t = this.text;
      const [N, L0] = embeddings.shape;
      if (eot.length !== N) throw new Error(`encodeText: ${eot.length} end-of-text positions for ${N} prompts`);
      const L = truncate ? Math.min(L0, Math.max(...eot) + 1) : L0;
      let x = L < L0 ? embeddings.narrow(1, 0, L) : embeddings;
      x = this.onDevice(x).as(this.dtype);
      x = x.add(t.positionalEmbedding.narrow(0, 0, L));
      if (hooks.afterEmbedding) x = hooks.afterEmbedding(x);
      // fused attention applies the causal rule itself; the composed path needs the additive mask
      const mask = nn.isFusedAttention() ? null : this.causalMask(x.shape[1]);
      x = this.runBlocks(x, t.blocks, this.arch.text.heads, mask, hooks, true);
      x = nn.layerNorm(x, t.lnFinalWeight, t.lnFinalBias);
      const Lx = x.shape[1];
      const rows = tensor(eot.map((e, i) => i * Lx + e), [N], 'int64', this.device === 'cpu' ? undefined : this.device);
      const pooled = x.reshape([N * Lx, this.arch.text.width]).indexSelect(0, rows);
      return pooled.as(t.projection.dtype).matmul(t.projection).as(this.dtype);
    });
  }

  /** Text features [N, E] for token ids [N, L] (int64) with their end-of-text positions. */
  encodeText(ids: Tensor, eot: number[], truncate = true): Tensor {
    return tidy(() => this.encodeTextEmbeddings(this.tokenEmbedding(ids), eot, {}, truncate));
  }

  // ---- logits -----------------------------------------------------------------------------------

  /** exp(logit_scale) · normalise(image) · normalise(text)ᵀ: [B, N]. */
  logits(imageFeatures: Tensor, textFeatures: Tensor): Tensor {
    return tidy(() =>
      nn.l2normalize(imageFeatures).matmul(nn.l2normalize(textFeatures).T).mul(Math.exp(this.logitScale)),
    );
  }

  // ---- internals --------------------------------------------------------------------------------

  /** causal masks by sequence length: buffers, not parameters (not in `owned`, so never counted as weights) */
  private maskCache = new Map<number, Tensor>();

  private causalMask(length: number): Tensor {
    let m = this.maskCache.get(length);
    if (!m) {
      // in the dtype of the attention scores (the matmul dtype)
      const dtype = this.precision.matmul;
      m = tidy(() => {
        const mask = nn.causalMask(length);
        return mask.dtype === dtype && this.device === 'cpu' ? mask : mask.to(dtype, this.device);
      }).keep();
      this.maskCache.set(length, m);
    }
    return m;
  }

  private runBlocks(x: Tensor, blocks: BlockWeights[], heads: number, mask: Tensor | null, hooks: EncoderHooks, causal = false): Tensor {
    // Each block's input is disposed once consumed (never the caller's x): the scope would otherwise hold
    // every layer's activations until the end of the encoder. Autograd keeps what backward needs.
    let cur = x;
    for (let i = 0; i < blocks.length; i++) {
      if (hooks.beforeBlock) {
        const next = hooks.beforeBlock(i, cur);
        if (next !== cur && cur !== x) cur.dispose();
        cur = next;
      }
      hooks.onBlockInput?.(i, cur.shape[1]);
      const out = residualBlock(cur, blocks[i], heads, mask, causal);
      if (cur !== x) cur.dispose();
      cur = out;
    }
    return cur;
  }

  /** Every weight tensor (for memory accounting). */
  weights(): Tensor[] {
    return [...this.owned];
  }

  /**
   * The weights under their canonical OpenAI names (the tensors themselves, not copies; logit_scale is the
   * number `logitScale`), for saving a pretrained model with src/io/safetensors.ts.
   */
  namedWeights(): Map<string, Tensor> {
    return new Map(this.named);
  }

  /** @internal block weights, for benchmarks that time one block */
  blockWeights(which: 'vision' | 'text', i: number): BlockWeights {
    return (which === 'vision' ? this.visual.blocks : this.text.blocks)[i];
  }

}
