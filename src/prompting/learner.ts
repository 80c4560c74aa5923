/**
 * A prompt learner: a method's design bound to a loaded CLIP and a set of class names. It owns the
 * trainable tensors (under the official state-dict keys), builds the text prompts, runs both encoders with
 * the plan's hooks, and computes logits and the method's loss.
 */
import type { EncoderHooks } from '../backbones/clip/model.js';
import { toInt64 } from '../backbones/clip/tokenizer.js';
import { traitsOf } from '../backbones/index.js';
import type { BackboneModel, TextTokenizer } from '../backbones/model.js';
import { Generator, Tensor, cat, nn, noGrad, randn, rand, tensor, tidy, zeros, type DType } from '../torch/index.js';
import { UserError } from '../util/errors.js';
import { createdInModelDtype, designMethod, methodDef, type DatasetPrompt, type MethodDesign, type MethodName, type MethodOptions, type ParamSpec } from './methods/index.js';
import { planLayout, validatePlan, type PromptPlan, type Source } from './plan.js';
import type { PlanLayout } from './layout.js';
import { loadPrompts as readPromptsFile, type PromptsConfig } from './checkpoint.js';
import { DEFAULT_TEMPLATE, datasetPrompt, fill } from './templates.js';
import { blockedForwardBackward, blocksByLength, encodeRows, type BlockStats, type RowText } from './class-text.js';

/** What the learner needs of a tokenizer (ClipTokenizer, SiglipTokenizer): ids of a string, and fixed-length rows. */
export type Tokenizer = TextTokenizer;

/**
 * Token ids [N, contextLength] as clip.tokenize makes them (or the family's tokenizer: SigLIP's fixed-length rows),
 * and each row's pooled position (CLIP: the end-of-text token; SigLIP: the last position). A text longer than the
 * context is refused (clip.tokenize(truncate=True) would cut it and the prompts would train on a cut sentence);
 * `checkPromptLengths` says which flag or class name to shorten before anything runs. `contextLength`: the model's
 * text positions (default: the tokenizer's own, 77 for CLIP).
 */
export function tokenIds(tok: Tokenizer, texts: string[], contextLength?: number): { ids: Tensor; eot: number[] } {
  const r = tok.tokenize(texts, contextLength ? { contextLength } : {});
  return { ids: tensor(toInt64(r.ids), r.shape, 'int64'), eot: Array.from(r.eotIndex) };
}

/** The text prompts of a design for one class name `{}`, each with what the user changes to shorten it. */
function promptPatterns(design: MethodDesign, dataset: DatasetPrompt | undefined): Array<{ pattern: string; source: string; all: boolean }> {
  const d = design.text;
  const out: Array<{ pattern: string; source: string; all: boolean }> = [];
  if (d.kind === 'learned') out.push({ pattern: `${d.promptPrefix} {}.`, source: design.options.ctxInit ? '--ctx-init' : '--n-ctx', all: true });
  else if (d.kind === 'fixed') for (const t of d.templates(dataset)) out.push({ pattern: t, source: design.options.template ? '--template' : `the template "${t}"`, all: true });
  // a teacher's templates are the official ones (short): only the longest class names can make them too long
  for (const t of design.teacher?.templates ?? []) out.push({ pattern: t, source: `the teacher template "${t}"`, all: false });
  return out;
}

const quoted = (s: string): string => JSON.stringify(s.length > 120 ? `${s.slice(0, 117)}...` : s);

/**
 * Refuses, in one line naming the token count, the limit and the flag (or class name) to shorten, any text
 * prompt of this design and these classes that the model's text context cannot hold. Tokenizer work only: the
 * CLI runs it before loading anything heavy, the learner whenever it builds its prompts.
 */
