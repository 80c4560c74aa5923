/**
 * A prompt learner: a method's design bound to a loaded CLIP and a set of class names. It owns the
 * trainable tensors (under the official state-dict keys), builds the text prompts, runs both encoders with
 * the plan's hooks, and computes logits and the method's loss.
 */
import { ClipModel, type EncoderHooks } from '../clip/model.js';
import { toInt64, type ClipTokenizer } from '../clip/tokenizer.js';
import { Generator, Tensor, cat, nn, noGrad, randn, rand, tensor, tidy, type DType } from '../torch/index.js';
import { UserError } from '../util/errors.js';
import { createdInModelDtype, designMethod, type DatasetPrompt, type MethodDesign, type MethodName, type MethodOptions, type ParamSpec } from './methods/index.js';
import { planLayout, validatePlan, type PromptPlan, type Source } from './plan.js';
import type { PlanLayout } from './layout.js';
import { loadPrompts as readPromptsFile, type PromptsConfig } from './checkpoint.js';
import { DEFAULT_TEMPLATE, datasetPrompt, fill } from './templates.js';
import { blockedForwardBackward, blocksByLength, encodeRows, type BlockStats, type RowText } from './class-text.js';

/** What the learner needs of a tokenizer (a ClipTokenizer): BPE ids of a string, and clip.tokenize. */
export type Tokenizer = Pick<ClipTokenizer, 'encode' | 'tokenize'>;

/** Token ids [N, contextLength] as clip.tokenize(truncate=True) makes them, and each row's end-of-text index. */
export function tokenIds(tok: Tokenizer, texts: string[], contextLength = 77): { ids: Tensor; eot: number[] } {
  const r = tok.tokenize(texts, { truncate: true, contextLength });
  return { ids: tensor(toInt64(r.ids), r.shape, 'int64'), eot: Array.from(r.eotIndex) };
}

export interface ForwardOutput {
  logits: Tensor;
  loss?: Tensor;
  /** with a method's extra loss terms (PromptSRC): every term (already weighted), `ce` and `total`, each a scalar */
  terms?: Record<string, Tensor>;
}

/**
 * How the text tower's work over many classes is cut (src/prompting/class-text.ts). Not a method option: any
 * setting gives the same features and gradients (to fp32 rounding), only time and memory change.
 */
export interface TextMemory {
  /** classes per block: at most this many prompt tokens (classes × the block's longest prompt); default 1024 */
  blockTokens: number;
  /**
   * bytes of text-tower activations a training step may keep for its backward pass (default 1 GiB, or
   * $MPL_TEXT_MEMORY_MB); blocks beyond it are recomputed in the backward pass instead
   */
  keepBytes: number;
}

/** The default TextMemory: 1,024-token blocks, 1 GiB of kept activations (MPL_TEXT_MEMORY_MB overrides it). */
export function defaultTextMemory(): TextMemory {
  const mb = process.env.MPL_TEXT_MEMORY_MB;
  const n = mb === undefined || mb === '' ? NaN : Number(mb);
  if (mb !== undefined && mb !== '' && !(Number.isFinite(n) && n >= 0)) {
    throw new UserError(`MPL_TEXT_MEMORY_MB must be a non-negative number of MiB, got '${mb}'`);
  }
  return { blockTokens: 1024, keepBytes: Number.isFinite(n) ? n * 2 ** 20 : 2 ** 30 };
}

export interface LearnerOptions extends MethodOptions {
  /**
   * the dataset whose zero-shot template hand-crafted prompts use: a loaded dataset (it carries its
   * template), or a dataset name; none = "a photo of a {}."
   */
  dataset?: string | DatasetPrompt;
  /** seed of the parameter initialisation */
  seed?: number;
}

export class PromptLearner {
  readonly design: MethodDesign;
  readonly plan: PromptPlan;
  readonly params = new Map<string, Tensor>();
  private textBuffers: { prefix: Tensor; suffix: Tensor; eot: number[]; nameLens: number[] } | null = null;
  private fixedText: Tensor | null = null; // normalised, for zero-shot / VPT
  private teacherText: Tensor | null = null; // a frozen teacher's normalised template-ensemble features
  private _classnames: string[] = [];
  /** the vision sequence length entering each block in the last forward pass */
  lastVisionLengths: number[] = [];
  /** how the text tower's work over many classes is cut (time and memory only; the numbers do not change) */
  textMemory: TextMemory = defaultTextMemory();
  /** the text tower's blocks in the last forwardBackward (all kept when it ran as one plain pass) */
  lastTextBlocks: BlockStats | null = null;

