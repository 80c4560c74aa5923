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

/** What the learner needs of a tokenizer (a ClipTokenizer): BPE ids of a string, and clip.tokenize. */
export type Tokenizer = Pick<ClipTokenizer, 'encode' | 'tokenize'>;

/**
 * Token ids [N, contextLength] as clip.tokenize makes them, and each row's end-of-text index. A text longer
 * than the context is refused (clip.tokenize(truncate=True) would cut it and the prompts would train on a
 * cut sentence); `checkPromptLengths` says which flag or class name to shorten before anything runs.
 */
export function tokenIds(tok: Tokenizer, texts: string[], contextLength = 77): { ids: Tensor; eot: number[] } {
  const r = tok.tokenize(texts, { contextLength });
  return { ids: tensor(toInt64(r.ids), r.shape, 'int64'), eot: Array.from(r.eotIndex) };
}

/** The text prompts of a design for one class name `{}`, each with what the user changes to shorten it. */
function promptPatterns(design: MethodDesign, dataset: DatasetPrompt | undefined): Array<{ pattern: string; source: string; all: boolean }> {
  const d = design.text;
  const out: Array<{ pattern: string; source: string; all: boolean }> = [];
  if (d.kind === 'learned') out.push({ pattern: `${d.promptPrefix} {}.`, source: design.options.ctxInit ? '--ctx-init' : '--n-ctx', all: true });
  else for (const t of d.templates(dataset)) out.push({ pattern: t, source: design.options.template ? '--template' : `the template "${t}"`, all: true });
  // a teacher's templates are the official ones (short): only the longest class names can make them too long
  for (const t of design.teacher?.templates ?? []) out.push({ pattern: t, source: `the teacher template "${t}"`, all: false });
  return out;
}

const quoted = (s: string): string => JSON.stringify(s.length > 120 ? `${s.slice(0, 117)}...` : s);

/**
 * Refuses, in one line naming the token count, the limit and the flag (or class name) to shorten, any text
 * prompt of this design and these classes that CLIP's text context cannot hold. Tokenizer work only: the
 * CLI runs it before loading anything heavy, the learner whenever it builds its prompts.
 */
export function checkPromptLengths(
  design: MethodDesign,
  classnames: readonly string[],
  tokenizer: Pick<Tokenizer, 'encode'>,
  options: { dataset?: DatasetPrompt; contextLength?: number } = {},
): void {
  const limit = options.contextLength ?? 77;
  const count = (text: string) => tokenizer.encode(text).length + 2; // + start and end tokens
  const names = classnames.map((n) => n.replace(/_/g, ' '));
  const longest = [...names].sort((a, b) => tokenizer.encode(b).length - tokenizer.encode(a).length).slice(0, 5);
  for (const { pattern, source, all } of promptPatterns(design, options.dataset)) {
    // without {} every class would get the same text: the classes could not be told apart
    if (!pattern.includes('{}')) throw new UserError(`${source}: ${quoted(pattern)} has no {} where the class name goes; every class would get the same prompt`);
    const bare = count(fill(pattern, 'x'));
    if (bare > limit) {
      throw new UserError(`${source}: the prompt ${quoted(fill(pattern, '<class>'))} is ${bare} tokens with a one-token class name; CLIP's text context holds ${limit} (start and end tokens included): shorten ${source}`);
    }
    for (const name of all ? names : longest) {
      const text = fill(pattern, name);
      const n = count(text);
      if (n > limit) {
        throw new UserError(`class name ${quoted(name)}: the prompt ${quoted(text)} is ${n} tokens; CLIP's text context holds ${limit} (start and end tokens included): shorten the class name (an imagefolder's folder name, a jsonlist's "classname")${source.startsWith('--') ? ` or ${source}` : ''}`);
      }
    }
  }
}

export interface ForwardOutput {
  logits: Tensor;
  loss?: Tensor;
  /** with a method's extra loss terms (PromptSRC): every term (already weighted), `ce` and `total`, each a scalar */
  terms?: Record<string, Tensor>;
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
    checkPromptLengths(this.design, classnames, this.tokenizer, { dataset: this.datasetPrompt(), contextLength: this.model.arch.text.context_length });
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

  /** The learned prompts [C, L, W] for the current classes (text context inserted). */
  private textPrompts(): Tensor {
    const b = this.textBuffers!;
    const d = this.design.text;
    if (d.kind !== 'learned') throw new Error('no learned text prompt');
    const C = this._classnames.length;
    let ctx = this.params.get('prompt_learner.ctx')!.as(b.prefix.dtype);
    const W = this.model.textWidth;
    if (ctx.ndim === 2) ctx = ctx.unsqueeze(0).expand([C, d.nCtx, W]);
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

  /** Normalised text features [C, E] of the current prompts (not when the text is image-conditioned). */
  textFeatures(): Tensor {
    return tidy(() => {
      if (this.fixedText) return this.fixedText.clone();
      if (this.imageConditioned) throw new Error(`${this.method}: the class text depends on the image (imageConditioned); use forward()`);
      const b = this.textBuffers!;
      return nn.l2normalize(this.model.encodeTextEmbeddings(this.textPrompts(), b.eot, this.textHooks()));
    });
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

  /** CoCoOp: logits for each image with its own image-conditioned prompts. */
  private imageConditionedLogits(imageFeatures: Tensor): Tensor {
    const b = this.textBuffers!;
    const C = this._classnames.length;
    const W = this.model.textWidth;
    const [B] = imageFeatures.shape;
    const p = (k: string) => this.params.get(`prompt_learner.meta_net.${k}`)!;
    const bias = nn.linear(nn.linear(imageFeatures, p('linear1.weight'), p('linear1.bias')).relu(), p('linear2.weight'), p('linear2.bias')); // [B, W]
    const ctx = this.params.get('prompt_learner.ctx')!.as(b.prefix.dtype); // [n, W]
    const n = ctx.shape[0];
    const shifted = ctx.unsqueeze(0).add(bias.unsqueeze(1)); // [B, n, W]
    // all images' prompts in one text-encoder batch: [B·C, L, W]
    const ctxAll = shifted.unsqueeze(1).expand([B, C, n, W]).reshape([B * C, n, W]);
    const L = b.suffix.shape[1];
    const prompts = cat(
      [b.prefix.unsqueeze(0).expand([B, C, 1, W]).reshape([B * C, 1, W]), ctxAll, b.suffix.unsqueeze(0).expand([B, C, L, W]).reshape([B * C, L, W])],
      1,
    );
    const eot = Array.from({ length: B }, () => b.eot).flat();
    const text = nn.l2normalize(this.model.encodeTextEmbeddings(prompts, eot)).view([B, C, -1]);
    return imageFeatures.unsqueeze(1).bmm(text.transpose(1, 2)).squeeze(1).mul(this.scale);
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
      // logits, loss and accuracy in float32 whatever the precision (autocast's rule for the loss)
      const logits = (text ? img.matmul(text.T).mul(this.scale) : this.imageConditionedChunks(img)).as('float32');
      if (!labels) return { logits };
      const target = this.model.onDevice(labels);
      const ce = nn.crossEntropy(logits, target);
      if (!this.design.lossTerms) return { logits, loss: ce };
      return this.withLossTerms(onDevice, img.as('float32'), text!.as('float32'), logits, ce);
    });
  }

  private imageConditionedChunks(img: Tensor): Tensor {
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