export function checkPromptLengths(
  design: MethodDesign,
  classnames: readonly string[],
  tokenizer: Pick<Tokenizer, 'encode'> & { prefixTokens?: number },
  options: { dataset?: DatasetPrompt; contextLength?: number } = {},
): void {
  const limit = options.contextLength ?? 77;
  // + the start token (CLIP's; SigLIP's tokenizer says it has none) and the end token
  const count = (text: string) => tokenizer.encode(text).length + (tokenizer.prefixTokens ?? 1) + 1;
  // CLIP's tokenizer adds a start token; SigLIP's (prefixTokens 0) does not
  const holds = tokenizer.prefixTokens === 0 ? `the model's text context holds ${limit} (the end token included)` : `CLIP's text context holds ${limit} (start and end tokens included)`;
  const names = classnames.map((n) => n.replace(/_/g, ' '));
  const longest = [...names].sort((a, b) => tokenizer.encode(b).length - tokenizer.encode(a).length).slice(0, 5);
  for (const { pattern, source, all } of promptPatterns(design, options.dataset)) {
    // without {} every class would get the same text: the classes could not be told apart
    if (!pattern.includes('{}')) throw new UserError(`${source}: ${quoted(pattern)} has no {} where the class name goes; every class would get the same prompt`);
    const bare = count(fill(pattern, 'x'));
    if (bare > limit) {
      throw new UserError(`${source}: the prompt ${quoted(fill(pattern, '<class>'))} is ${bare} tokens with a one-token class name; ${holds}: shorten ${source}`);
    }
    for (const name of all ? names : longest) {
      const text = fill(pattern, name);
      const n = count(text);
      if (n > limit) {
        throw new UserError(`class name ${quoted(name)}: the prompt ${quoted(text)} is ${n} tokens; ${holds}: shorten the class name (an imagefolder's folder name, a jsonlist's "classname")${source.startsWith('--') ? ` or ${source}` : ''}`);
      }
    }
  }
}

export interface ForwardOutput {
  logits: Tensor;
  loss?: Tensor;
  /**
   * with a method's extra loss terms (PromptSRC): every term (already weighted), `ce` and `total`, each a
   * scalar; a gradient-projection guide (ProGrad's `kl`) is listed but not in `loss` (nor a `total`)
   */
  terms?: Record<string, Tensor>;
  /** with gradient projection (the design's `gradientProjection`): the guide loss (see train/step.ts) */
  guide?: Tensor;
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

/** The tensors of a learner that are not trained by gradients but made from data (Tip-Adapter's cache). */
export const CACHE_KEYS = 'cache_keys';
export const CACHE_VALUES = 'cache_values';

export class PromptLearner {
  private _design: MethodDesign;
  /** what the dataset whose classes are set tells the design (its template, its Dassl name), when known */
  private dataset: DatasetPrompt | undefined;
  readonly params = new Map<string, Tensor>();
  /**
   * State made from the training data rather than trained by gradients, saved with the prompts: Tip-Adapter's
   * cache, `cache_keys` [E, N] (normalised, transposed as the official keys file) and `cache_values` [N, C] (one-hot);
   * Tip-Adapter-F keeps its keys as built beside the trained ones (`adapter.weight`, a parameter).
   */
  readonly buffers = new Map<string, Tensor>();
  /**
   * Hyper-parameters chosen on validation data when fitting (Tip-Adapter's alpha and beta, the linear probe's C,
   * Tip-Adapter-F's best epoch): saved with the prompts and in result.json; the head uses alpha and beta.
   */
  fitted: Record<string, number> = {};
  /**
   * The classes the head's weights or the cache's values are indexed by (the classes it was fitted on), and for
   * each current class its row among them (-1: not among them); null while the current classes are those.
   */
  private headClasses: string[];
  private headIndex: number[] | null = null;
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
  /** text tokens before the learnable context: CLIP's start token (1), none in SigLIP (0) */
  private readonly textPrefix: number;