  constructor(
    readonly model: ClipModel,
    readonly tokenizer: Tokenizer,
    method: MethodName,
    classnames: string[],
    readonly options: LearnerOptions = {},
  ) {
    this.design = designMethod(method, options, model.arch);
    this.plan = this.design.plan;
    validatePlan(this.plan, model.arch);
    this.initParams(options.seed ?? 1, classnames.length);
    this.setClassnames(classnames);
  }

  get method(): MethodName {
    return this.design.method;
  }
  get classnames(): string[] {
    return this._classnames;
  }
  get trainableParameters(): number {
    let n = 0;
    for (const t of this.params.values()) n += t.numel;
    return n;
  }
  parameters(): Tensor[] {
    return [...this.params.values()];
  }
  layout(): PlanLayout {
    return planLayout(this.plan, this.model.arch, this.trainableParameters, textWordsOf(this.design, this.tokenizer));
  }

  // ---- parameters -------------------------------------------------------------------------------

  private initParams(seed: number, nClasses: number): void {
    const g = new Generator(seed);
    for (const spec of this.design.params) {
      // drawn on the CPU (the generator's stream is the device-independent one), then placed
      const t = tidy(() => this.initOne(spec, g, nClasses).to(this.paramDtype(spec.key), this.model.device)).keep();
      t.requiresGrad = true;
      this.params.set(spec.key, t);
    }
  }

  /**
   * The dtype a trainable tensor is stored and updated in: float32 (master weights) except under the
   * official fp16 recipe, where the tensors the official trainers create in CLIP's dtype are half.
   */
  paramDtype(key: string): DType {
    return this.model.precision.halfPrompts && createdInModelDtype(key) ? this.model.precision.activation : 'float32';
  }

  private initOne(spec: ParamSpec, g: Generator, nClasses: number): Tensor {
    const shape = spec.shape.map((s) => (s === -1 ? nClasses : s));
    const init = spec.init;
    const dtype: DType = this.paramDtype(spec.key);
    switch (init.kind) {
      case 'words': {
        // embeddings of the context words (or "X" placeholders): token positions 1..n of the prompt prefix
        const d = this.design.text;
        if (d.kind !== 'learned') throw new Error('word init without a text prompt');
        const { ids } = tokenIds(this.tokenizer, [d.promptPrefix]);
        return noGrad(() => this.model.tokenEmbedding(ids).select(0, 0).narrow(0, 1, d.nCtx).clone());
      }
      case 'normal':
        return randn(shape, g).mul(init.std).to(dtype);
      case 'linear-weight':
      case 'linear-bias': {
        if (init.cloneOf) {
          const src = this.params.get(init.cloneOf);
          if (!src) throw new Error(`clone source ${init.cloneOf} not initialised before ${spec.key}`);
          return src.detach().clone();
        }
        // nn.Linear's default: kaiming_uniform(a=√5) for the weight, U(±1/√fan_in) for the bias — both U(±1/√fan_in)
        const bound = 1 / Math.sqrt(init.fanIn);
        return rand(shape, g).mul(2 * bound).sub(bound).to(dtype);
      }
    }
  }

  /** The trainable tensors under the official state-dict keys. */
  stateDict(): Map<string, Tensor> {
    return new Map(this.params);
  }

  /**
   * Loads tensors by key (copies; extra keys such as token_prefix/suffix are ignored like the official
   * load_model with strict=False, but a missing or mis-shaped trainable tensor is an error naming it).
   */
  loadStateDict(tensors: Map<string, { dtype: DType; shape: number[]; data: Uint8Array } | Tensor>, origin = 'state dict'): void {
    for (const [key, p] of this.params) {
      const src = tensors.get(key);
      if (!src) throw new UserError(`${origin}: missing tensor ${key} for method ${this.method}`);
      if (src.shape.join(',') !== p.shape.join(',')) {
        throw new UserError(`${origin}: tensor ${key} has shape [${src.shape}], method ${this.method} with these options needs [${p.shape}]`);
      }
      // copy_ converts dtype and device
      noGrad(() => tidy(() => void p.copy_(src instanceof Tensor ? src : tensor(src.data, src.shape, src.dtype))));
    }
  }