  constructor(
    readonly model: BackboneModel,
    readonly tokenizer: Tokenizer,
    method: MethodName,
    classnames: string[],
    readonly options: LearnerOptions = {},
  ) {
    this.dataset = typeof options.dataset === 'string' ? datasetPrompt(options.dataset) : options.dataset;
    this._design = designMethod(method, options, model.arch, this.dataset);
    this.textPrefix = traitsOf(model.arch).textStartToken ? 1 : 0;
    this.checkContextWords();
    validatePlan(this.plan, model.arch);
    this.headClasses = classnames.slice();
    try {
      this.initParams(options.seed ?? 1, classnames.length);
      this.setClassnames(classnames);
    } catch (e) {
      this.dispose(); // refused prompts (too long, ...): free the tensors made so far, nothing is handed out
      throw e;
    }
  }

  /** the method on this model for the current dataset (a design may read the dataset: KgCoOp's and ProGrad's templates) */
  get design(): MethodDesign {
    return this._design;
  }
  get plan(): PromptPlan {
    return this._design.plan;
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
      if (spec.init.kind === 'cache-keys') continue; // made with the cache (setCache, or loaded)
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
        const { ids } = tokenIds(this.tokenizer, [d.promptPrefix], this.contextLength);
        const words = noGrad(() => this.model.tokenEmbedding(ids).select(0, 0).narrow(0, this.textPrefix, d.nCtx).clone());
        // ProGrad: zeros in front of the template words' embeddings (the prefix's "X" placeholders stand there)
        const z = init.zeros ?? 0;
        return z ? cat([zeros([z, words.shape[1]], words.dtype, words.device), words.narrow(0, z, d.nCtx - z)], 0) : words;
      }
      case 'normal':
        return randn(shape, g).mul(init.std).to(dtype);
      case 'zeros':
        return zeros(shape, dtype);
      case 'cache-keys':
        throw new Error(`${spec.key} is made from the cache, not initialised`);
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

  /** Everything a prompts file holds: the trainable tensors and the buffers made from data (the cache). */
  savedTensors(): Map<string, Tensor> {
    return new Map([...this.params, ...this.buffers]);
  }

  /** The classes the head or cache was fitted on (the learner's classes for every other method). */
  get trainedClassnames(): string[] {
    return this.design.featureCache || this.design.linearProbe ? this.headClasses.slice() : this._classnames.slice();
  }

  /**
   * Loads tensors by key (copies; extra keys such as token_prefix/suffix are ignored like the official
   * load_model with strict=False, but a missing or mis-shaped trainable tensor is an error naming it).
   */
  loadStateDict(tensors: Map<string, { dtype: DType; shape: number[]; data: Uint8Array } | Tensor>, origin = 'state dict'): void {
    // a prompts file holds the cache; a training checkpoint only the trained tensors of a cache built already
    if (this.design.featureCache && (tensors.has(CACHE_VALUES) || this.cacheSize === 0)) this.loadCache(tensors, origin);
    // an official checkpoint of a trainer that registers one sub-module (CLIP-Adapter's `adapter`) lacks its prefix
    const prefix = methodDef(this.method).dassl.modulePrefix;
    for (const [key, p] of this.params) {
      const src = tensors.get(key) ?? (prefix && key.startsWith(prefix) ? tensors.get(key.slice(prefix.length)) : undefined);
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
    this.loadSaved(loaded, file);
    return loaded.config;
  }

  /**
   * Loads what a prompts file or package holds: its tensors (loadStateDict) and what was chosen on validation
   * data (Tip-Adapter's α and β, the linear probe's C), which is part of the classifier.
   */
  loadSaved(saved: { tensors: Map<string, { dtype: DType; shape: number[]; data: Uint8Array } | Tensor>; fitted?: Record<string, number> }, origin: string): void {
    this.loadStateDict(saved.tensors, origin);
    this.fitted = { ...(saved.fitted ?? {}) };
  }

  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    this.params.clear();
    for (const t of this.buffers.values()) t.dispose();
    this.buffers.clear();
    this.disposeText();
  }

  // ---- the feature cache (Tip-Adapter) ---------------------------------------------------------------

  /**
   * Sets the cache from the training images' keys [N, E] (normalised features, averaged over the augmented
   * passes) and their labels (indices into the current classes): `cache_keys` [E, N], `cache_values` [N, C]
   * one-hot, and Tip-Adapter-F's trainable keys (the adapter's weight, a copy of the keys). The current classes
   * become the classes the cache's values are indexed by.
   */
  setCache(keys: Tensor, labels: readonly number[]): void {
    const cache = this.design.featureCache;
    if (!cache) throw new Error(`${this.method} has no feature cache`);
    const [N, E] = keys.shape;
    if (E !== this.model.arch.embed_dim || N !== labels.length) throw new Error(`setCache: keys [${keys.shape}] for ${labels.length} labels and embedding ${this.model.arch.embed_dim}`);
    const C = this._classnames.length;
    if (labels.some((y) => !Number.isInteger(y) || y < 0 || y >= C)) throw new Error(`setCache: labels must be class indices 0..${C - 1}`);
    this.disposeCache();
    noGrad(() => {
      const k = tidy(() => keys.as('float32').to(null, this.model.device).contiguous());
      this.buffers.set(CACHE_KEYS, tidy(() => k.T.contiguous()).keep());
      const y = tensor(BigInt64Array.from(labels, (v) => BigInt(v)), [N], 'int64', this.model.device);
      this.buffers.set(CACHE_VALUES, tidy(() => y.oneHot(C).as('float32')).keep());
      y.dispose();
      if (cache.trainableKeys) {
        const w = k.clone().keep();
        w.requiresGrad = true;
        this.params.set(cache.trainableKeys, w);
      }
      k.dispose();
    });
    this.headClasses = this._classnames.slice();
    this.headIndex = null;
  }

  /** The number of cache entries (0 before the cache is built). */
  get cacheSize(): number {
    return this.buffers.get(CACHE_VALUES)?.shape[0] ?? 0;
  }

  private disposeCache(): void {
    for (const k of [CACHE_KEYS, CACHE_VALUES]) {
      this.buffers.get(k)?.dispose();
      this.buffers.delete(k);
    }
    const trainable = this.design.featureCache?.trainableKeys;
    if (trainable && this.params.has(trainable)) {
      this.params.get(trainable)!.dispose();
      this.params.delete(trainable);
    }
  }