  /**
   * Loads learned prompts from a file: prompts.safetensors written by savePrompts (or a run), any safetensors
   * with official keys, or an official Dassl checkpoint (model.pth.tar-N). Returns the config saved beside
   * the file (method, options, classes), when there is one; a file of another method is refused.
   */
  loadPrompts(file: string): PromptsConfig | null {
    const loaded = readPromptsFile(file);
    if (loaded.config && loaded.config.method !== this.method) {
      throw new UserError(`${file}: prompts of method ${loaded.config.method}, but this learner is ${this.method}`);
    }
    this.loadStateDict(loaded.tensors, file);
    return loaded.config;
  }

  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    this.params.clear();
    this.disposeText();
  }

  private disposeText(): void {
    this.textBuffers?.prefix.dispose();
    this.textBuffers?.suffix.dispose();
    this.textBuffers = null;
    this.fixedText?.dispose();
    this.fixedText = null;
    this.teacherText?.dispose();
    this.teacherText = null;
  }

  // ---- text prompts -----------------------------------------------------------------------------

  /** Sets the classes (e.g. base → new) and rebuilds the frozen parts of the text prompts. */
  setClassnames(classnames: string[]): void {
    if (classnames.length === 0) throw new UserError('no class names');
    if (this.design.text.kind === 'learned' && this.design.text.csc && this.textBuffers && classnames.length !== this._classnames.length) {
      throw new UserError('class-specific context (CSC) prompts cannot be moved to a different number of classes');
    }
    this.disposeText();
    this._classnames = classnames;
    const names = classnames.map((n) => n.replace(/_/g, ' '));
    const d = this.design.text;
    noGrad(() => {
      if (d.kind === 'learned') {
        const prompts = names.map((n) => `${d.promptPrefix} ${n}.`);
        const { ids, eot } = tokenIds(this.tokenizer, prompts);
        const L = Math.max(...eot) + 1; // nothing after the last end token matters (causal text encoder)
        const emb = tidy(() => this.model.tokenEmbedding(ids.narrow(1, 0, L)));
        ids.dispose();
        // tidy: the narrow views themselves are handles too (they leaked once per call before)
        const prefix = tidy(() => emb.narrow(1, 0, 1).contiguous()).keep();
        const suffix = tidy(() => emb.narrow(1, 1 + d.nCtx, L - 1 - d.nCtx).contiguous()).keep();
        emb.dispose();
        this.textBuffers = { prefix, suffix, eot, nameLens: names.map((n) => this.tokenizer.encode(n).length) };
      } else {
        this.fixedText = this.templateFeatures(names, d.templates(this.datasetPrompt())).keep();
      }
      const teacher = this.design.teacher;
      if (teacher) {
        // the frozen teacher: mean of the un-normalised features over its templates, then normalised
        this.teacherText = tidy(() => {
          const feats = teacher.templates.map((t) => this.encodeFixed(names.map((n) => fill(t, n))));
          const mean = feats.reduce((a, b) => a.add(b)).div(feats.length);
          return nn.l2normalize(mean);
        }).keep();
      }
    });
  }

  /** What the dataset tells hand-crafted prompts (its template), when the learner was given one. */
  private datasetPrompt(): DatasetPrompt | undefined {
    const d = this.options.dataset;
    return typeof d === 'string' ? datasetPrompt(d) : d;
  }

  /** Un-normalised frozen text features [N, E] of plain strings. */
  private encodeFixed(texts: string[]): Tensor {
    return tidy(() => {
      const { ids, eot } = tokenIds(this.tokenizer, texts);
      return this.model.encodeText(ids, eot);
    });
  }

  /** Normalised features of each class, averaged over templates (ZeroshotCLIP2 rule), re-normalised. */
  private templateFeatures(names: string[], templates: string[]): Tensor {
    return tidy(() => {
      const per = templates.map((t) => nn.l2normalize(this.encodeFixed(names.map((n) => fill(t, n)))));
      return per.length === 1 ? per[0] : nn.l2normalize(per.reduce((a, b) => a.add(b)).div(per.length));
    });
  }

  /** Resolves a token source to a [count, width] tensor (in the current scope). */
  private resolve(src: Source): Tensor {
    const get = (k: string) => {
      const t = this.params.get(k);
      if (!t) throw new Error(`plan refers to unknown parameter ${k}`);
      return t;
    };
    if (src.kind === 'param') return get(src.key);
    return nn.linear(get(src.input), get(src.weight), get(src.bias));
  }

  private textHooks(): EncoderHooks {
    const steps = new Map(this.plan.text.steps.map((s) => [s.layer, s]));
    const n = this.plan.text.ctxTokens;
    return {
      beforeBlock: (layer, x) => {
        const s = steps.get(layer);
        if (!s) return x;
        const [N, L, W] = x.shape;
        const p = this.resolve(s.replace.source).as(x.dtype).unsqueeze(0).expand([N, n, W]);
        return cat([x.narrow(1, 0, 1), p, x.narrow(1, 1 + n, L - 1 - n)], 1);
      },
    };
  }

  private visionHooks(): EncoderHooks {
    const steps = new Map(this.plan.vision.steps.map((s) => [s.layer, s]));
    const lengths: number[] = [];
    const groups = (gs: { source: Source }[]) => (gs.length === 1 ? this.resolve(gs[0].source) : cat(gs.map((g) => this.resolve(g.source).as(this.model.dtype)), 0));
    return {
      afterEmbedding: (x) => {
        if (this.plan.vision.shallow.length === 0) return x;
        const [B, , W] = x.shape;
        const p = groups(this.plan.vision.shallow).as(x.dtype);
        return cat([x, p.unsqueeze(0).expand([B, p.shape[0], W])], 1);
      },
      beforeBlock: (layer, x) => {
        const s = steps.get(layer);
        if (!s) return x;
        const [B, L, W] = x.shape;
        const kept = s.remove ? x.narrow(1, 0, L - s.remove) : x; // O_rm: drop the most recent prompts; O_carry: the rest
        if (s.add.length === 0) return kept;
        const p = groups(s.add).as(x.dtype); // O_add: new prompts at the end
        return cat([kept, p.unsqueeze(0).expand([B, p.shape[0], W])], 1);
      },
      onBlockInput: (layer, length) => {
        lengths[layer] = length;
        if (layer === this.model.arch.vision.layers - 1) this.lastVisionLengths = lengths.slice();
      },
    };
  }

  /**
   * The learned prompts [n, L, W] of the given classes (all of them, in order, by default), text context
   * inserted. L is the longest of these prompts (the causal encoder needs nothing after it).
   */
  private textPrompts(classes?: number[]): Tensor {
    const all = this.textBuffers!;
    const d = this.design.text;
    if (d.kind !== 'learned') throw new Error('no learned text prompt');
    let ctx = this.params.get('prompt_learner.ctx')!.as(all.prefix.dtype);
    const b = classes ? this.buffersOf(classes) : all;
    const C = classes ? classes.length : this._classnames.length;
    const W = this.model.textWidth;
    if (ctx.ndim === 2) ctx = ctx.unsqueeze(0).expand([C, d.nCtx, W]);
    else if (classes) ctx = ctx.indexSelect(0, this.classIndex(classes)); // class-specific context (CSC)
    if (d.position === 'end') return cat([b.prefix, ctx, b.suffix], 1);
    // CoOp's middle/front positions: per class, the class-name tokens move next to the context
    const rows: Tensor[] = [];
    for (let i = 0; i < C; i++) {
      const len = b.nameLens[i];
      const pre = b.prefix.narrow(0, i, 1);
      const cls = b.suffix.narrow(0, i, 1).narrow(1, 0, len);
      const rest = b.suffix.narrow(0, i, 1).narrow(1, len, b.suffix.shape[1] - len);
      const c = ctx.narrow(0, i, 1);
      if (d.position === 'middle') {
        const half = Math.floor(d.nCtx / 2);
        rows.push(cat([pre, c.narrow(1, 0, half), cls, c.narrow(1, half, d.nCtx - half), rest], 1));
      } else {
        rows.push(cat([pre, cls, c, rest], 1));
      }
    }
    return cat(rows, 0);
  }

  /** Class indices as an int64 tensor on the model's device (in the current scope). */
  private classIndex(classes: number[]): Tensor {
    const device = this.model.device;
    return tensor(BigInt64Array.from(classes, (c) => BigInt(c)), [classes.length], 'int64', device === 'cpu' ? undefined : device);
  }

  /** The frozen prompt parts of some classes, cut to the longest of their prompts (in the current scope). */
  private buffersOf(classes: number[]): { prefix: Tensor; suffix: Tensor; eot: number[]; nameLens: number[] } {
    const b = this.textBuffers!;
    const idx = this.classIndex(classes);
    const eot = classes.map((c) => b.eot[c]);
    const suffixLen = Math.max(...eot) + 1 - (b.prefix.shape[1] + this.ctxTokens()); // prefix, context, then the rest
    return {
      prefix: b.prefix.indexSelect(0, idx),
      suffix: b.suffix.indexSelect(0, idx).narrow(1, 0, suffixLen),
      eot,
      nameLens: classes.map((c) => b.nameLens[c]),
    };
  }

  private ctxTokens(): number {
    const d = this.design.text;
    return d.kind === 'learned' ? d.nCtx : 0;
  }

  // ---- features and logits ----------------------------------------------------------------------

  /**
   * Whether the class text depends on each image (CoCoOp's meta-net): then there are no `textFeatures()` to
   * compute once, and every batch runs `forward`.
   */
  get imageConditioned(): boolean {
    return this.design.metaNet !== undefined;
  }

  /**
   * The weights of each epoch's prompts in the prompts training ends with (Σ_e w_e·θ_e: PromptSRC's Gaussian
   * prompt aggregation), or null when training ends with the last epoch's prompts.
   */
  epochWeights(epochs: number): number[] | null {
    return this.design.epochWeights?.(epochs) ?? null;
  }

  /**
   * Normalised text features [C, E] of the current prompts (not when the text is image-conditioned). Many
   * classes are encoded in blocks of similar prompt length (TextMemory.blockTokens): less padding, bounded
   * memory without a graph, the same features.
   */
  textFeatures(): Tensor {
    return tidy(() => {
      if (this.fixedText) return this.fixedText.clone();
      if (this.imageConditioned) throw new Error(`${this.method}: the class text depends on the image (imageConditioned); use forward()`);
      return encodeRows(this.classText());
    });
  }

  /**
   * The class prompts as rows for src/prompting/class-text.ts: the normalised features of any set of classes,
   * blocks of similar length, and the activation bytes a block's graph keeps.
   */
  private classText(): RowText {
    const b = this.textBuffers!;
    const C = this._classnames.length;
    const lengths = b.eot.map((e) => e + 1);
    const blocks = blocksByLength(lengths, this.textMemory.blockTokens);
    const whole = blocks.length === 1; // one block: the plain computation, no reordering
    return {
      rows: C,
      blocks: whole ? [Array.from({ length: C }, (_, i) => i)] : blocks,
      encode: (rows) =>
        tidy(() => {
          const all = whole && rows.length === C;
          const eot = all ? b.eot : rows.map((c) => b.eot[c]);
          return nn.l2normalize(this.model.encodeTextEmbeddings(this.textPrompts(all ? undefined : rows), eot, this.textHooks()));
        }),
      graphBytes: (rows) => this.textGraphBytes(rows.length, Math.max(...rows.map((c) => lengths[c]))),
    };
  }

  /**
   * The bytes autograd keeps for `n` prompts of `length` tokens through the text tower: per token and layer
   * the block's saved tensors (layer-norm inputs and outputs, q/k/v, the attention output, the MLP's hidden
   * layer three times: about 20 widths) and the attention probabilities (heads × length), in the activation
   * dtype. An estimate that decides which blocks keep their graph; the measured figures are in docs/scale.md.
   */
  private textGraphBytes(n: number, length: number): number {
    const t = this.model.arch.text;
    const bytes = this.model.dtype === 'float32' ? 4 : 2;
    return n * length * t.layers * (20 * t.width + t.heads * length) * bytes;
  }

  /** Normalised image features [B, E] with the plan's vision prompts. */
  imageFeatures(images: Tensor): Tensor {
    return tidy(() => nn.l2normalize(this.model.encodeImage(images, this.visionHooks())));
  }

  private get scale(): number {
    return Math.exp(this.model.logitScale);
  }

  /** Logits [B, C] (float32) from normalised image features and a precomputed text-feature matrix (evaluation). */
  logitsWithText(images: Tensor, textFeatures: Tensor): Tensor {
    return tidy(() => this.imageFeatures(images).matmul(textFeatures.T).mul(this.scale).as('float32'));
  }

  /**
   * CoCoOp's prompts as rows (row = image · C + class) for src/prompting/class-text.ts: each image's meta-net
   * shifts the context of its classes' prompts. The image features must hold no graph (CoCoOp's image encoder
   * has no prompts), so a block can be recomputed on its own.
   */
  private imageConditionedText(imageFeatures: Tensor): RowText {
    const b = this.textBuffers!;
    const C = this._classnames.length;
    const [B] = imageFeatures.shape;
    const lengths = Array.from({ length: B * C }, (_, r) => b.eot[r % C] + 1);
    return {
      rows: B * C,
      blocks: blocksByLength(lengths, this.textMemory.blockTokens),
      encode: (rows) =>
        tidy(() => {
          const classes = rows.map((r) => r % C);
          const images = [...new Set(rows.map((r) => Math.floor(r / C)))].sort((a, b) => a - b); // all B: the identity
          const slot = new Map(images.map((im, i) => [im, i]));
          const p = (k: string) => this.params.get(`prompt_learner.meta_net.${k}`)!;
          const feats = images.length === B ? imageFeatures : imageFeatures.indexSelect(0, this.classIndex(images));
          const bias = nn.linear(nn.linear(feats, p('linear1.weight'), p('linear1.bias')).relu(), p('linear2.weight'), p('linear2.bias')); // [images, W]
          const ctx = this.params.get('prompt_learner.ctx')!.as(b.prefix.dtype); // [n, W]
          const shifted = ctx.unsqueeze(0).add(bias.unsqueeze(1)); // [images, n, W]
          const perRow = shifted.indexSelect(0, this.classIndex(rows.map((r) => slot.get(Math.floor(r / C))!))); // [rows, n, W]
          const part = this.buffersOf(classes);
          const prompts = cat([part.prefix, perRow, part.suffix], 1);
          return nn.l2normalize(this.model.encodeTextEmbeddings(prompts, part.eot));
        }),
      graphBytes: (rows) => this.textGraphBytes(rows.length, Math.max(...rows.map((r) => lengths[r]))),
    };
  }

  /** CoCoOp: logits for each image with its own image-conditioned prompts. */
  private imageConditionedLogits(imageFeatures: Tensor, text?: Tensor): Tensor {
    const [B] = imageFeatures.shape;
    const C = this._classnames.length;
    const features = (text ?? encodeRows(this.imageConditionedText(imageFeatures))).view([B, C, -1]);
    return imageFeatures.unsqueeze(1).bmm(features.transpose(1, 2)).squeeze(1).mul(this.scale);
  }

  /**
   * The method's forward pass. With labels: training mode, returns the loss (cross-entropy plus the method's
   * extra loss terms, e.g. PromptSRC's self-regulating ones). Without: evaluation-mode logits.
   */
  forward(images: Tensor, labels?: Tensor): ForwardOutput {
    return tidy(() => {
      const onDevice = this.model.onDevice(images);
      const img = this.imageFeatures(onDevice);
      const text = this.design.metaNet ? null : this.textFeatures();
      return this.head(onDevice, img, text, labels);
    });
  }

  /**
   * A training step's forward and backward in one: the output of forward(images, labels), and in every
   * trainable tensor's .grad what `scaleLoss(loss).backward()` (default: the loss itself) would accumulate.
   * With many classes the text tower runs in blocks and keeps the activations of only as many classes as
   * `textMemory.keepBytes` allows; the others are recomputed block by block in the backward pass
   * (src/prompting/class-text.ts), so memory does not grow with the classes and the gradients are the same.
   */
  forwardBackward(images: Tensor, labels: Tensor, scaleLoss?: (loss: Tensor) => Tensor): ForwardOutput {
    return tidy(() => {
      const onDevice = this.model.onDevice(images);
      const img = this.imageFeatures(onDevice);
      const conditioned = this.design.metaNet !== undefined;
      const finish = (out: ForwardOutput) => ({ backward: scaleLoss ? scaleLoss(out.loss!) : out.loss!, result: out });
      // nothing to learn in the text (hand-crafted prompts), or a meta-net fed by image features with a graph
      // (no method has both today): one plain pass
      const rows = this.fixedText || (conditioned && img.requiresGrad) ? null : conditioned ? this.imageConditionedText(img) : this.classText();
      const plainPass = !rows || (rows.blocks.length === 1 && rows.graphBytes(rows.blocks[0]) <= this.textMemory.keepBytes);
      const head = (text: Tensor | null) => finish(conditioned ? this.head(onDevice, img, null, labels, text ?? undefined) : this.head(onDevice, img, text ?? this.textFeatures(), labels));
      if (plainPass) {
        this.lastTextBlocks = rows ? { blocks: rows.blocks.length, kept: rows.blocks.length, recomputed: 0 } : null;
        const { backward, result } = head(rows ? encodeRows(rows) : null);
        backward.backward();
        return result;
      }
      this.lastTextBlocks = { blocks: 0, kept: 0, recomputed: 0 };
      return blockedForwardBackward(rows, this.textMemory.keepBytes, head, this.lastTextBlocks);
    });
  }

  /**
   * Logits (and with labels the loss and its terms) from the image features and the class text features
   * (image-independent text), or CoCoOp's image-conditioned text (`conditionedText` [B·C, E], computed here
   * when not given).
   */
  private head(images: Tensor, img: Tensor, text: Tensor | null, labels?: Tensor, conditionedText?: Tensor): ForwardOutput {
    // logits, loss and accuracy in float32 whatever the precision (autocast's rule for the loss)
    const logits = (text ? img.matmul(text.T).mul(this.scale) : this.imageConditionedChunks(img, conditionedText)).as('float32');
    if (!labels) return { logits };
    const target = this.model.onDevice(labels);
    const ce = nn.crossEntropy(logits, target);
    if (!this.design.lossTerms) return { logits, loss: ce };
    return this.withLossTerms(images, img.as('float32'), text!.as('float32'), logits, ce);
  }

  private imageConditionedChunks(img: Tensor, text?: Tensor): Tensor {
    if (text) return this.imageConditionedLogits(img, text);
    // bound memory at evaluation: at most 8 images' prompt sets at once
    const B = img.shape[0];
    if (B <= 8) return this.imageConditionedLogits(img);
    const parts: Tensor[] = [];
    for (let s = 0; s < B; s += 8) parts.push(this.imageConditionedLogits(img.narrow(0, s, Math.min(8, B - s))));
    return cat(parts, 0);
  }

  /** The cross-entropy plus the design's extra loss terms, summed in the order the method lists them. */
  private withLossTerms(images: Tensor, img: Tensor, text: Tensor, logits: Tensor, ce: Tensor): ForwardOutput {
    let teacher = null;
    if (this.teacherText) {
      const teacherText = this.teacherText.as('float32');
      let image: Tensor | null = null;
      // the frozen CLIP: the same model without prompts (no hooks), no graph; computed once when a term asks
      teacher = { text: teacherText, image: () => (image ??= noGrad(() => nn.l2normalize(this.model.encodeImage(images).as('float32')))) };
    }
    const terms = this.design.lossTerms!({ images, imageFeatures: img, textFeatures: text, logits, scale: this.scale, teacher });
    const total = Object.values(terms).reduce((sum, t) => sum.add(t), ce);
    return { logits, loss: total, terms: { ce, ...terms, total } };
  }

  /** The frozen teacher's class text features (normalised), for tests and inspection; null without a teacher. */
  teacherTextFeatures(): Tensor | null {
    return this.teacherText;
  }
}

/**
 * The fixed tokens of a method's text prompt around the learnable context, for layouts: the words after the
 * context (the rest of the template, a one-token class name, the full stop). Hand-crafted prompts count
 * their template's tokens.
 */
export function textWordsOf(design: MethodDesign, tokenizer: Tokenizer): { before: number; after: number } {
  const d = design.text;
  if (d.kind === 'fixed') return { before: tokenizer.encode(fill(design.options.template ?? DEFAULT_TEMPLATE, 'class')).length, after: 0 };
  return { before: 0, after: tokenizer.encode(`${d.promptPrefix} class.`).length - d.nCtx };
}