  /** The cache of a prompts file: its size comes from the file, its values' classes are the learner's classes. */
  private loadCache(tensors: Map<string, { dtype: DType; shape: number[]; data: Uint8Array } | Tensor>, origin: string): void {
    const cache = this.design.featureCache!;
    const get = (k: string) => {
      const t = tensors.get(k);
      if (!t) throw new UserError(`${origin}: missing tensor ${k} for method ${this.method}`);
      return t instanceof Tensor ? t : tensor(t.data, t.shape, t.dtype);
    };
    const values = get(CACHE_VALUES);
    const E = this.model.arch.embed_dim;
    const [N, C] = values.shape;
    const fail = (why: string): never => {
      if (!(tensors.get(CACHE_VALUES) instanceof Tensor)) values.dispose();
      throw new UserError(`${origin}: ${why}`);
    };
    if (values.ndim !== 2 || C !== this._classnames.length) fail(`${CACHE_VALUES} has shape [${values.shape}], the cache of ${this._classnames.length} classes needs [N, ${this._classnames.length}]`);
    const keysShape = cache.trainableKeys ? [N, E] : [E, N];
    const keysKey = cache.trainableKeys ?? CACHE_KEYS;
    const keys = tensors.get(keysKey);
    if (!keys) fail(`missing tensor ${keysKey} for method ${this.method}`);
    if (keys!.shape.join(',') !== keysShape.join(',')) fail(`tensor ${keysKey} has shape [${keys!.shape}], a cache of ${N} entries needs [${keysShape}]`);
    this.disposeCache();
    noGrad(() => {
      this.buffers.set(CACHE_VALUES, tidy(() => values.as('float32').to(null, this.model.device).contiguous()).keep());
      if (!(tensors.get(CACHE_VALUES) instanceof Tensor)) values.dispose();
      const k = tidy(() => get(keysKey).as('float32').to(null, this.model.device).contiguous().clone()).keep();
      if (cache.trainableKeys) {
        k.requiresGrad = true;
        this.params.set(cache.trainableKeys, k);
        // the keys as built (official keys_<K>shots.pt); a file without them: the trained ones stand in
        const built = tensors.get(CACHE_KEYS);
        const shaped = built && built.shape.join(',') === [E, N].join(',');
        this.buffers.set(CACHE_KEYS, tidy(() => (shaped ? get(CACHE_KEYS).as('float32').to(null, this.model.device) : k.detach().T).contiguous().clone()).keep());
      } else this.buffers.set(CACHE_KEYS, k);
    });
    this.headClasses = this._classnames.slice();
    this.headIndex = null;
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

  /**
   * Sets the classes (e.g. base → new) and rebuilds the frozen parts of the text prompts. With `dataset` (a
   * loaded dataset or a dataset name), the classes are that dataset's: its template and whatever the method's
   * design reads of it follow, as the official code builds its model for each evaluated dataset.
   */
  setClassnames(classnames: string[], dataset?: string | DatasetPrompt): void {
    if (classnames.length === 0) throw new UserError('no class names');
    if (dataset !== undefined) this.useDataset(typeof dataset === 'string' ? datasetPrompt(dataset) : dataset);
    if (this.design.text.kind === 'learned' && this.design.text.csc && this.textBuffers && classnames.length !== this._classnames.length) {
      throw new UserError('class-specific context (CSC) prompts cannot be moved to a different number of classes');
    }
    checkPromptLengths(this.design, classnames, this.tokenizer, { dataset: this.datasetPrompt(), contextLength: this.model.arch.text.context_length });
    this.mapHead(classnames);
    this.disposeText();
    this._classnames = classnames;
    const names = classnames.map((n) => n.replace(/_/g, ' '));
    const d = this.design.text;
    noGrad(() => {
      if (d.kind === 'none') {
        // no class text: the head's weights are the classifier
      } else if (d.kind === 'learned') {
        const prompts = names.map((n) => `${d.promptPrefix} ${n}.`);
        const { ids, eot } = tokenIds(this.tokenizer, prompts, this.contextLength);
        const L = Math.max(...eot) + 1; // nothing after the last end token matters (causal text encoder)
        const emb = tidy(() => this.model.tokenEmbedding(ids.narrow(1, 0, L)));
        ids.dispose();
        // tidy: the narrow views themselves are handles too (they leaked once per call before)
        const p0 = this.textPrefix;
        const prefix = tidy(() => emb.narrow(1, 0, p0).contiguous()).keep();
        const suffix = tidy(() => emb.narrow(1, p0 + d.nCtx, L - p0 - d.nCtx).contiguous()).keep();
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

  /**
   * Maps new classes onto the head's (by name): the linear probe classifies only the classes it was fitted on
   * (another is an error naming it); the cache adds nothing to a class it holds no image of.
   */
  private mapHead(classnames: string[]): void {
    if (!this.design.featureCache && !this.design.linearProbe) return;
    const same = classnames.length === this.headClasses.length && classnames.every((c, i) => c === this.headClasses[i]);
    if (same) {
      this.headIndex = null;
      return;
    }
    const index = classnames.map((c) => this.headClasses.indexOf(c));
    if (this.design.linearProbe) {
      const missing = classnames.filter((_, i) => index[i] < 0);
      if (missing.length) {
        throw new UserError(
          `${this.method} classifies only the ${this.headClasses.length} classes it was fitted on; ${missing.length} of the ${classnames.length} asked ` +
            `(${missing.slice(0, 3).map((m) => `'${m}'`).join(', ')}${missing.length > 3 ? ', ...' : ''}) are not among them`,
        );
      }
    }
    this.headIndex = index;
  }

  /** What the dataset tells hand-crafted prompts (its template), when the learner was given one. */
  private datasetPrompt(): DatasetPrompt | undefined {
    return this.dataset;
  }

  /** Re-designs the method for another dataset; its trainable tensors never depend on the dataset (checked). */
  private useDataset(dataset: DatasetPrompt): void {
    const design = designMethod(this.method, this.options, this.model.arch, dataset);
    const shapes = (d: MethodDesign) => JSON.stringify(d.params.map((p) => [p.key, p.shape]));
    if (shapes(design) !== shapes(this._design)) throw new Error(`${this.method}: the trainable tensors depend on the dataset`);
    validatePlan(design.plan, this.model.arch);
    this._design = design;
    this.dataset = dataset;
  }

  /** Un-normalised frozen text features [N, E] of plain strings. */
  private encodeFixed(texts: string[]): Tensor {
    return tidy(() => {
      const { ids, eot } = tokenIds(this.tokenizer, texts, this.contextLength);
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
        const p0 = this.textPrefix;
        return catTokens([x.narrow(1, 0, p0), p, x.narrow(1, p0 + n, L - p0 - n)]);
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
    if (d.position === 'end') return catTokens([b.prefix, ctx, b.suffix]);
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
        rows.push(catTokens([pre, c.narrow(1, 0, half), cls, c.narrow(1, half, d.nCtx - half), rest]));
      } else {
        rows.push(catTokens([pre, cls, c, rest]));
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
   * Whether evaluation runs `forward` per batch, with no class text to compute once: the text depends on each
   * image (CoCoOp), or there is none (the linear probe, whose weights are its classifier).
   */
  get perBatchForward(): boolean {
    return this.imageConditioned || this.design.text.kind === 'none';
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
      if (this.design.text.kind === 'none') throw new Error(`${this.method} has no class text (perBatchForward); use forward()`);
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

  /** Image features [B, E] with the plan's vision prompts, not normalised (the linear probe's input; the cache's before averaging). */
  rawImageFeatures(images: Tensor): Tensor {
    return this.model.encodeImage(images, this.visionHooks());
  }

  /** Normalised image features [B, E] with the plan's vision prompts (and CLIP-Adapter's adapter, before normalising). */
  imageFeatures(images: Tensor): Tensor {
    return tidy(() => nn.l2normalize(this.adapted(this.rawImageFeatures(images))));
  }

  /** CLIP-Adapter: ratio·relu(relu(f·W1ᵀ)·W2ᵀ) + (1 − ratio)·f, in float32; other methods: f unchanged. */
  private adapted(f: Tensor): Tensor {
    const a = this.design.imageAdapter;
    if (!a) return f;
    const x = f.as('float32');
    const [w1, w2] = a.weights.map((k) => this.params.get(k)!.as('float32'));
    const h = nn.linear(nn.linear(x, w1, null).relu(), w2, null).relu();
    return h.mul(a.ratio).add(x, 1 - a.ratio);
  }

  private get scale(): number {
    return this.design.logitScale ?? Math.exp(this.model.logitScale);
  }

  /** + SigLIP's logit bias (its logits are exp(scale)·cos + bias; a cross-entropy over classes is unchanged by it) */
  private withBias(scaled: Tensor): Tensor {
    const b = this.model.logitBias;
    return b ? scaled.add(b) : scaled;
  }

  /** the model's text positions */
  private get contextLength(): number {
    return this.model.arch.text.context_length;
  }

  /**
   * A learned context takes the first nCtx tokens of its words ("X X X X", "a photo of a"): one token per word.
   * CLIP keeps the official code's behaviour (the first nCtx BPE tokens, whatever the words); another family has
   * no official code to follow, so words that are not one token each are refused instead of being cut silently.
   */
  private checkContextWords(): void {
    const d = this.design.text;
    if (d.kind !== 'learned' || this.textPrefix === 1) return;
    const words = d.promptPrefix.trim().split(/\s+/).slice(0, d.nCtx).join(' ');
    const n = this.tokenizer.encode(words).length;
    if (n !== d.nCtx) {
      throw new UserError(`method ${this.method}: the context words "${words}" are ${n} tokens for this model's tokenizer, not ${d.nCtx} (one per word): choose --ctx-init words that are one token each, or --ctx-init "" for a random context`);
    }
  }

  /** Logits [B, C] (float32) from normalised image features and a precomputed text-feature matrix (evaluation). */
  logitsWithText(images: Tensor, textFeatures: Tensor): Tensor {
    return tidy(() => this.headLogits(this.imageFeatures(images), textFeatures));
  }

  /**
   * Logits [B, C] (float32) from normalised image features [B, E]: scale·f·textᵀ, plus Tip-Adapter's cache
   * logits α·exp(−β(1 − f·keysᵀ))·values (the fitted α and β once searched).
   */
  headLogits(img: Tensor, text: Tensor, alpha?: number, beta?: number): Tensor {
    const clip = this.textLogits(img, text);
    if (!this.design.featureCache) return clip;
    const a = alpha ?? this.fitted.alpha ?? this.design.featureCache.alpha;
    const b = beta ?? this.fitted.beta ?? this.design.featureCache.beta;
    return clip.add(this.cacheLogits(img.as('float32'), b), a);
  }

  /** scale·f·textᵀ (+ SigLIP's bias) [B, C] (float32): the text classifier's logits (the scale is exp(logit_scale), or the design's). */
  textLogits(img: Tensor, text: Tensor): Tensor {
    return this.withBias(img.matmul(text.as(img.dtype).T).mul(this.scale)).as('float32');
  }

  /** Tip-Adapter's affinity f·keysᵀ [B, N] (Tip-Adapter-F: the trainable keys, adapter(f)). */
  cacheAffinity(img: Tensor): Tensor {
    const cache = this.design.featureCache!;
    if (cache.trainableKeys) {
      const w = this.params.get(cache.trainableKeys);
      if (!w) throw new UserError(`${this.method}: the cache is not built yet (train() builds it from the training images; loadPrompts() reads it)`);
      return img.matmul(w.T);
    }
    const keys = this.buffers.get(CACHE_KEYS);
    if (!keys) throw new UserError(`${this.method}: the cache is not built yet (train() builds it from the training images; loadPrompts() reads it)`);
    return img.matmul(keys);
  }

  /** exp(−β(1 − A))·values [B, C]: the cache's logits for the current classes (zero for a class it holds no image of). */
  cacheLogits(img: Tensor, beta: number, affinity?: Tensor): Tensor {
    const A = affinity ?? this.cacheAffinity(img);
    return A.mul(beta).sub(beta).exp().matmul(this.currentValues());
  }

  /** The cache's one-hot values [N, C] for the current classes. */
  private currentValues(): Tensor {
    const values = this.buffers.get(CACHE_VALUES)!;
    if (!this.headIndex) return values;
    const [N, C] = values.shape;
    const padded = cat([values, zeros([N, 1], 'float32', this.model.device)], 1);
    const idx = tensor(BigInt64Array.from(this.headIndex, (i) => BigInt(i < 0 ? C : i)), [this.headIndex.length], 'int64', this.model.device);
    return padded.indexSelect(1, idx);
  }

  /** The linear probe's logits f·coefᵀ + intercept [B, C] (float32) for un-normalised features f, rows of the current classes. */
  probeLogits(raw: Tensor): Tensor {
    const p = this.design.linearProbe!;
    let w = this.params.get(p.weights)!;
    let b = this.params.get(p.bias)!;
    if (this.headIndex) {
      const idx = tensor(BigInt64Array.from(this.headIndex, (i) => BigInt(i)), [this.headIndex.length], 'int64', this.model.device);
      w = w.indexSelect(0, idx);
      b = b.indexSelect(0, idx);
    }
    return nn.linear(raw.as(w.dtype), w, b).as('float32');
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
          const prompts = catTokens([part.prefix, perRow, part.suffix]);
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
    return this.withBias(imageFeatures.unsqueeze(1).bmm(features.transpose(1, 2)).squeeze(1).mul(this.scale));
  }

  /**
   * The method's forward pass. With labels: training mode, returns the loss (cross-entropy plus the method's
   * extra loss terms, e.g. PromptSRC's self-regulating ones). Without: evaluation-mode logits.
   */
  forward(images: Tensor, labels?: Tensor): ForwardOutput {
    return tidy(() => {
      const onDevice = this.model.onDevice(images);
      if (this.design.linearProbe) {
        const logits = this.probeLogits(this.rawImageFeatures(onDevice));
        return labels ? { logits, loss: nn.crossEntropy(logits, this.model.onDevice(labels)) } : { logits };
      }
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
      if (this.design.linearProbe || this.design.text.kind === 'none' || this.design.gradientProjection) {
        // no class text (the linear probe), or two backward passes over one graph (ProGrad's projection, which
        // train/step.ts runs on forward()'s output): the plain pass
        const out = this.forward(images, labels);
        if (!this.design.gradientProjection) (scaleLoss ? scaleLoss(out.loss!) : out.loss!).backward();
        this.lastTextBlocks = null;
        return out;
      }
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
    const logits = (text ? this.headLogits(img, text) : this.imageConditionedChunks(img, conditionedText)).as('float32');
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

  /**
   * The cross-entropy plus the design's extra loss terms, summed in the order the method lists them (a
   * gradient-projection guide apart: it is returned as `guide`, not summed).
   */
  private withLossTerms(images: Tensor, img: Tensor, text: Tensor, logits: Tensor, ce: Tensor): ForwardOutput {
    let teacher = null;
    if (this.teacherText) {
      const teacherText = this.teacherText.as('float32');
      let image: Tensor | null = null;
      // the frozen CLIP: the same model without prompts (no hooks), no graph; computed once when a term asks.
      // Without vision prompts the image features are the frozen CLIP's already: detached, not computed again.
      const frozen = () => (this.visionPrompted ? noGrad(() => nn.l2normalize(this.model.encodeImage(images).as('float32'))) : img.detach());
      teacher = { text: teacherText, image: () => (image ??= frozen()) };
    }
    const terms = this.design.lossTerms!({ images, imageFeatures: img, textFeatures: text, logits, scale: this.scale, teacher });
    const guideName = this.design.gradientProjection?.guide;
    if (guideName !== undefined) {
      const guide = terms[guideName];
      if (!guide) throw new Error(`${this.method}: no loss term ${guideName} to guide the gradient projection`);
      const summed = Object.entries(terms).filter(([k]) => k !== guideName);
      const loss = summed.reduce((sum, [, t]) => sum.add(t), ce);
      return { logits, loss, guide, terms: { ce, ...terms, ...(summed.length ? { total: loss } : {}) } };
    }
    const total = Object.values(terms).reduce((sum, t) => sum.add(t), ce);
    return { logits, loss: total, terms: { ce, ...terms, total } };
  }

  /** Whether the plan puts prompts into the image encoder (else its features are the frozen CLIP's). */
  private get visionPrompted(): boolean {
    return this.plan.vision.shallow.length > 0 || this.plan.vision.steps.length > 0;
  }

  /** The frozen teacher's class text features (normalised), for tests and inspection; null without a teacher. */
  teacherTextFeatures(): Tensor | null {
    return this.teacherText;
  }
}

/** Concatenation along the token dimension, leaving out empty parts (SigLIP has no start token before the context). */
function catTokens(parts: Tensor[]): Tensor {
  return cat(parts.filter((t) => t.shape[1] > 0), 1);
}

/**
 * The fixed tokens of a method's text prompt around the learnable context, for layouts: the words after the
 * context (the rest of the template, a one-token class name, the full stop). Hand-crafted prompts count
 * their template's tokens.
 */
export function textWordsOf(design: MethodDesign, tokenizer: Tokenizer): { before: number; after: number } {
  const d = design.text;
  if (d.kind === 'none') return { before: 0, after: 0 };
  if (d.kind === 'fixed') return { before: tokenizer.encode(fill(design.options.template ?? DEFAULT_TEMPLATE, 'class')).length, after: 0 };
  return { before: 0, after: tokenizer.encode(`${d.promptPrefix} class.`).length - d.nCtx };
}

